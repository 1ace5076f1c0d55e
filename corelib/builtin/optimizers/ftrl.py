"""FTRL-Proximal ("Follow The Regularized Leader"), Keras 3's update rule."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from corelib.errors import ConfigError
from corelib.kernels import optim_more as _k
from corelib.optimizers import Optimizer
from corelib.validation import positive_number

__all__ = ["Ftrl"]


class Ftrl(Optimizer):
    """FTRL-Proximal (McMahan et al., 2013), with L1 / L2 regularization and L2 shrinkage,
    as Keras 3 (and TensorFlow's ApplyFtrlV2) computes it:

        n = acc + g**2
        linear += g + 2 * l2_shrinkage * p - (n**-power - acc**-power) / lr * p
        p = (clip(linear, -l1, l1) - linear) / (n**-power / lr + 2 * (l2 + beta / (2 * lr)))
        acc = n

    with power = learning_rate_power. Suited to shallow models with large, sparse inputs.

    Args:
        learning_rate: float or schedule, > 0 (0.001).
        learning_rate_power: how the per-entry learning rate falls as the squared gradients
            accumulate; <= 0 (0 keeps it fixed) (-0.5).
        initial_accumulator_value: starting value of acc, >= 0 (0.1).
        l1_regularization_strength: >= 0 (0.0).
        l2_regularization_strength: >= 0 (0.0), a stabilization penalty.
        l2_shrinkage_regularization_strength: >= 0 (0.0), a magnitude penalty added to the
            gradient (unlike l2_regularization_strength).
        beta: >= 0 (0.0); adds beta / (2 * learning_rate) to the L2 strength.
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, name (see `Optimizer`).
    """

    default_name = "ftrl"

    def __init__(
        self,
        learning_rate: Any = 0.001,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        l2_shrinkage_regularization_strength: float = 0.0,
        beta: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        try:
            power = float(learning_rate_power)
        except (TypeError, ValueError):
            power = float("nan")
        if isinstance(learning_rate_power, bool) or not (power <= 0.0 and math.isfinite(power)):
            raise ConfigError("Ftrl: learning_rate_power must be a float <= 0. "
                              f"Received: learning_rate_power={learning_rate_power!r}")
        self.learning_rate_power = power
        self.initial_accumulator_value = positive_number(
            initial_accumulator_value, "initial_accumulator_value", "Ftrl", allow_zero=True)
        self.l1_regularization_strength = positive_number(
            l1_regularization_strength, "l1_regularization_strength", "Ftrl", allow_zero=True)
        self.l2_regularization_strength = positive_number(
            l2_regularization_strength, "l2_regularization_strength", "Ftrl", allow_zero=True)
        self.l2_shrinkage_regularization_strength = positive_number(
            l2_shrinkage_regularization_strength, "l2_shrinkage_regularization_strength", "Ftrl", allow_zero=True)
        self.beta = positive_number(beta, "beta", "Ftrl", allow_zero=True)
        if isinstance(self.learning_rate, float) and self.learning_rate == 0.0:
            raise ConfigError("Ftrl: learning_rate must be positive (Ftrl divides by it). Received: learning_rate=0.0")

    def slot_specs(self) -> tuple[tuple[str, float], ...]:
        return (("accumulator", self.initial_accumulator_value), ("linear", 0.0))

    def step_scalars(self, lr: float) -> tuple:
        if not lr > 0.0:
            raise ConfigError(f"Ftrl: the learning rate must be positive (Ftrl divides by it). "
                              f"Received: learning rate {lr!r} at step {self.iterations}")
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        return (lr, self.learning_rate_power, self.l1_regularization_strength, l2,
                self.l2_shrinkage_regularization_strength)

    def update(self, value: np.ndarray, grad: np.ndarray, slots: tuple, scalars: tuple) -> None:
        _k.ftrl(value, grad, slots[0], slots[1], *scalars)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        }
