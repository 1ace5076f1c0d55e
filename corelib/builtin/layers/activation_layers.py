"""Keras's activation layers: ReLU, LeakyReLU, PReLU, ELU and Softmax.

ReLU, LeakyReLU, ELU and Softmax are `Activation` layers with their own
arguments and config: each holds an activation object that the compiled
activation kernels compute where one fits (plain relu, leaky relu, elu,
softmax over one trailing axis), and vectorised NumPy otherwise. PReLU learns
its slope and has its own forward.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from corelib import activations
from corelib.builtin.activations import ELU as _EluFn
from corelib.builtin.activations import LeakyReLU as _LeakyFn
from corelib.builtin.layers.activation import Activation
from corelib.errors import ConfigError, ShapeError
from corelib.kernels import activations as _k
from corelib.layers.base import Layer, Shape
from corelib.layers.weight_options import set_weight_options, weight_options_config
from corelib.validation import positive_number

__all__ = ["ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"]


class _ThresholdedReLU(activations.Activation):
    """Keras's general relu: min(x, max_value) above `threshold`, negative_slope * (x - threshold) elsewhere."""

    name = "relu"
    needs_input = True

    def __init__(self, max_value: float | None, negative_slope: float, threshold: float) -> None:
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def forward(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        above = x if self.max_value is None else np.minimum(x, x.dtype.type(self.max_value))
        below = (x - x.dtype.type(self.threshold)) * x.dtype.type(self.negative_slope)
        np.copyto(out, np.where(x > self.threshold, above, below))
        return out

    def backward(self, x: np.ndarray, y: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        slope = np.where(x > self.threshold, 1.0, self.negative_slope).astype(dy.dtype)
        if self.max_value is not None:
            slope[x >= self.max_value] = 0
        np.multiply(dy, slope, out=dx)
        return dx


class _AxesSoftmax(activations.Activation):
    """Softmax over `axes` (sorted, non-negative): the kernel's last-axis softmax on a copy
    with those axes moved last and merged."""

    name = "softmax"
    needs_input = False

    def __init__(self, axes: tuple[int, ...]) -> None:
        self.axes = axes

    def _rows(self, a: np.ndarray) -> tuple[np.ndarray, tuple]:
        moved = np.moveaxis(a, self.axes, range(-len(self.axes), 0))
        rows = np.array(moved, order="C")  # a copy always: the kernel works in place on it
        return rows.reshape(-1, math.prod(moved.shape[-len(self.axes):])), moved.shape

    def _put(self, rows: np.ndarray, shape: tuple, out: np.ndarray) -> np.ndarray:
        np.copyto(np.moveaxis(out, self.axes, range(-len(self.axes), 0)), rows.reshape(shape))
        return out

    def forward(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        rows, shape = self._rows(x)
        return self._put(_k.forward("softmax", rows, rows), shape, out)

    def backward(self, x: np.ndarray, y: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        y_rows, shape = self._rows(y)
        dy_rows, _ = self._rows(dy)
        return self._put(_k.backward("softmax", None, y_rows, dy_rows, dy_rows), shape, dx)


class ReLU(Activation):
    """Rectified linear unit, with Keras's optional cap, threshold and leak.

    ``f(x) = min(x, max_value)`` for ``x > threshold``, and
    ``negative_slope * (x - threshold)`` otherwise; with the defaults,
    ``max(x, 0)``.

    Args:
        max_value: float >= 0, the largest output; None (the default): no cap.
        negative_slope: float >= 0, the slope below the threshold (0.0).
        threshold: float >= 0, where the unit switches on (0.0).
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        Any.

    Output shape:
        Same as the input.
    """

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__("relu", **kwargs)
        where = f"ReLU '{self.name}'"
        self.max_value = positive_number(max_value, "max_value", where, allow_zero=True, optional=True)
        self.negative_slope = positive_number(negative_slope, "negative_slope", where, allow_zero=True)
        self.threshold = positive_number(threshold, "threshold", where, allow_zero=True)
        if self.max_value is not None or self.threshold != 0.0:
            self.activation = _ThresholdedReLU(self.max_value, self.negative_slope, self.threshold)
        elif self.negative_slope:
            self.activation = _LeakyFn(self.negative_slope)

    def get_config(self) -> dict:
        return {**Layer.get_config(self), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(Activation):
    """Leaky rectified linear unit: ``f(x) = x`` for ``x >= 0``, ``negative_slope * x`` otherwise.

    Args:
        negative_slope: float >= 0, the slope for negative inputs (Keras's
            default 0.3; `alpha` is accepted with a warning, as in Keras).
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        Any.

    Output shape:
        Same as the input.
    """

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("LeakyReLU: argument `alpha` is deprecated. Use `negative_slope` instead.", stacklevel=2)
        super().__init__("leaky_relu", **kwargs)
        self.negative_slope = positive_number(negative_slope, "negative_slope", f"LeakyReLU '{self.name}'",
                                              allow_zero=True)
        self.activation = _LeakyFn(self.negative_slope)

    def get_config(self) -> dict:
        return {**Layer.get_config(self), "negative_slope": self.negative_slope}


class ELU(Activation):
    """Exponential linear unit: ``f(x) = x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise.

    Args:
        alpha: scale of the negative part (1.0).
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        Any.

    Output shape:
        Same as the input.
    """

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__("elu", **kwargs)
        try:
            self.alpha = float(alpha)
        except (TypeError, ValueError):
            raise ConfigError(f"ELU '{self.name}': alpha must be a float. Received: alpha={alpha!r}") from None
        self.activation = _EluFn(self.alpha)

    def get_config(self) -> dict:
        return {**Layer.get_config(self), "alpha": self.alpha}


class Softmax(Activation):
    """Softmax: ``exp(x) / sum(exp(x))`` over `axis`.

    Args:
        axis: the axis, or a list of axes normalized jointly (-1, the last,
            by default). The batch axis 0 is refused.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Unlike Keras, the call takes no `mask`.

    Input shape:
        Any, with `axis` among its axes.

    Output shape:
        Same as the input.
    """

    def __init__(self, axis: int | list[int] = -1, **kwargs: Any) -> None:
        super().__init__("softmax", **kwargs)
        listed = isinstance(axis, (list, tuple))
        axes = list(axis) if listed else [axis]
        if not axes or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
            raise ConfigError(f"Softmax '{self.name}': axis must be an int or a list of ints. Received: axis={axis!r}")
        self.axis: int | list[int] = [int(a) for a in axes] if listed else int(axes[0])

    def _axes(self, rank: int) -> tuple[int, ...]:
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        resolved = sorted({a + rank if a < 0 else a for a in axes})
        if len(resolved) != len(axes) or any(a <= 0 or a >= rank for a in resolved):
            raise ShapeError(f"Softmax '{self.name}': axis={self.axis!r} does not fit an input of rank {rank} "
                             "(axis 0 is the batch axis; each axis once)")
        return tuple(resolved)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self._axes(len(input_shape))
        return tuple(input_shape)

    def build(self, input_shape: Shape) -> None:
        axes = self._axes(len(input_shape))
        if axes != (len(input_shape) - 1,):
            self.activation = _AxesSoftmax(axes)

    def get_config(self) -> dict:
        return {**Layer.get_config(self), "axis": self.axis}


class PReLU(Layer):
    """Parametric ReLU: ``f(x) = x`` for ``x >= 0``, ``alpha * x`` otherwise, with a learned `alpha`.

    Args:
        alpha_initializer: initializer of alpha ("Zeros").
        alpha_regularizer: penalty on alpha, or None.
        alpha_constraint: only None (dl has no weight constraints).
        shared_axes: axes (1 = the first after the batch axis) along which
            one alpha is shared, e.g. [1, 2] for one slope per channel of a
            (batch, rows, cols, channels) input; None: one alpha per entry.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Weights: alpha, shaped like one sample with the shared axes set to 1.

    Input shape:
        Any, rank >= 2, with the axes not shared of known size.

    Output shape:
        Same as the input.
    """

    def __init__(self, alpha_initializer: Any = "Zeros", alpha_regularizer: Any = None, alpha_constraint: Any = None,
                 shared_axes: int | list[int] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        where = f"PReLU '{self.name}'"
        if alpha_constraint is not None:
            raise ConfigError(f"{where}: weight constraints are not supported; alpha_constraint must be None. "
                              f"Received: alpha_constraint={alpha_constraint!r}")
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
            if any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) or a < 1 for a in axes):
                raise ConfigError(f"{where}: shared_axes must be None, an int >= 1 or a list of such ints (axis 0 "
                                  f"is the batch axis). Received: shared_axes={shared_axes!r}")
            self.shared_axes = [int(a) for a in axes]
        set_weight_options(self, alpha_initializer=alpha_initializer, alpha_regularizer=alpha_regularizer)
        self.alpha = None

    def _alpha_shape(self, input_shape: Shape) -> tuple:
        input_shape = tuple(input_shape)
        shared = set(self.shared_axes or ())
        if len(input_shape) < 2 or any(a >= len(input_shape) for a in shared):
            raise ShapeError(f"PReLU '{self.name}' with shared_axes={self.shared_axes!r} expects an input of rank "
                             f">= {max(shared, default=0) + 1} and >= 2, received shape {input_shape}")
        shape = tuple(1 if a in shared else d for a, d in enumerate(input_shape) if a > 0)
        if None in shape:
            raise ShapeError(f"PReLU '{self.name}' needs the size of every axis not in shared_axes, "
                             f"received shape {input_shape}")
        return shape

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = self._alpha_shape(input_shape)
        if self.alpha is not None and self.alpha.value.shape != shape:
            raise ShapeError(f"PReLU '{self.name}' was built for alpha of shape {self.alpha.value.shape}, "
                             f"received shape {tuple(input_shape)}")
        return tuple(input_shape)

    def build(self, input_shape: Shape) -> None:
        self.alpha = self.add_weight("alpha", self._alpha_shape(input_shape), self.alpha_initializer,
                                     self.alpha_regularizer)

    def forward(self, x: np.ndarray, training: bool = False):
        alpha = self.alpha
        if x.dtype != alpha.value.dtype:
            x = x.astype(alpha.value.dtype)
        negative = x < 0
        y = np.where(negative, alpha.value * x, x)
        # alpha's gradient sums over the batch axis and over the shared axes (size 1 in alpha)
        summed = (0,) + tuple(a + 1 for a, d in enumerate(alpha.value.shape) if d == 1 and x.shape[a + 1] != 1)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            alpha.grad += np.sum(np.where(negative, x * dy, 0), axis=summed, keepdims=True)[0]
            if not need_input_grad:
                return None
            return np.where(negative, alpha.value * dy, dy)

        return y, backprop

    def get_config(self) -> dict:
        return {**super().get_config(), **weight_options_config(self), "alpha_constraint": None,
                "shared_axes": self.shared_axes}

