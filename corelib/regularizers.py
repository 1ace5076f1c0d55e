"""Regularizers: the registry view and the Regularizer base class.

    from corelib import regularizers
    reg = regularizers.get("l2")          # L2(l2=0.01)
    penalty = reg(w)                      # a float added to the loss
    grad = reg.gradient(w)                # its gradient, added to the weight's

Layers attach them to their weights (`Parameter.regularizer`); the training
loop adds penalty and gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.registry import view as _view

__all__ = ["Regularizer", "get", "serialize", "deserialize"]

KIND = "regularizers"


class Regularizer:
    """Base class of weight penalties: ``reg(w) -> float``, ``reg.gradient(w) -> ndarray``."""

    def __call__(self, w: np.ndarray) -> float:
        raise NotImplementedError(f"{type(self).__name__} does not implement __call__()")

    def gradient(self, w: np.ndarray) -> np.ndarray:
        """d penalty / d w, a new array shaped like `w`."""
        raise NotImplementedError(f"{type(self).__name__} does not implement gradient()")

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Regularizer":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def get(identifier: Any) -> Regularizer | None:
    """A Regularizer from a name, a {"class_name", "config"} dict or an instance; None stays None."""
    if identifier is None:
        return None
    return _view.resolve(KIND, identifier, Regularizer, "regularizer")


def serialize(regularizer: Regularizer | None) -> dict | None:
    """{"class_name": registered name, "config": {...}}, or None."""
    return None if regularizer is None else _view.serialize(KIND, regularizer)


def deserialize(config: dict | str | None) -> Regularizer | None:
    """Inverse of `serialize`."""
    return get(config)


def __getattr__(name: str) -> Any:
    return _view.module_getattr(KIND, __name__, name)
