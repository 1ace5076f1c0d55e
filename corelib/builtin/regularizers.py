"""The built-in weight penalties: L1, L2 and L1L2."""

from __future__ import annotations

import numpy as np

from corelib.regularizers import Regularizer
from corelib.validation import positive_number

__all__ = ["L1", "L2", "L1L2"]


class L1L2(Regularizer):
    """penalty = l1 * sum(|w|) + l2 * sum(w**2).

    Args:
        l1: L1 factor (0.01).
        l2: L2 factor (0.01).
    """

    def __init__(self, l1: float = 0.01, l2: float = 0.01) -> None:
        self.l1 = positive_number(l1, "l1", type(self).__name__, allow_zero=True)
        self.l2 = positive_number(l2, "l2", type(self).__name__, allow_zero=True)

    def __call__(self, w: np.ndarray) -> float:
        penalty = 0.0
        if self.l1:
            penalty += self.l1 * float(np.abs(w).sum())
        if self.l2:
            penalty += self.l2 * float(np.vdot(w, w))
        return penalty

    def gradient(self, w: np.ndarray) -> np.ndarray:
        grad = np.sign(w) * self.l1 if self.l1 else np.zeros_like(w)
        if self.l2:
            grad += (2.0 * self.l2) * w
        return grad

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """penalty = l1 * sum(|w|).

    Args:
        l1: the factor (0.01).
    """

    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1, l2=0.0)

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(L1L2):
    """penalty = l2 * sum(w**2).

    Args:
        l2: the factor (0.01).
    """

    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l1=0.0, l2=l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}
