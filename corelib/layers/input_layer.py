"""InputLayer and `Input`: the entry points of a layer graph (Keras's `keras.Input`)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from corelib.errors import ConfigError
from corelib.layers.base import Layer
from corelib.layers.symbolic import Node, SymbolicTensor

__all__ = ["Input", "InputLayer", "input_tensor", "is_input_node"]


class InputLayer(Layer):
    """The entry point of a graph: holds the shape of one model input.

    Args:
        shape: one sample's shape, without the batch axis.
        batch_size: optional fixed batch size.
        name, dtype: as for every layer.
    """

    def __init__(self, shape: Sequence[int | None] | None = None, batch_size: int | None = None,
                 **kwargs: Any) -> None:
        if shape is None and "batch_input_shape" not in kwargs and "input_shape" not in kwargs:
            raise ConfigError("Input needs a shape: Input(shape=(784,))")
        if shape is not None:
            kwargs["input_shape"] = shape
        super().__init__(batch_size=batch_size, **kwargs)
        self.ensure_built(self.batch_input_shape)

    def forward(self, x: np.ndarray, training: bool = False):
        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            return dy if need_input_grad else None

        return x, backprop

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.pop("trainable", None)
        return cfg


def Input(shape: Sequence[int | None] | None = None, batch_size: int | None = None, name: str | None = None,
          dtype: str | None = None, batch_shape: Sequence[int | None] | None = None) -> SymbolicTensor:
    """A symbolic model input: ``x = Input(shape=(784,))`` as in Keras."""
    if batch_shape is not None:
        layer = InputLayer(batch_input_shape=tuple(batch_shape), name=name, dtype=dtype)
    else:
        layer = InputLayer(shape=shape, batch_size=batch_size, name=name, dtype=dtype)
    return input_tensor(layer)


def input_tensor(layer: InputLayer) -> SymbolicTensor:
    """The symbolic tensor `layer` produces (a model input)."""
    node = Node(layer, [], False)
    node.outputs = [SymbolicTensor(layer.output_shape, layer.dtype, node, 0)]
    return node.outputs[0]


def is_input_node(node: Node) -> bool:
    return isinstance(node.layer, InputLayer) and not node.inputs
