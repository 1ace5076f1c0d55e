"""Adamax: Adam with the infinity norm, Keras 3's update rule."""

from __future__ import annotations

import numpy as np

from corelib.builtin.optimizers._adam_base import AdamBase
from corelib.kernels import optim_more as _k

__all__ = ["Adamax"]


class Adamax(AdamBase):
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

    def slot_specs(self) -> tuple[tuple[str, float], ...]:
        return (("m", 0.0), ("u", 0.0))

    def step_scalars(self, lr: float) -> tuple:
        t = self.iterations + 1
        return (lr / (1.0 - self.beta_1**t), self.beta_1, self.beta_2, self.epsilon)

    def update(self, value: np.ndarray, grad: np.ndarray, slots: tuple, scalars: tuple) -> None:
        _k.adamax(value, grad, slots[0], slots[1], *scalars)
