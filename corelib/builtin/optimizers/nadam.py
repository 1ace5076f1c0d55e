"""Nadam: Adam with Nesterov momentum, Keras 3's update rule."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.builtin.optimizers._adam_base import AdamBase
from corelib.kernels import optim as _k

__all__ = ["Nadam"]

_MOMENTUM_DECAY = 0.96  # Keras's (and Dozat's) momentum schedule base


class Nadam(AdamBase):
    """Adam with Nesterov momentum and Dozat's momentum schedule
    u_t = beta_1 * (1 - 0.5 * 0.96**t).

    Args:
        learning_rate: float or schedule (0.001).
        beta_1: decay of the first moment (0.9).
        beta_2: decay of the second moment (0.999).
        epsilon: added to sqrt(v_hat) (1e-7).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, name (see `Optimizer`).
    """

    default_name = "nadam"

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self.u_product = 1.0  # product of u_1 .. u_t over the steps taken

    def slot_specs(self) -> tuple[tuple[str, float], ...]:
        return (("m", 0.0), ("v", 0.0))

    def step_scalars(self, lr: float) -> tuple:
        t = self.iterations + 1
        u_t = self.beta_1 * (1.0 - 0.5 * _MOMENTUM_DECAY**t)
        u_next = self.beta_1 * (1.0 - 0.5 * _MOMENTUM_DECAY ** (t + 1))
        self.u_product *= u_t
        c_m = u_next / (1.0 - self.u_product * u_next)
        c_g = (1.0 - u_t) / (1.0 - self.u_product)
        v_scale = 1.0 / (1.0 - self.beta_2**t)
        return (lr, self.beta_1, self.beta_2, self.epsilon, c_m, c_g, v_scale)

    def update(self, value: np.ndarray, grad: np.ndarray, slots: tuple, scalars: tuple) -> None:
        _k.nadam(value, grad, slots[0], slots[1], *scalars)

    def extra_state(self) -> dict[str, np.ndarray]:
        return {"u_product": np.array(self.u_product, dtype=np.float64)}

    def set_extra_state(self, state: dict[str, np.ndarray]) -> None:
        self.u_product = float(state["u_product"])
