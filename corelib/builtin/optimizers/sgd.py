"""Stochastic gradient descent with optional (Nesterov) momentum."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.kernels import optim as _k
from corelib.optimizers import Optimizer
from corelib.validation import fraction

__all__ = ["SGD"]


class SGD(Optimizer):
    """Gradient descent, Keras's rule: v = momentum * v - lr * g; p += v.

    Args:
        learning_rate: float or schedule (0.01).
        momentum: in [0, 1]; 0 is plain gradient descent (0.0).
        nesterov: use Nesterov momentum: p += momentum * v - lr * g (False).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, name (see `Optimizer`).
    """

    default_name = "SGD"

    def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = fraction(momentum, "momentum", "SGD", include_one=True)
        self.nesterov = bool(nesterov)

    def slot_specs(self) -> tuple[tuple[str, float], ...]:
        return (("momentum", 0.0),) if self.momentum > 0 else ()

    def step_scalars(self, lr: float) -> tuple:
        return (lr, self.momentum, self.nesterov)

    def update(self, value: np.ndarray, grad: np.ndarray, slots: tuple, scalars: tuple) -> None:
        _k.sgd(value, grad, slots[0] if slots else None, *scalars)

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
