"""Type stubs for the compiled corelib.kernels.pooling."""

from typing import Sequence

import numpy as np

__all__ = ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward"]

def max_pool2d_forward(
    x: np.ndarray,
    out: np.ndarray,
    argmax: np.ndarray,
    pool_size: Sequence[int] = (2, 2),
    strides: Sequence[int] = (2, 2),
    padding: Sequence[int] = (0, 0, 0, 0),
) -> np.ndarray: ...
def max_pool2d_backward(dy: np.ndarray, argmax: np.ndarray, dx: np.ndarray) -> None: ...
def avg_pool2d_forward(
    x: np.ndarray,
    out: np.ndarray,
    pool_size: Sequence[int] = (2, 2),
    strides: Sequence[int] = (2, 2),
    padding: Sequence[int] = (0, 0, 0, 0),
) -> np.ndarray: ...
def avg_pool2d_backward(
    dy: np.ndarray,
    dx: np.ndarray,
    pool_size: Sequence[int] = (2, 2),
    strides: Sequence[int] = (2, 2),
    padding: Sequence[int] = (0, 0, 0, 0),
) -> None: ...
def _set_parallel_work(work: int = -1) -> int: ...
