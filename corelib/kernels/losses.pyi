"""Type stubs for the compiled corelib.kernels.losses."""

from typing import Optional

import numpy as np

__all__ = [
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "sigmoid_binary_crossentropy",
    "binary_crossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "huber",
]

def softmax_cross_entropy(
    logits: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: Optional[np.ndarray]
) -> np.ndarray: ...
def sparse_softmax_cross_entropy(
    logits: np.ndarray, labels: np.ndarray, loss_out: np.ndarray, grad_out: Optional[np.ndarray]
) -> np.ndarray: ...
def categorical_crossentropy(
    probs: np.ndarray,
    target: np.ndarray,
    loss_out: np.ndarray,
    grad_out: Optional[np.ndarray],
    epsilon: float = 1e-7,
) -> np.ndarray: ...
def sparse_categorical_crossentropy(
    probs: np.ndarray,
    labels: np.ndarray,
    loss_out: np.ndarray,
    grad_out: Optional[np.ndarray],
    epsilon: float = 1e-7,
) -> np.ndarray: ...
def sigmoid_binary_crossentropy(
    logits: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: Optional[np.ndarray]
) -> np.ndarray: ...
def binary_crossentropy(
    probs: np.ndarray,
    target: np.ndarray,
    loss_out: np.ndarray,
    grad_out: Optional[np.ndarray],
    epsilon: float = 1e-7,
) -> np.ndarray: ...
def mean_squared_error(
    pred: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: Optional[np.ndarray]
) -> np.ndarray: ...
def mean_absolute_error(
    pred: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: Optional[np.ndarray]
) -> np.ndarray: ...
def huber(
    pred: np.ndarray,
    target: np.ndarray,
    loss_out: np.ndarray,
    grad_out: Optional[np.ndarray],
    delta: float = 1.0,
) -> np.ndarray: ...
def _set_parallel_work(work: int = -1) -> int: ...
