"""Adamax: Adam with the infinity norm, Keras 3's update rule."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.kernels import optim_more as _k
from corelib.optimizers import Optimizer
from corelib.validation import fraction, positive_number

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """Adam with the infinity norm: m += (g - m) * (1 - beta_1); u = max(beta_2 * u, |g|);
    p -= lr * m / ((1 - beta_1**t) * (u + epsilon)).

    Args:
        learning_rate: float or schedule (0.001).
        beta_1: decay of the first moment (0.9).
        beta_2: decay of the exponentially weighted infinity norm (0.999).
        epsilon: added to u (1e-7; torch adds it inside the max instead, see docs/components.md).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, name (see `Optimizer`).
    """

    default_name = "adamax"

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = fraction(beta_1, "beta_1", "Adamax")
        self.beta_2 = fraction(beta_2, "beta_2", "Adamax")
        self.epsilon = positive_number(epsilon, "epsilon", "Adamax", allow_zero=True)

    def slot_specs(self) -> tuple[tuple[str, float], ...]:
        return (("m", 0.0), ("u", 0.0))

    def step_scalars(self, lr: float) -> tuple:
        t = self.iterations + 1
        return (lr / (1.0 - self.beta_1**t), self.beta_1, self.beta_2, self.epsilon)

    def update(self, value: np.ndarray, grad: np.ndarray, slots: tuple, scalars: tuple) -> None:
        _k.adamax(value, grad, slots[0], slots[1], *scalars)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
