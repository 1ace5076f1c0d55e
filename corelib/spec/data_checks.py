"""The checks every data reader makes of what it read: the file is there and not empty, the arrays
are numeric, non-empty, finite and within the default float dtype, and come back as dl's dtypes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from corelib import config
from corelib.errors import DataError

__all__ = ["check_file", "numeric", "fits_floatx", "as_inputs", "as_targets"]


def check_file(path: Path) -> None:
    try:
        if not path.exists():
            raise DataError(f"{path}: file not found")
        if path.is_dir():
            raise DataError(f"{path}: is a directory, expected a data file")
        size = path.stat().st_size
    except OSError as exc:  # a name too long, a loop of links: the OS will not look it up
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise DataError(f"{path}: file is empty")


def numeric(path: Path, name: str, arr: np.ndarray) -> np.ndarray:
    """Check one array: numeric, at least one sample, all finite."""
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{path}: array {name!r} is not numeric (dtype {arr.dtype}); expected numbers")
    if arr.ndim == 0:
        raise DataError(f"{path}: array {name!r} is a scalar; expected a sample axis first")
    if arr.shape[0] == 0 or arr.size == 0:
        raise DataError(f"{path}: array {name!r} is empty (shape {arr.shape})")
    if arr.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        if bad:
            raise DataError(f"{path}: array {name!r} contains {bad} NaN or infinite value(s); clean the data first")
        fits_floatx(path, arr.reshape(len(arr), -1), lambda row, _: f"array {name!r}, sample {row}")
    return arr


def fits_floatx(path: Path, table: np.ndarray, where: Any) -> None:
    """Refuse a value that would become infinite in the default float dtype (1e300 in float32);
    `where(row, column)` names the first one."""
    limit = np.finfo(config.floatx()).max
    if table.dtype.kind != "f" or np.finfo(table.dtype).max <= limit:
        return
    over = np.abs(table) > limit
    if over.any():
        row, c = np.argwhere(over)[0]
        raise DataError(f"{path}: {where(int(row), int(c))}: {table[row, c]:g} is beyond the range of "
                        f"{config.floatx()} (at most {limit:g} in magnitude); scale the data")


def as_inputs(arr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(arr, dtype=config.floatx())


def as_targets(path: Path, name: str, arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind in "biu":
        top = np.iinfo(np.int64).max
        if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and arr.max() > top:
            sample = int(np.argmax((arr > top).reshape(len(arr), -1).any(axis=1)))
            raise DataError(f"{path}: array {name!r}, sample {sample}: {arr[sample].max()} is too large for an "
                            f"integer target (at most 2**63 - 1 = {top})")
        return np.ascontiguousarray(arr, dtype=np.int64)
    return np.ascontiguousarray(arr, dtype=config.floatx())
