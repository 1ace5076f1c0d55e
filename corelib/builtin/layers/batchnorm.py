"""BatchNormalization: normalize each channel with batch statistics while
training and with moving statistics at inference, as Keras does."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.layers.workspace import Workspaces
from corelib.errors import ConfigError, ShapeError
from corelib.kernels import batchnorm as _k
from corelib.layers.base import Layer, Shape
from corelib.layers.weight_options import set_weight_options, weight_options_config

__all__ = ["BatchNormalization"]


def _number(value: Any, name: str, where: str, low: float, high: float | None) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if isinstance(value, bool) or not (v >= low and (high is None or v <= high)):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ConfigError(f"{where}: {name} must be a float {bound}. Received: {name}={value!r}")
    return v


class BatchNormalization(Layer):
    """Normalizes each entry of `axis` to zero mean and unit variance, then
    scales by gamma and shifts by beta.

    While training (``fit``), the statistics are the batch's mean and
    (biased) variance over every other axis, and the moving statistics are
    updated: ``moving = moving * momentum + batch * (1 - momentum)``. At
    inference (``predict``, ``evaluate``) the moving statistics are used. A
    layer with ``trainable=False`` runs in inference mode even while
    training, as in Keras (the usual fine-tuning setting).

    Args:
        axis: the channel axis (-1, the default, for channels last; 1 for
            channels first). An int, or a list holding one int.
        momentum: of the moving statistics, in [0, 1] (0.99).
        epsilon: added to the variance before the square root (1e-3).
        center: learn the offset beta.
        scale: learn the scale gamma.
        beta_initializer, gamma_initializer: "zeros" and "ones".
        moving_mean_initializer, moving_variance_initializer: "zeros" and "ones".
        beta_regularizer, gamma_regularizer: penalties, or None.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Weights, in Keras's order: gamma (if scale), beta (if center),
    moving_mean, moving_variance, each of shape (channels,); the last two
    are non-trainable (``model.summary()`` counts them apart).

    Input shape:
        Any, rank >= 2, with `axis` of known size.

    Output shape:
        Same as the input.
    """

    def __init__(
        self,
        axis: int | list = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        where = f"BatchNormalization '{self.name}'"
        ax = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
        if isinstance(ax, bool) or not isinstance(ax, (int, np.integer)):
            raise ConfigError(f"{where}: axis must be an int (or a list of one int). Received: axis={axis!r}")
        self.axis = int(ax)
        self.momentum = _number(momentum, "momentum", where, 0.0, 1.0)
        self.epsilon = _number(epsilon, "epsilon", where, 0.0, None)
        self.center = bool(center)
        self.scale = bool(scale)
        set_weight_options(self, beta_initializer=beta_initializer, gamma_initializer=gamma_initializer,
                           moving_mean_initializer=moving_mean_initializer,
                           moving_variance_initializer=moving_variance_initializer,
                           beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None
        self._ws = Workspaces()

    def _channel_axis(self, shape: tuple) -> int:
        if len(shape) < 2 or not -len(shape) <= self.axis < len(shape) or self.axis % len(shape) == 0:
            raise ShapeError(
                f"BatchNormalization '{self.name}' has axis={self.axis}, which must be a non-batch axis "
                f"of the input; received shape {shape}"
            )
        return self.axis % len(shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = tuple(input_shape)
        ax = self._channel_axis(shape)
        channels = shape[ax]
        where = f"BatchNormalization '{self.name}'"
        if channels is None:
            raise ShapeError(f"{where} expects axis {self.axis} of its input to be known, received shape {shape}")
        if self.moving_mean is not None and channels != self.moving_mean.value.shape[0]:
            raise ShapeError(
                f"{where} expects {self.moving_mean.value.shape[0]} entries on axis {self.axis}, "
                f"received shape {shape}"
            )
        return shape

    def build(self, input_shape: Shape) -> None:
        shape = tuple(input_shape)
        c = (int(shape[self._channel_axis(shape)]),)
        if self.scale:
            self.gamma = self.add_weight("gamma", c, self.gamma_initializer, self.gamma_regularizer)
        if self.center:
            self.beta = self.add_weight("beta", c, self.beta_initializer, self.beta_regularizer)
        self.moving_mean = self.add_weight("moving_mean", c, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", c, self.moving_variance_initializer,
                                               trainable=False)

    def forward(self, x: np.ndarray, training: bool = False):
        gamma, beta, eps, axis = self.gamma, self.beta, self.epsilon, self.axis
        dtype = self.moving_mean.value.dtype
        if x.dtype != dtype:
            x = x.astype(dtype)
        training = bool(training) and self.trainable
        c = self.moving_mean.value.shape[0]
        g = None if gamma is None else gamma.value
        b = None if beta is None else beta.value
        if training:
            slot = self._ws.acquire()
            y = self.buffer(("y", slot), x.shape, dtype)
            mean = self.buffer(("mean", slot), (c,), dtype)
            var = self.buffer(("var", slot), (c,), dtype)
            _k.batch_norm_forward(x, g, b, mean, var, y, eps, True, axis)
            keep = self.momentum
            for moving, batch in ((self.moving_mean.value, mean), (self.moving_variance.value, var)):
                moving *= keep
                moving += (1.0 - keep) * batch
        else:
            slot = -1
            y = np.empty(x.shape, dtype)
            # copies: a later training step must not change what this backprop uses
            mean, var = self.moving_mean.value.copy(), self.moving_variance.value.copy()
            _k.batch_norm_forward(x, g, b, mean, var, y, eps, False, axis)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            dx = None
            if need_input_grad:
                dx = self.buffer(("dx", slot), x.shape, dtype) if training else np.empty(x.shape, dtype)
            _k.batch_norm_backward(x, dy, g, mean, var, dx, None if gamma is None else gamma.grad,
                                   None if beta is None else beta.grad, eps, training, axis)
            return dx

        if training:
            self._ws.bind(slot, backprop)
        return y, backprop

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            **weight_options_config(self),
        }
