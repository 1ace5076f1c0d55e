"""LayerNormalization: normalize each sample over its feature axes (Keras's arguments)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from corelib.errors import ConfigError, ShapeError
from corelib.layers.base import Layer, Shape
from corelib.layers.weight_options import set_weight_options, weight_options_config

__all__ = ["LayerNormalization"]


class LayerNormalization(Layer):
    """Normalizes each sample to mean 0 and variance 1 over `axis`, then scales
    by ``gamma`` and shifts by ``beta`` (Ba et al., 2016).

    ``y = (x - mean) / sqrt(var + epsilon) * gamma + beta``, with the mean and
    variance taken per sample over `axis`. With ``rms_scaling=True`` the mean
    is not subtracted and ``beta`` is not used:
    ``y = x / sqrt(mean(x**2) + epsilon) * gamma``.

    Args:
        axis: the axis or axes to normalize over (not the batch axis 0); -1,
            the features, by default.
        epsilon: added to the variance (Keras's default 1e-3).
        center: whether to add the learned offset ``beta``.
        scale: whether to multiply by the learned ``gamma``.
        rms_scaling: root-mean-square scaling instead (no centering, no beta).
        beta_initializer: initializer of beta ("zeros").
        gamma_initializer: initializer of gamma ("ones").
        beta_regularizer: penalty on beta, or None.
        gamma_regularizer: penalty on gamma, or None.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        Any rank >= 2, batch first; the normalized axes must be known.

    Output shape:
        Same as the input.
    """

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        rms_scaling: bool = False,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis) if isinstance(axis, (list, tuple)) else None
        if not axes or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
            raise ConfigError(f"LayerNormalization '{self.name}': axis must be an int or a list of ints. Received: axis={axis!r}")
        self.axis = int(axes[0]) if isinstance(axis, (int, np.integer)) else [int(a) for a in axes]
        if not float(epsilon) > 0:
            raise ConfigError(f"LayerNormalization '{self.name}': epsilon must be positive. Received: epsilon={epsilon!r}")
        self.epsilon = float(epsilon)
        self.rms_scaling = bool(rms_scaling)
        self.center = bool(center) and not self.rms_scaling
        self.scale = bool(scale) or self.rms_scaling
        set_weight_options(self, beta_initializer=beta_initializer, gamma_initializer=gamma_initializer,
                           beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer)
        self.gamma = None
        self.beta = None

    def _axes(self, rank: int) -> tuple[int, ...]:
        axes = [self.axis] if isinstance(self.axis, int) else self.axis
        resolved = sorted({a + rank if a < 0 else a for a in axes})
        if any(a <= 0 or a >= rank for a in resolved):
            raise ShapeError(
                f"LayerNormalization '{self.name}': axis={self.axis!r} does not fit an input of rank {rank} "
                "(axis 0 is the batch axis)"
            )
        return tuple(resolved)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        input_shape = tuple(input_shape)
        dims = tuple(input_shape[a] for a in self._axes(len(input_shape)))
        if None in dims:
            raise ShapeError(
                f"LayerNormalization '{self.name}' normalizes over axis {self.axis!r}, whose size must be "
                f"known; received shape {input_shape}"
            )
        built = next((p.value.shape for p in (self.gamma, self.beta) if p is not None), None)
        if built is not None and dims != built:
            raise ShapeError(f"LayerNormalization '{self.name}' was built for normalized dimensions {built}, "
                             f"received shape {input_shape}")
        return input_shape

    def build(self, input_shape: Shape) -> None:
        shape = tuple(int(input_shape[a]) for a in self._axes(len(input_shape)))
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer)

    def forward(self, x: np.ndarray, training: bool = False):
        axes = self._axes(x.ndim)
        others = tuple(a for a in range(x.ndim) if a not in axes)
        param_shape = tuple(x.shape[a] if a in axes else 1 for a in range(x.ndim))
        gamma = None if self.gamma is None else self.gamma.value.reshape(param_shape)
        beta = None if self.beta is None else self.beta.value.reshape(param_shape)
        centred = x if self.rms_scaling else x - x.mean(axis=axes, keepdims=True)
        rstd = 1.0 / np.sqrt(np.mean(centred * centred, axis=axes, keepdims=True) + self.epsilon)
        normed = centred * rstd
        y = normed * gamma if gamma is not None else normed.copy()
        if beta is not None:
            y += beta

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            if self.gamma is not None:
                self.gamma.grad += np.sum(dy * normed, axis=others).reshape(self.gamma.grad.shape)
            if self.beta is not None:
                self.beta.grad += np.sum(dy, axis=others).reshape(self.beta.grad.shape)
            if not need_input_grad:
                return None
            g = dy * gamma if gamma is not None else dy
            projection = np.mean(g * normed, axis=axes, keepdims=True)
            if self.rms_scaling:
                return rstd * (g - normed * projection)
            return rstd * (g - np.mean(g, axis=axes, keepdims=True) - normed * projection)

        return y, backprop

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "rms_scaling": self.rms_scaling,
            **weight_options_config(self),
        }
