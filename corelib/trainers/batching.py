"""Checking and slicing the arrays given to fit / evaluate / predict.

Everything here runs once per call (or once per batch as a slice), never per
sample: the training loop receives arrays that already have the model's
dtype and a known sample count.
"""

from __future__ import annotations

import math
import mmap
import os

from typing import Any, Iterator

import numpy as np

from corelib.errors import DataError, ShapeError

__all__ = ["MappedRows", "rows", "as_input_array", "as_inputs", "as_targets", "class_weights",
           "as_target_array", "check_sample_counts", "batch_slices", "batch_indices", "split_validation"]


def as_input_array(x: Any, dtype: str, where: str = "x") -> np.ndarray:
    """`x` as a numeric array of `dtype` with at least one sample axis (a memory-mapped array
    as `MappedRows`, read batch by batch)."""
    if x is None:
        raise DataError(f"{where} is required. Received: {where}=None")
    if isinstance(x, MappedRows):
        return MappedRows(x.source, dtype, where)
    if isinstance(x, np.memmap) and x.ndim:
        return MappedRows(x, dtype, where)
    arr = _numeric(x, where)
    if arr.ndim == 0:
        raise DataError(f"{where} must have a batch axis; received a scalar")
    if dtype is None:  # as it comes: integer ids or floats, checked, not yet converted
        if arr.dtype.kind in "iub":
            return _integer_ids(arr, where)
        dtype = arr.dtype if arr.dtype.kind == "f" else "float64"
    if np.dtype(dtype).kind in "iu":
        return _integer_ids(arr, where)
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        raise DataError(f"{where} contains NaN or infinite values")
    return arr


def _integer_ids(arr: np.ndarray, where: str) -> np.ndarray:
    """Integer ids for an integer Input, as int64: exact (never through float32)."""
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or not np.all(arr == np.round(arr)):
            raise DataError(f"{where} feeds an integer Input but holds non-integer values")
    elif arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise DataError(f"{where} holds ids beyond the int64 range")
    elif arr.dtype.kind not in "iub":
        raise DataError(f"{where} feeds an integer Input but has dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def as_target_array(y: Any, dtype: str, sparse: bool, where: str = "y") -> np.ndarray:
    """Targets as an array: integer labels for sparse losses, else `dtype`."""
    arr = _numeric(y, where)
    if arr.ndim == 0:
        raise DataError(f"{where} must have a batch axis; received a scalar")
    if sparse:
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
                raise DataError(f"{where}: a sparse loss needs integer class labels; received non-integer values")
            if arr.size and np.abs(arr).max() >= 2.0**63:
                raise DataError(f"{where}: class label {np.abs(arr).max():g} is too large for an int64 label")
        elif arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise DataError(f"{where}: class label {arr.max()} is too large for an int64 label (at most 2**63 - 1)")
        return np.ascontiguousarray(arr, dtype=np.int64)
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        raise DataError(f"{where} contains NaN or infinite values")
    return arr


def _numeric(x: Any, where: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except ValueError as exc:  # ragged nested lists
        raise DataError(f"{where} is not a rectangular array: {exc}") from None
    if arr.dtype.kind == "b":
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iuf":
        raise DataError(f"{where} must be numeric; received an array of dtype {arr.dtype}")
    return arr


def _structured(data: Any, names: list[str], what: str) -> list[tuple[str, Any]]:
    """(label, value) per model input or output from an array, a list or a dict."""
    if isinstance(data, dict):
        missing = [n for n in names if n not in data]
        if missing:
            raise DataError(f"{what} has no entry for '{missing[0]}'; expected keys {names}, got {sorted(data)}")
        extra = sorted(set(data) - set(names))
        if extra:
            raise DataError(f"{what} has an entry '{extra[0]}' that is not one of {names}")
        return [(f"{what}['{n}']", data[n]) for n in names]
    if isinstance(data, (list, tuple)) and len(names) > 1:
        if len(data) != len(names):
            raise DataError(f"{what} is a list of {len(data)} arrays but the model has {len(names)}: {names}")
        return [(f"{what}[{i}]", v) for i, v in enumerate(data)]
    if len(names) > 1:
        raise DataError(f"The model has {len(names)} {'inputs' if what.endswith('x') else 'outputs'} {names}; "
                        f"pass {what} as a list or a dict of arrays")
    return [(what, data)]


def as_inputs(x: Any, names: list[str], dtype: str | list[str] | None, where: str = "x") -> list[np.ndarray]:
    """One checked array per model input, in `dtype` (one for all, one per input, or None: as given)."""
    dtypes = dtype if isinstance(dtype, list) else [dtype] * len(names)
    return [as_input_array(v, dt, label) for (label, v), dt in zip(_structured(x, names, where), dtypes)]


def as_targets(y: Any, names: list[str], dtype: str, sparse: list[bool], where: str = "y") -> list[np.ndarray]:
    """One checked target array per model output."""
    return [as_target_array(v, dtype, sp, label) for (label, v), sp in zip(_structured(y, names, where), sparse)]


def check_sample_counts(xs: list[np.ndarray], ys: list[np.ndarray], sample_weight: np.ndarray | None,
                        where: str = "") -> None:
    """All arrays must have the same number of samples (axis 0)."""
    n = xs[0].shape[0]
    for label, arrays in (("x", xs), ("y", ys)):
        for i, a in enumerate(arrays):
            if a.shape[0] != n:
                name = label if len(arrays) == 1 else f"{label}[{i}]"
                first = "x" if len(xs) == 1 else "x[0]"
                raise DataError(
                    f"{where}{first} and {where}{name} have different numbers of samples: "
                    f"{first} has {n}, {name} has {a.shape[0]}"
                )
    if sample_weight is not None and sample_weight.shape[0] != n:
        raise DataError(f"{where}sample_weight has {sample_weight.shape[0]} entries but x has {n} samples")
    if n == 0:
        raise DataError(f"{where}x has no samples")


def check_input_shape(x: np.ndarray, expected: tuple | None, where: str = "x") -> None:
    """The sample shape of `x` must match the model's input shape."""
    if expected is None:
        return
    got = (None,) + x.shape[1:]
    if len(got) != len(expected) or any(
        e is not None and g != e for g, e in zip(got[1:], expected[1:])
    ):
        raise ShapeError(
            f"{where} has shape {x.shape}, but the model expects input of shape {expected}"
        )


def batch_slices(n: int, batch_size: int, order: np.ndarray | None = None) -> Iterator[Any]:
    """Slices (or index arrays, when `order` is a permutation) of successive batches."""
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        yield slice(start, stop) if order is None else order[start:stop]


def batch_indices(n: int, batch_size: int, b: int, order: np.ndarray | None = None) -> Any:
    """The slice (or index array, when `order` is a permutation) of batch `b` of `n` samples."""
    start = b * batch_size
    stop = min(start + batch_size, n)
    return slice(start, stop) if order is None else order[start:stop]


def split_validation(arrays: list[np.ndarray | None], fraction: float) -> tuple[list, list]:
    """Keras's validation_split: the last `fraction` of samples, taken before shuffling."""
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"validation_split must be in [0, 1). Received: validation_split={fraction}")
    n = arrays[0].shape[0]
    cut = int(math.floor(n * (1.0 - fraction))) if fraction > 0 else n  # Keras 3's split point
    n_val = n - cut
    if fraction > 0 and (n_val == 0 or n_val == n):
        raise DataError(
            f"validation_split={fraction} leaves no samples for "
            f"{'validation' if n_val == 0 else 'training'} (x has {n} samples)"
        )
    train = [None if a is None else a[:cut] for a in arrays]
    val = [None if a is None else a[cut:] for a in arrays]
    return train, val


def class_weights(y: np.ndarray, class_weight: dict, sparse: bool, dtype: str) -> np.ndarray:
    """Per-sample weights from Keras's `class_weight` {class index: weight}."""
    if sparse or y.ndim == 1:
        labels = y.astype(np.int64).ravel()
    elif y.shape[-1] == 1:
        labels = (y[..., 0] > 0.5).astype(np.int64)
    else:
        labels = np.argmax(y, axis=-1)
    try:
        keys = [int(k) for k in class_weight]
    except (TypeError, ValueError):
        raise DataError(f"class_weight keys must be class indices (ints). Received: {sorted(class_weight)!r}") from None
    if min(keys) < 0:
        raise DataError(f"class_weight keys must be non-negative class indices. Received: {min(keys)}")
    table = np.ones(max(max(keys), int(labels.max())) + 1, dtype=dtype)
    for cls, weight in class_weight.items():
        table[int(cls)] = weight
    return table[labels]


def rows(a: Any, idx: Any) -> np.ndarray:
    """Rows `idx` (a slice or an index array) of an input, read now when it is `MappedRows`."""
    return a.read(idx) if isinstance(a, MappedRows) else a[idx]


class MappedRows:
    """A memory-mapped input (``np.load(path, mmap_mode="r")``) that training reads batch by batch:
    each batch's rows are read from the file with positioned reads (a shuffled batch's indices
    sorted, so the file is read in order), converted to the model's dtype and checked. The
    mapping itself is never touched, so the process's resident size stays about one batch,
    whatever the file's size (the OS's page cache is not the process's memory).

    Slicing with a slice (``x[:n]``, validation_split) gives another MappedRows, not data. An
    array the file reader cannot locate (not C-contiguous) is read through the mapping.
    """

    def __init__(self, source: np.memmap, dtype: str | None, where: str) -> None:
        if source.dtype.kind not in "biuf":
            raise DataError(f"{where} must be numeric; received a memory-mapped array of dtype {source.dtype}")
        self.source, self.where = source, where
        if dtype is None:
            dtype = "int64" if source.dtype.kind in "iub" else source.dtype
        self.dtype = np.dtype(dtype)
        self.shape = source.shape
        self.ndim = source.ndim
        self._row_bytes = source.dtype.itemsize * int(np.prod(source.shape[1:], dtype=np.int64))
        self._position = _file_position(source)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, part: slice) -> "MappedRows":
        if not isinstance(part, slice):
            raise TypeError("MappedRows takes a slice for a view; read rows with read()")
        return MappedRows(self.source[part], self.dtype, self.where)

    def read(self, idx: Any) -> np.ndarray:
        """Rows `idx` (a slice or index array), converted and checked, as an array in memory."""
        return as_input_array(self.read_raw(idx), self.dtype.name, self.where)

    def read_raw(self, idx: Any) -> np.ndarray:
        """Rows `idx` as the file holds them (its dtype, unchecked), as an array in memory."""
        picked = np.arange(len(self))[idx] if isinstance(idx, slice) else np.asarray(idx, dtype=np.int64)
        if self._position is None:
            return np.asarray(self.source[picked])
        return self._pread(picked)

    def _pread(self, picked: np.ndarray) -> np.ndarray:
        """Read the rows `picked` from the file, in file order, runs of adjacent rows at once."""
        order = np.argsort(picked, kind="stable")
        ranks = picked[order]
        out = np.empty((len(picked),) + self.shape[1:], self.source.dtype)
        flat = out.reshape(len(picked), -1).view(np.uint8).reshape(len(picked), self._row_bytes)
        sorted_rows = np.empty_like(flat)
        path, start = self._position
        size = self._row_bytes
        with open(path, "rb", buffering=0) as fh:
            fd = fh.fileno()
            i = 0
            while i < len(ranks):
                j = i + 1
                while j < len(ranks) and ranks[j] == ranks[j - 1] + 1:
                    j += 1
                view = memoryview(sorted_rows[i:j]).cast("B")
                done = os.preadv(fd, [view], start + int(ranks[i]) * size)
                if done != len(view):
                    raise DataError(f"{self.where}: {path} ended before row {int(ranks[j - 1])} (the file shrank?)")
                i = j
        flat[order] = sorted_rows
        return out


def _file_position(source: np.memmap) -> tuple[str, int] | None:
    """(file, byte position of row 0) of a C-contiguous memory-mapped array, found from where its
    data lies in the mapping (a view of one, too); None when it cannot be told."""
    mapping = getattr(source, "_mmap", None)
    name = getattr(source, "filename", None)
    if mapping is None or not name or not source.flags.c_contiguous or not hasattr(os, "preadv"):
        return None
    try:
        base = np.frombuffer(mapping, dtype=np.uint8).ctypes.data
    except (TypeError, ValueError):  # a closed mapping
        return None
    mapped_from = source.offset - source.offset % mmap.ALLOCATIONGRANULARITY
    return name, mapped_from + (source.ctypes.data - base)
