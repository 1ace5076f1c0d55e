"""What the Adam family (Adam, AdamW, Nadam, Adamax) shares: beta_1, beta_2 and epsilon."""

from __future__ import annotations

from typing import Any

from corelib.optimizers import Optimizer
from corelib.validation import fraction, positive_number

__all__ = ["AdamBase"]


class AdamBase(Optimizer):
    """An optimizer with Adam's decays `beta_1` and `beta_2` (each in [0, 1)) and
    `epsilon` (>= 0): checked, named after the subclass in errors, and in the
    config after the `Optimizer` arguments, in Keras's order. The defaults are
    Keras's for all of them."""

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        cls = type(self).__name__
        self.beta_1 = fraction(beta_1, "beta_1", cls)
        self.beta_2 = fraction(beta_2, "beta_2", cls)
        self.epsilon = positive_number(epsilon, "epsilon", cls, allow_zero=True)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
