"""Type stubs for the compiled corelib.kernels.activations."""

from typing import FrozenSet, Optional, Tuple

import numpy as np

__all__ = ["NAMES", "NEEDS_INPUT", "forward", "backward"]

NAMES: Tuple[str, ...]
NEEDS_INPUT: FrozenSet[str]

def forward(name: str, x: np.ndarray, out: np.ndarray, alpha: float = 0.0) -> np.ndarray: ...
def backward(
    name: str,
    x: Optional[np.ndarray],
    y: Optional[np.ndarray],
    dy: np.ndarray,
    dx: np.ndarray,
    alpha: float = 0.0,
) -> np.ndarray: ...
def _set_parallel_work(work: int = -1) -> int: ...
