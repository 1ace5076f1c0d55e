"""Adagrad, Keras 3's update rule."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.kernels import optim as _k
from corelib.optimizers import Optimizer
from corelib.validation import positive_number

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Per-entry learning rates from the sum of squared gradients:
    acc += g**2; p -= lr * g / sqrt(acc + epsilon).

    Args:
        learning_rate: float or schedule (0.001).
        initial_accumulator_value: starting value of acc (0.1).
        epsilon: added inside the square root (1e-7).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, name (see `Optimizer`).
    """

    default_name = "adagrad"

    def __init__(
        self,
        learning_rate: Any = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value = positive_number(initial_accumulator_value, "initial_accumulator_value",
                                                         "Adagrad", allow_zero=True)
        self.epsilon = positive_number(epsilon, "epsilon", "Adagrad", allow_zero=True)

    def slot_specs(self) -> tuple[tuple[str, float], ...]:
        return (("accumulator", self.initial_accumulator_value),)

    def step_scalars(self, lr: float) -> tuple:
        return (lr, self.epsilon)

    def update(self, value: np.ndarray, grad: np.ndarray, slots: tuple, scalars: tuple) -> None:
        _k.adagrad(value, grad, slots[0], *scalars)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }
