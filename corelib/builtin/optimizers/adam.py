"""Adam (with AMSGrad) and AdamW, Keras 3's update rules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from corelib.errors import ConfigError
from corelib.builtin.optimizers._adam_base import AdamBase
from corelib.kernels import optim as _k

__all__ = ["Adam", "AdamW"]


class Adam(AdamBase):
    """Adam: m, v moving averages of g and g**2; p -= lr_t * m / (sqrt(v) + epsilon),
    lr_t = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t).

    Args:
        learning_rate: float or schedule (0.001).
        beta_1: decay of the first moment (0.9).
        beta_2: decay of the second moment (0.999).
        epsilon: added to sqrt(v) (1e-7; Keras's "epsilon hat", see docs/components.md).
        amsgrad: use the running maximum of v (False).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, name (see `Optimizer`).
    """

    default_name = "adam"

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self.amsgrad = bool(amsgrad)

    def slot_specs(self) -> tuple[tuple[str, float], ...]:
        specs = (("m", 0.0), ("v", 0.0))
        return specs + (("vhat", 0.0),) if self.amsgrad else specs

    def applies_weight_decay(self) -> bool:
        return True

    def step_scalars(self, lr: float) -> tuple:
        t = self.iterations + 1
        lr_t = lr * math.sqrt(1.0 - self.beta_2**t) / (1.0 - self.beta_1**t)
        decay = lr * self.weight_decay if self.weight_decay else 0.0
        return (lr_t, self.beta_1, self.beta_2, self.epsilon, decay)

    def update(self, value: np.ndarray, grad: np.ndarray, slots: tuple, scalars: tuple) -> None:
        _k.adam(value, grad, slots[0], slots[1], slots[2] if self.amsgrad else None, *scalars)

    def get_config(self) -> dict:
        return {**super().get_config(), "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay: p -= lr * weight_decay * p before each Adam step.

    Args:
        learning_rate: float or schedule (0.001).
        weight_decay: the decay factor (0.004).
        beta_1, beta_2, epsilon, amsgrad: as `Adam`.
        **kwargs: clipnorm, clipvalue, global_clipnorm, name (see `Optimizer`).
    """

    default_name = "adamw"

    def __init__(
        self,
        learning_rate: Any = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs: Any,
    ) -> None:
        if weight_decay is None:
            raise ConfigError("AdamW: weight_decay must be a non-negative float. Received: weight_decay=None")
        super().__init__(
            learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
            amsgrad=amsgrad, weight_decay=weight_decay, **kwargs,
        )
