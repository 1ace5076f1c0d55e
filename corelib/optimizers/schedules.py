"""Learning-rate schedules (Keras's `keras.optimizers.schedules`): the base class and the registry view.

    from corelib.optimizers.schedules import ExponentialDecay
    opt = corelib.optimizers.get("sgd")
    opt.learning_rate = ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.9)

Schedules are registered through the ``register_schedules`` hook like every
other component, so a plugin's schedule is saved and loaded by name too.
"""

from __future__ import annotations

from typing import Any

from corelib.errors import ConfigError
from corelib.registry import view as _view

__all__ = ["LearningRateSchedule", "get", "serialize", "deserialize"]

KIND = "schedules"


class LearningRateSchedule:
    """Base class: ``schedule(step) -> learning rate``; JSON-safe `get_config`."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError(f"{type(self).__name__} does not implement __call__()")

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "LearningRateSchedule":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def get(identifier: Any) -> LearningRateSchedule:
    """A schedule from a registered name with its config dict, or an instance (returned as is)."""
    return _view.resolve(KIND, identifier, LearningRateSchedule, "learning-rate schedule")


def serialize(schedule: LearningRateSchedule) -> dict:
    """{"class_name": registered name, "config": {...}} for a schedule."""
    if not isinstance(schedule, LearningRateSchedule):
        raise ConfigError(
            f"Only LearningRateSchedule objects can be saved in a config. Received: learning_rate={schedule!r}"
        )
    return _view.serialize(KIND, schedule)


def deserialize(config: dict) -> LearningRateSchedule:
    """Inverse of `serialize`: the class is looked up in the registry by its registered name."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ConfigError(f"A learning-rate schedule config needs 'class_name' and 'config'. Received: {config!r}")
    return get(config)


def __getattr__(name: str) -> Any:
    return _view.module_getattr(KIND, __name__, name)
