"""Type stubs for the compiled corelib.kernels.conv."""

from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = ["conv2d_forward", "conv2d_backward", "conv1d_forward", "conv1d_backward", "column_workspace"]

def column_workspace(
    rows: int, row_length: int, groups: int = 1, itemsize: int = 4, full_limit: int = -1
) -> Tuple[int, bool]: ...
def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: Optional[np.ndarray],
    out: np.ndarray,
    strides: Sequence[int] = (1, 1),
    padding: Sequence[int] = (0, 0, 0, 0),
    dilation: Sequence[int] = (1, 1),
    col: Optional[np.ndarray] = None,
    groups: int = 1,
) -> np.ndarray: ...
def conv2d_backward(
    x: np.ndarray,
    w: np.ndarray,
    dy: np.ndarray,
    dx: Optional[np.ndarray],
    dw: Optional[np.ndarray],
    db: Optional[np.ndarray],
    strides: Sequence[int] = (1, 1),
    padding: Sequence[int] = (0, 0, 0, 0),
    dilation: Sequence[int] = (1, 1),
    col: Optional[np.ndarray] = None,
    col_ready: bool = False,
    dcol: Optional[np.ndarray] = None,
    groups: int = 1,
) -> None: ...
def conv1d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: Optional[np.ndarray],
    out: np.ndarray,
    stride: int = 1,
    padding: Sequence[int] = (0, 0),
    dilation: int = 1,
    col: Optional[np.ndarray] = None,
    groups: int = 1,
) -> np.ndarray: ...
def conv1d_backward(
    x: np.ndarray,
    w: np.ndarray,
    dy: np.ndarray,
    dx: Optional[np.ndarray],
    dw: Optional[np.ndarray],
    db: Optional[np.ndarray],
    stride: int = 1,
    padding: Sequence[int] = (0, 0),
    dilation: int = 1,
    col: Optional[np.ndarray] = None,
    col_ready: bool = False,
    dcol: Optional[np.ndarray] = None,
    groups: int = 1,
) -> None: ...
def _set_parallel_work(work: int = -1) -> int: ...
def _set_column_limits(full_limit: int = -1, chunk_bytes: int = -1) -> Tuple[int, int]: ...
