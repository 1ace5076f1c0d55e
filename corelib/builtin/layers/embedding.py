"""Embedding: integer indices to dense vectors, optionally masking index 0."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.errors import DataError
from corelib.layers.base import Layer, Shape
from corelib.layers.weight_options import set_weight_options, weight_options_config
from corelib.validation import positive_int

__all__ = ["Embedding"]


class Embedding(Layer):
    """Turns non-negative integer indices into dense vectors: ``embeddings[x]``.

    Args:
        input_dim: size of the vocabulary (largest index + 1).
        output_dim: size of each vector.
        embeddings_initializer: initializer of the (input_dim, output_dim) matrix
            ("random_uniform", Keras's "uniform" in [-0.05, 0.05]).
        embeddings_regularizer: penalty on the matrix, or None.
        mask_zero: index 0 is padding: the layer makes a mask (batch, ...) that is
            False where the input is 0, for the recurrent layers downstream
            (then input_dim must count index 0).
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, ...) integer indices (any numeric dtype holding integers).

    Output shape:
        (batch_size, ..., output_dim).
    """

    accepts_integer_input = True

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: Any = "random_uniform",
                 embeddings_regularizer: Any = None, mask_zero: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        where = f"Embedding '{self.name}'"
        self.input_dim = positive_int(input_dim, "input_dim", where)
        self.output_dim = positive_int(output_dim, "output_dim", where)
        set_weight_options(self, embeddings_initializer=embeddings_initializer,
                           embeddings_regularizer=embeddings_regularizer)
        self.mask_zero = bool(mask_zero)
        self.embeddings = None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape) + (self.output_dim,)

    def build(self, input_shape: Shape) -> None:
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer, self.embeddings_regularizer)

    def _indices(self, x: np.ndarray) -> np.ndarray:
        idx = x.astype(np.int64) if x.dtype.kind != "i" else x
        if idx.size and (idx.min() < 0 or idx.max() >= self.input_dim or (x.dtype.kind == "f" and np.any(idx != x))):
            bad = x[(idx < 0) | (idx >= self.input_dim) | (idx != x)].ravel()[0]
            raise DataError(
                f"Embedding '{self.name}' expects integer indices in [0, {self.input_dim}). Received: {bad!r}"
            )
        return idx

    def compute_mask(self, x: np.ndarray, mask: Any = None) -> np.ndarray | None:
        """False where the index is 0 (padding) when mask_zero, else no mask."""
        return np.asarray(x) != 0 if self.mask_zero else None

    def forward(self, x: np.ndarray, training: bool = False):
        idx = self._indices(np.asarray(x))
        table = self.embeddings
        y = table.value[idx]

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> None:
            # np.add.at accumulates repeated indices (a plain fancy-index += would not)
            np.add.at(table.grad, idx.ravel(), dy.reshape(-1, self.output_dim))
            return None  # indices have no gradient

        return y, backprop

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            **weight_options_config(self),
            "mask_zero": self.mask_zero,
        }
