"""TimeDistributed: applies a layer to every time step (one batched call)."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.builtin.layers._common import check_rank
from corelib.errors import ConfigError
from corelib.layers.base import Layer, Shape

__all__ = ["TimeDistributed"]


def _inner_layer(owner: str, layer: Any) -> Layer:
    from corelib import layers  # the registry view; imported late on purpose

    if isinstance(layer, dict):
        layer = layers.deserialize(layer)
    if not isinstance(layer, Layer):
        raise ConfigError(f"{owner}: layer must be a Layer instance. Received: layer={layer!r}")
    return layer


class TimeDistributed(Layer):
    """Applies `layer` to each step of a sequence, as one call on (batch * time, ...).

    Args:
        layer: the Layer to apply (one input, one output), or its serialized dict.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, timesteps, ...).

    Output shape:
        (batch_size, timesteps) + the layer's output shape for (...).
    """

    supports_masking = True

    def __init__(self, layer: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layer = _inner_layer(f"TimeDistributed '{self.name}'", layer)
        if self._dtype is not None:  # the wrapper's dtype rules its inner layer
            self.layer._dtype = self._dtype

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        input_shape = check_rank(self, input_shape, 3, "(batch, timesteps, ...)", at_least=True)
        inner = self.layer.compute_output_shape((None,) + input_shape[2:])
        return input_shape[:2] + tuple(inner)[1:]

    def build(self, input_shape: Shape) -> None:
        self.layer.ensure_built((None,) + tuple(input_shape)[2:])
        self._params = self.layer._params

    def forward(self, x: np.ndarray, training: bool = False):
        B, T = x.shape[:2]
        y, inner_backprop = self.layer.forward(x.reshape((B * T,) + x.shape[2:]), training)
        out = y.reshape((B, T) + y.shape[1:])

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            dx = inner_backprop(dy.reshape((B * T,) + dy.shape[2:]), need_input_grad=need_input_grad)
            return None if dx is None else dx.reshape(x.shape)

        return out, backprop

    def get_config(self) -> dict:
        from corelib import layers

        return {**super().get_config(), "layer": layers.serialize(self.layer)}
