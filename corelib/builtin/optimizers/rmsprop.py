"""RMSprop, Keras 3's update rule (epsilon inside the square root)."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.kernels import optim as _k
from corelib.optimizers import Optimizer
from corelib.validation import fraction, positive_number

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """Divide the gradient by a moving root mean square of recent gradients.

    velocity = rho * velocity + (1 - rho) * g**2;
    p -= lr * g / sqrt(velocity + epsilon) (centered: velocity - mean(g)**2 + epsilon),
    through a momentum buffer when momentum > 0.

    Args:
        learning_rate: float or schedule (0.001).
        rho: decay of the moving average (0.9).
        momentum: momentum of the increments (0.0).
        epsilon: added inside the square root (1e-7).
        centered: normalise by the estimated variance instead of the raw second moment (False).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, name (see `Optimizer`).
    """

    default_name = "rmsprop"

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = fraction(rho, "rho", "RMSprop")
        self.momentum = fraction(momentum, "momentum", "RMSprop", include_one=True)
        self.epsilon = positive_number(epsilon, "epsilon", "RMSprop", allow_zero=True)
        self.centered = bool(centered)

    def slot_specs(self) -> tuple[tuple[str, float], ...]:
        specs: tuple[tuple[str, float], ...] = (("velocity", 0.0),)
        if self.momentum > 0:
            specs += (("momentum", 0.0),)
        if self.centered:
            specs += (("average_gradient", 0.0),)
        return specs

    def step_scalars(self, lr: float) -> tuple:
        return (lr, self.rho, self.momentum, self.epsilon)

    def update(self, value: np.ndarray, grad: np.ndarray, slots: tuple, scalars: tuple) -> None:
        momentum = slots[1] if self.momentum > 0 else None
        average = slots[-1] if self.centered else None
        _k.rmsprop(value, grad, slots[0], momentum, average, *scalars)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }
