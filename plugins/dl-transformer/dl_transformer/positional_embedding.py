"""PositionalEmbedding: a learned vector per position, added to the sequence."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib import Layer, ShapeError
from corelib.layers.base import Shape
from corelib.layers.weight_options import set_weight_options, weight_options_config
from corelib.validation import positive_int

__all__ = ["PositionalEmbedding"]


class PositionalEmbedding(Layer):
    """Adds a learned embedding of each position to the input:
    ``y[:, t] = x[:, t] + embeddings[t]`` (as keras_hub's TokenAndPositionEmbedding
    does for its position part), so attention, which ignores order, can tell
    positions apart.

    Args:
        sequence_length: the longest sequence the layer accepts; shorter ones
            use the first positions' embeddings.
        initializer: initializer of the embeddings ("glorot_uniform").
        embeddings_regularizer: penalty on the embeddings, or None.
        **kwargs: name, input_shape, dtype, trainable (see `corelib.Layer`).

    Input shape:
        (batch_size, steps, features) with steps <= sequence_length.

    Output shape:
        Same as the input.
    """

    def __init__(self, sequence_length: int, initializer: Any = "glorot_uniform",
                 embeddings_regularizer: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sequence_length = positive_int(sequence_length, "sequence_length", f"PositionalEmbedding '{self.name}'")
        set_weight_options(self, initializer=initializer, embeddings_regularizer=embeddings_regularizer)
        self.embeddings = None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ShapeError(f"PositionalEmbedding '{self.name}' expects an input (batch_size, steps, features) "
                             f"with known features; received shape {input_shape}")
        steps = input_shape[1]
        if steps is not None and steps > self.sequence_length:
            raise ShapeError(f"PositionalEmbedding '{self.name}' has sequence_length={self.sequence_length}; "
                             f"received {steps} steps in shape {input_shape}")
        if self.embeddings is not None and input_shape[-1] != self.embeddings.value.shape[1]:
            raise ShapeError(f"PositionalEmbedding '{self.name}' expects {self.embeddings.value.shape[1]} features; "
                             f"received shape {input_shape}")
        return input_shape

    def build(self, input_shape: Shape) -> None:
        self.embeddings = self.add_weight("embeddings", (self.sequence_length, int(input_shape[-1])),
                                          self.initializer, self.embeddings_regularizer)

    def forward(self, x: np.ndarray, training: bool = False):
        steps = x.shape[1]
        if steps > self.sequence_length:
            raise ShapeError(f"PositionalEmbedding '{self.name}' has sequence_length={self.sequence_length}; "
                             f"received {steps} steps in an input of shape {x.shape}")
        embeddings = self.embeddings
        y = x + embeddings.value[:steps]

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            embeddings.grad[:steps] += dy.sum(axis=0)
            return dy if need_input_grad else None

        return y, backprop

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "sequence_length": self.sequence_length,
            **weight_options_config(self),
        }
