"""Initializers: the registry view and the Initializer base class.

    from corelib import initializers
    init = initializers.get("glorot_uniform")
    w = init((784, 32), "float32")

Every random draw comes from `corelib.config.rng()` (or from a generator
seeded with the initializer's own `seed`), so `corelib.set_seed` makes
weights repeatable.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from corelib import config
from corelib.registry import view as _view

__all__ = ["Initializer", "compute_fans", "get", "serialize", "deserialize"]

KIND = "initializers"


def compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """Keras's (fan_in, fan_out) for a weight shape.

    Dense kernels (in, out) give (in, out); convolution kernels
    (*spatial, in, out) multiply both by the receptive field size.
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class of initializers: ``init(shape, dtype) -> ndarray``.

    Args:
        seed: an int makes this initializer draw from its own generator seeded
            with it (repeatable regardless of other draws); ``None`` draws from
            `corelib.config.rng()`.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = None if seed is None else int(seed)
        self._rng: np.random.Generator | None = None

    def rng(self) -> np.random.Generator:
        """The generator this initializer draws from."""
        if self.seed is None:
            return config.rng()
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        return self._rng

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        """A new array of `shape` and `dtype` (default: `corelib.floatx()`)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement __call__()")

    def get_config(self) -> dict:
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config: dict) -> "Initializer":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def get(identifier: Any) -> Initializer:
    """An Initializer from a name, a {"class_name", "config"} dict or an instance."""
    return _view.resolve(KIND, identifier, Initializer, "initializer")


def serialize(initializer: Initializer) -> dict:
    """{"class_name": registered name, "config": {...}}."""
    return _view.serialize(KIND, initializer)


def deserialize(config: dict | str) -> Initializer:
    """Inverse of `serialize`."""
    return get(config)


def __getattr__(name: str) -> Any:
    return _view.module_getattr(KIND, __name__, name)
