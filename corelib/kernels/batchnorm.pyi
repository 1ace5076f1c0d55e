"""Type stubs for the compiled corelib.kernels.batchnorm."""

from typing import Optional

import numpy as np

__all__ = ["batch_norm_forward", "batch_norm_backward"]

def batch_norm_forward(
    x: np.ndarray,
    gamma: Optional[np.ndarray],
    beta: Optional[np.ndarray],
    mean: np.ndarray,
    var: np.ndarray,
    out: np.ndarray,
    epsilon: float = 1e-3,
    training: bool = True,
    axis: int = -1,
) -> np.ndarray: ...
def batch_norm_backward(
    x: np.ndarray,
    dy: np.ndarray,
    gamma: Optional[np.ndarray],
    mean: np.ndarray,
    var: np.ndarray,
    dx: Optional[np.ndarray],
    dgamma: Optional[np.ndarray],
    dbeta: Optional[np.ndarray],
    epsilon: float = 1e-3,
    training: bool = True,
    axis: int = -1,
) -> None: ...
def _set_parallel_work(work: int = -1) -> int: ...
