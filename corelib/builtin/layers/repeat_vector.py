"""RepeatVector: (batch, features) -> (batch, n, features)."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.builtin.layers._common import check_output_size, check_rank
from corelib.layers.base import Layer, Shape
from corelib.validation import MAX_SIZE, positive_int

__all__ = ["RepeatVector"]


class RepeatVector(Layer):
    """Repeats the input n times along a new time axis (e.g. to feed a decoder RNN).

    Args:
        n: number of repetitions (a positive int, at most 2**31 - 1; one sample's output must fit in memory).
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, features).

    Output shape:
        (batch_size, n, features).
    """

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n = positive_int(n, "n", f"RepeatVector '{self.name}'", maximum=MAX_SIZE)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        check_rank(self, input_shape, 2, "(batch, features)")
        return check_output_size(self, (input_shape[0], self.n, input_shape[1]))

    def forward(self, x: np.ndarray, training: bool = False):
        y = np.repeat(x[:, None, :], self.n, axis=1)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            return dy.sum(axis=1) if need_input_grad else None

        return y, backprop

    def get_config(self) -> dict:
        return {**super().get_config(), "n": self.n}
