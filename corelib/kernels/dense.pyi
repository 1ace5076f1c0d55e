"""Type stubs for the compiled corelib.kernels.dense."""

from typing import Optional

import numpy as np

__all__ = ["linear_forward", "linear_backward"]

def linear_forward(
    x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray], out: np.ndarray, relu: bool = False
) -> np.ndarray: ...
def linear_backward(
    x: Optional[np.ndarray],
    w: np.ndarray,
    dy: np.ndarray,
    dx: Optional[np.ndarray],
    dw: Optional[np.ndarray],
    db: Optional[np.ndarray],
    accumulate: bool = True,
) -> None: ...
def _set_parallel_work(work: int = -1) -> int: ...
def _set_default_parallel_work(work: int) -> None: ...
def _use_gemm(sgemm_address: int = 0, dgemm_address: int = 0) -> None: ...
def _set_omp_threads(n: int) -> None: ...
def _omp_threads() -> int: ...
