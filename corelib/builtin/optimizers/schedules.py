"""The built-in learning-rate schedules (Keras 3's), registered through `register_schedules`."""

from __future__ import annotations

import math
from typing import Sequence

from corelib.errors import ConfigError
from corelib.optimizers.schedules import LearningRateSchedule
from corelib.validation import positive_number

__all__ = ["ExponentialDecay", "CosineDecay", "InverseTimeDecay", "PiecewiseConstantDecay"]


class ExponentialDecay(LearningRateSchedule):
    """initial_learning_rate * decay_rate ** (step / decay_steps).

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: steps per factor of decay_rate.
        decay_rate: the factor.
        staircase: decay in whole steps of decay_steps (floor of the exponent).
        name: optional name.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "ExponentialDecay",
    ) -> None:
        cls = type(self).__name__
        self.initial_learning_rate = positive_number(initial_learning_rate, "initial_learning_rate", cls,
                                                     allow_zero=True, noun="number")
        self.decay_steps = positive_number(decay_steps, "decay_steps", cls, noun="number")
        self.decay_rate = positive_number(decay_rate, "decay_rate", cls, noun="number")
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step: int) -> float:
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate**p

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class InverseTimeDecay(ExponentialDecay):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps).

    Args: as `ExponentialDecay`.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False, name: str = "InverseTimeDecay") -> None:
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step: int) -> float:
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1.0 + self.decay_rate * p)


class CosineDecay(LearningRateSchedule):
    """Optional linear warm-up, then cosine decay to alpha * the peak rate.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: steps of the cosine decay (after warm-up).
        alpha: the final rate as a fraction of the peak (0.0).
        name: optional name.
        warmup_target: the peak reached after warm-up; None for no warm-up.
        warmup_steps: steps of linear warm-up from initial_learning_rate to warmup_target.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: int = 0,
    ) -> None:
        cls = type(self).__name__
        self.initial_learning_rate = positive_number(initial_learning_rate, "initial_learning_rate", cls,
                                                     allow_zero=True, noun="number")
        self.decay_steps = positive_number(decay_steps, "decay_steps", cls, noun="number")
        self.alpha = positive_number(alpha, "alpha", cls, allow_zero=True, noun="number")
        self.name = name
        self.warmup_target = None if warmup_target is None else positive_number(
            warmup_target, "warmup_target", cls, allow_zero=True, noun="number")
        self.warmup_steps = positive_number(warmup_steps, "warmup_steps", cls, allow_zero=True, noun="number")

    def _decayed(self, peak: float, step: float) -> float:
        fraction = min(step, self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1.0 + math.cos(math.pi * fraction))
        return peak * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step: int) -> float:
        if self.warmup_target is None:
            return self._decayed(self.initial_learning_rate, step)
        if step < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return self.initial_learning_rate + delta * step / self.warmup_steps
        return self._decayed(self.warmup_target, step - self.warmup_steps)

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[i] while step <= boundaries[i] (and values[-1] after the last boundary).

    Args:
        boundaries: increasing step numbers.
        values: one more rate than boundaries.
        name: optional name.
    """

    def __init__(self, boundaries: Sequence[int], values: Sequence[float], name: str = "PiecewiseConstant") -> None:
        self.boundaries = [float(b) for b in boundaries]
        self.values = [float(v) for v in values]
        if len(self.values) != len(self.boundaries) + 1:
            raise ConfigError(
                "PiecewiseConstantDecay: values must have one more entry than boundaries. "
                f"Received: {len(self.boundaries)} boundaries, {len(self.values)} values"
            )
        self.name = name

    def __call__(self, step: int) -> float:
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}
