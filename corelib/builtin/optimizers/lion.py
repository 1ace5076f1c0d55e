"""Lion (evolved sign momentum), Keras 3's update rule."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.errors import ConfigError
from corelib.kernels import optim_more as _k
from corelib.optimizers import Optimizer
from corelib.validation import fraction

__all__ = ["Lion"]


class Lion(Optimizer):
    """Steps of equal size in every entry, in the sign of an interpolated momentum:
    p -= lr * sign(m + (g - m) * (1 - beta_1)); then m = beta_2 * m + (1 - beta_2) * g.

    Its steps are larger than Adam's for the same learning rate: Lion's authors suggest a
    learning rate 3-10 times smaller (and a larger weight_decay) than AdamW's.

    Args:
        learning_rate: float or schedule (0.001).
        beta_1: interpolation between momentum and gradient for the step, in (0, 1] (0.9).
        beta_2: decay of the momentum (0.99).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, name (see `Optimizer`).
    """

    default_name = "lion"

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.99, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = fraction(beta_1, "beta_1", "Lion", include_one=True)
        if self.beta_1 == 0.0:
            raise ConfigError("Lion: beta_1 must be in (0, 1]; at 0 Lion degenerates to sign SGD. "
                              f"Received: beta_1={beta_1!r}")
        self.beta_2 = fraction(beta_2, "beta_2", "Lion", include_one=True)

    def slot_specs(self) -> tuple[tuple[str, float], ...]:
        return (("momentum", 0.0),)

    def step_scalars(self, lr: float) -> tuple:
        return (lr, self.beta_1, self.beta_2)

    def update(self, value: np.ndarray, grad: np.ndarray, slots: tuple, scalars: tuple) -> None:
        _k.lion(value, grad, slots[0], *scalars)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
