"""Type stubs for the compiled corelib.kernels.optim_more."""

import numpy as np

__all__ = ["adamax", "adadelta", "lion", "ftrl"]

def adamax(
    param: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    u: np.ndarray,
    lr_t: float,
    beta1: float,
    beta2: float,
    epsilon: float,
) -> None: ...
def adadelta(
    param: np.ndarray,
    grad: np.ndarray,
    accumulated_grad: np.ndarray,
    accumulated_delta: np.ndarray,
    lr: float,
    rho: float,
    epsilon: float,
) -> None: ...
def lion(param: np.ndarray, grad: np.ndarray, m: np.ndarray, lr: float, beta1: float, beta2: float) -> None: ...
def ftrl(
    param: np.ndarray,
    grad: np.ndarray,
    accumulator: np.ndarray,
    linear: np.ndarray,
    lr: float,
    lr_power: float,
    l1: float,
    l2: float,
    l2_shrinkage: float,
) -> None: ...
def _set_parallel_work(work: int = -1) -> int: ...
