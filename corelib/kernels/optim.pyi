"""Type stubs for the compiled corelib.kernels.optim."""

from typing import Optional

import numpy as np

__all__ = ["sgd", "adam", "rmsprop", "adagrad", "nadam"]

def sgd(
    param: np.ndarray,
    grad: np.ndarray,
    velocity: Optional[np.ndarray],
    lr: float,
    momentum: float,
    nesterov: bool,
) -> None: ...
def adam(
    param: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    vhat: Optional[np.ndarray],
    lr_t: float,
    beta1: float,
    beta2: float,
    epsilon: float,
    decay: float,
) -> None: ...
def rmsprop(
    param: np.ndarray,
    grad: np.ndarray,
    velocity: np.ndarray,
    momentum_buffer: Optional[np.ndarray],
    average_grad: Optional[np.ndarray],
    lr: float,
    rho: float,
    momentum: float,
    epsilon: float,
) -> None: ...
def adagrad(
    param: np.ndarray, grad: np.ndarray, accumulator: np.ndarray, lr: float, epsilon: float
) -> None: ...
def nadam(
    param: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    lr: float,
    beta1: float,
    beta2: float,
    epsilon: float,
    c_m: float,
    c_g: float,
    v_scale: float,
) -> None: ...
def _set_parallel_work(work: int = -1) -> int: ...
