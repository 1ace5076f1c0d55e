"""InputLayer and `Input`: the entry points of a layer graph (Keras's `keras.Input`)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from corelib.errors import ConfigError
from corelib.layers.base import Layer
from corelib.layers.symbolic import Node, SymbolicTensor

__all__ = ["Input", "InputLayer", "input_tensor", "is_input_node"]


_INTEGER_DTYPES = ("int32", "int64")


class InputLayer(Layer):
    """The entry point of a graph: holds the shape and dtype of one model input.

    Args:
        shape: one sample's shape, without the batch axis.
        batch_size: optional fixed batch size.
        dtype: "float32" / "float64", or "int32" / "int64" for integer ids (which only an
            Embedding, or another layer that takes integers, may read).
        batch_shape: the shape with the batch axis (instead of `shape` and `batch_size`).
        name: as for every layer.
    """

    accepts_integer_input = True

    def __init__(self, shape: Sequence[int | None] | None = None, batch_size: int | None = None,
                 dtype: str | None = None, batch_shape: Sequence[int | None] | None = None,
                 **kwargs: Any) -> None:
        if batch_shape is not None:
            kwargs["batch_input_shape"] = batch_shape  # checked by Layer: a string is no shape
        if shape is None and "batch_input_shape" not in kwargs and "input_shape" not in kwargs:
            raise ConfigError("Input needs a shape: Input(shape=(784,))")
        if shape is not None:
            kwargs["input_shape"] = shape
        integer = None
        if dtype is not None:
            try:
                name = np.dtype(dtype).name
            except TypeError:
                raise ConfigError(f"Input: unknown dtype {dtype!r}") from None
            if name in _INTEGER_DTYPES:
                integer, dtype = name, None
            elif name not in ("float32", "float64"):
                raise ConfigError(f"Input: dtype must be float32, float64, int32 or int64. Received: dtype={dtype!r}")
        super().__init__(batch_size=batch_size, dtype=dtype, **kwargs)
        self._integer_dtype = integer
        self.ensure_built(self.batch_input_shape)

    @property
    def dtype(self) -> str:
        return self._integer_dtype or super().dtype

    @property
    def is_integer(self) -> bool:
        """Whether this input carries integer ids (kept exact, never cast to float)."""
        return self._integer_dtype is not None

    def forward(self, x: np.ndarray, training: bool = False):
        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            return dy if need_input_grad else None

        return x, backprop

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.pop("trainable", None)
        cfg["dtype"] = self.dtype
        return cfg


def Input(shape: Sequence[int | None] | None = None, batch_size: int | None = None, name: str | None = None,
          dtype: str | None = None, batch_shape: Sequence[int | None] | None = None) -> SymbolicTensor:
    """A symbolic model input: ``x = Input(shape=(784,))`` as in Keras; ``Input(shape=(None,),
    dtype="int32")`` for integer ids, which reach an Embedding exactly."""
    if batch_shape is not None:
        layer = InputLayer(batch_shape=batch_shape, name=name, dtype=dtype)
    else:
        layer = InputLayer(shape=shape, batch_size=batch_size, name=name, dtype=dtype)
    return input_tensor(layer)


def input_tensor(layer: InputLayer) -> SymbolicTensor:
    """The symbolic tensor `layer` produces (a model input)."""
    node = Node(layer, [], False)
    node.outputs = [SymbolicTensor(layer.output_shape, layer.dtype, node, 0)]
    layer._inbound_nodes.append(node)
    return node.outputs[0]


def is_input_node(node: Node) -> bool:
    return isinstance(node.layer, InputLayer) and not node.inputs
