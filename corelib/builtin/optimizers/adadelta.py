"""Adadelta, Keras 3's update rule."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.kernels import optim_more as _k
from corelib.optimizers import Optimizer
from corelib.validation import fraction, positive_number

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Per-entry step sizes from moving averages of squared gradients and squared updates:
    ag = rho * ag + (1 - rho) * g**2; delta = -sqrt(ad + epsilon) / sqrt(ag + epsilon) * g;
    ad = rho * ad + (1 - rho) * delta**2; p += learning_rate * delta.

    Args:
        learning_rate: float or schedule (0.001; Zeiler's paper and torch use 1.0).
        rho: decay of the moving averages (0.95).
        epsilon: added inside both square roots (1e-7).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, name (see `Optimizer`).
    """

    default_name = "adadelta"

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.95, epsilon: float = 1e-7, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = fraction(rho, "rho", "Adadelta")
        self.epsilon = positive_number(epsilon, "epsilon", "Adadelta", allow_zero=True)

    def slot_specs(self) -> tuple[tuple[str, float], ...]:
        return (("accumulated_grad", 0.0), ("accumulated_delta_var", 0.0))

    def step_scalars(self, lr: float) -> tuple:
        return (lr, self.rho, self.epsilon)

    def update(self, value: np.ndarray, grad: np.ndarray, slots: tuple, scalars: tuple) -> None:
        _k.adadelta(value, grad, slots[0], slots[1], *scalars)

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
