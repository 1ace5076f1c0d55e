"""Activation: applies an activation function as a layer of its own."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib import activations
from corelib.layers.workspace import Workspaces
from corelib.layers.base import Layer

__all__ = ["Activation"]


class Activation(Layer):
    """Applies `activation` to its input.

    Args:
        activation: a registered activation name ("relu") or Activation object.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        Any; softmax acts on the last axis.

    Output shape:
        Same as the input.
    """

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation if activation is not None else "linear")
        self._ws = Workspaces()

    def forward(self, x: np.ndarray, training: bool = False):
        act = self.activation
        dtype = np.dtype(self.dtype)
        if x.dtype != dtype:
            x = x.astype(dtype)
        shape = x.shape
        if training:
            slot = self._ws.acquire()
            y = act.forward(x, self.buffer(("y", slot), shape, dtype))
        else:
            slot = -1
            y = act.forward(x, np.empty(shape, dtype))

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            if not need_input_grad:
                return None
            dx = self.buffer(("dx", slot), shape, dtype) if training else np.empty(shape, dtype)
            return act.backward(x, y, dy, dx)

        if training:
            self._ws.bind(slot, backprop)
        return y, backprop

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}
