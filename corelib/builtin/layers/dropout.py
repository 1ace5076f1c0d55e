"""Dropout: zero a random fraction of the input while training."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from corelib.builtin.layers._common import identity_backprop
from corelib.builtin.layers._seeded import SeededGenerator
from corelib.layers.workspace import Workspaces
from corelib.errors import ShapeError
from corelib.layers.base import Layer
from corelib.validation import fraction, positive_int, shape

__all__ = ["Dropout"]


class Dropout(SeededGenerator, Layer):
    """Sets each input entry to 0 with probability `rate` while training, scaling
    the kept ones by 1 / (1 - rate) so the expected sum is unchanged (inverted
    dropout). At inference it is the identity.

    Args:
        rate: fraction of entries to drop, in [0, 1).
        noise_shape: shape of the keep/drop mask, broadcast against the input;
            None entries take the input's size: ``(None, 1, features)`` drops
            whole features for every time step.
        seed: a non-negative int gives this layer its own generator; None draws from
            `corelib.config.rng()` (repeatable with `corelib.set_seed`).
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        Any.

    Output shape:
        Same as the input.
    """

    def __init__(self, rate: float, noise_shape: Sequence[int | None] | None = None,
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        where = f"{type(self).__name__} '{self.name}'"
        self.rate = fraction(rate, "rate", where)
        self.noise_shape = None if noise_shape is None else shape(noise_shape, "noise_shape", where)
        self.seed = None if seed is None else positive_int(seed, "seed", where, allow_zero=True)
        self._ws = Workspaces()

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        if self.noise_shape is not None:
            ok = len(self.noise_shape) == len(input_shape) and all(
                n is None or n == 1 or d is None or n == d for n, d in zip(self.noise_shape, input_shape)
            )
            if not ok:
                raise ShapeError(
                    f"Dropout '{self.name}' has noise_shape {self.noise_shape}, which does not broadcast "
                    f"to the input; received shape {input_shape}"
                )
        return input_shape

    def forward(self, x: np.ndarray, training: bool = False):
        if not training or self.rate == 0.0:
            return x, identity_backprop
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(self.dtype)
        shape = x.shape
        mask_shape = shape if self.noise_shape is None else tuple(
            d if n is None else n for n, d in zip(self.noise_shape, shape)
        )
        slot = self._ws.acquire()
        mask = self.buffer(("mask", slot), mask_shape, dtype)
        keep = self.buffer(("keep", slot), mask_shape, np.bool_)
        self.generator().random(out=mask, dtype=dtype)
        np.greater_equal(mask, self.rate, out=keep)
        np.multiply(keep, 1.0 / (1.0 - self.rate), out=mask)  # the kept entries' scale, 0 elsewhere
        y = np.multiply(x, mask, out=self.buffer(("y", slot), shape, dtype))

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            if not need_input_grad:
                return None
            return np.multiply(dy, mask, out=self.buffer(("dx", slot), shape, dtype))

        self._ws.bind(slot, backprop)
        return y, backprop

    def get_config(self) -> dict:
        cfg = {**super().get_config(), "rate": self.rate, "seed": self.seed}
        cfg["noise_shape"] = None if self.noise_shape is None else list(self.noise_shape)
        return cfg
