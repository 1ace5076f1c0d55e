"""Optimizers: the registry view and the Optimizer base class.

    from corelib import optimizers
    opt = optimizers.get("adam")                  # Adam()
    opt = optimizers.Adam(learning_rate=optimizers.schedules.CosineDecay(1e-3, 1000))
    opt.apply(model_params)                       # one step, from each p.grad

`corelib.optimizers.schedules` holds the learning-rate schedules.
"""

from __future__ import annotations

from typing import Any

from corelib.registry import view as _view
from corelib.optimizers import schedules
from corelib.optimizers.base import Optimizer

__all__ = ["Optimizer", "schedules", "get", "serialize", "deserialize"]

KIND = "optimizers"


def get(identifier: Any) -> Optimizer:
    """An Optimizer from a registered name ("adam", "SGD"), a {"class_name", "config"}
    dict or an instance (returned as is)."""
    return _view.resolve(KIND, identifier, Optimizer, "optimizer")


def serialize(optimizer: Optimizer) -> dict:
    """{"class_name": registered name, "config": {...}}."""
    return _view.serialize(KIND, optimizer)


def deserialize(config: dict | str) -> Optimizer:
    """Inverse of `serialize`."""
    return get(config)


def __getattr__(name: str) -> Any:
    return _view.module_getattr(KIND, __name__, name)
