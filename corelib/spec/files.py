"""Loading a user's own training data from .npz, .npy and .csv files.

    from corelib import data
    x, y = data.load("train.npz")                 # arrays named x and y
    x, y = data.load("two_inputs.npz")            # x_<input>, y_<output>: dicts by name
    x, y = data.load("train.csv", target="label")  # header row, numeric columns
    x, _ = data.load("inputs.npy")                # inputs only: y is None
    x = data.load_inputs("new.csv")              # for prediction: every column is a feature

Every malformed file raises `DataError` with one line naming the file and
what is wrong. Inputs come back as the default float dtype
(`corelib.floatx()`); integer targets as int64, other targets as floats.
Nothing is ever unpickled, and an array is read only after its header's
declared size has been checked against the file and the machine's memory.
A .npy header is read by one bounded parser (`corelib.saving.npy_header`, not
numpy's), and every error of zipfile, zlib or the csv module becomes a
DataError at the reader's edge. The .csv reader is in `corelib.spec.csv_file`,
the checks all readers share in `corelib.spec.data_checks`.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path
from typing import Any, Union

import numpy as np

from corelib.errors import DataError, ModelFileError, exception_line
from corelib.saving.archive import physical_memory
from corelib.saving.npy_header import NpyHeaderError, read_npy_data, read_npy_header
from corelib.saving.safe_zip import check_entries
from corelib.spec.csv_file import load_csv
from corelib.spec.data_checks import as_inputs, as_targets, check_file, numeric

__all__ = ["load", "load_inputs", "load_npz", "load_npy", "load_csv", "SUFFIXES"]

SUFFIXES = (".npz", ".npy", ".csv")

Arrays = Union[np.ndarray, dict]  # one array, or {input/output name: array}

# What zipfile, zlib and file reading raise on a corrupt file: unknown compression methods and zip versions
# (NotImplementedError), the encrypted flag (RuntimeError), bad checksums (BadZipFile), bad deflate streams
# (zlib.error), cut files (EOFError), undecodable entry names (UnicodeDecodeError, a ValueError).
_READ_ERRORS = (OSError, EOFError, ValueError, RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error)


def load(path: str | os.PathLike, target: str | None = None) -> tuple[Arrays, Arrays | None]:
    """Load (x, y) from a .npz, .npy or .csv file, chosen by its extension.

    Args:
        path: the file.
        target: for .csv, the name of the target column (default: the last column).

    Returns:
        ``(x, y)``; y is None for .npy files, which hold inputs only. From a
        .npz with ``x_<name>`` / ``y_<name>`` arrays, x / y are dicts by name.

    Raises:
        DataError: the file is missing, of an unknown type, or malformed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return load_npz(path)
    if suffix == ".npy":
        return load_npy(path), None
    if suffix == ".csv":
        return load_csv(path, target=target)
    raise _unsupported(path, suffix)


def load_inputs(path: str | os.PathLike, target: str | None = None) -> Arrays:
    """Load only the inputs x (for prediction) from a .npy, .npz or .csv file.

    Args:
        path: the file. A .npz needs ``x`` (or ``x_<input name>`` arrays); any
            targets in it are ignored.
        target: for .csv, a column to leave out (the target of a training
            file); by default every column is an input feature.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return load_npz(path, need_y=False)[0]
    if suffix == ".npy":
        return load_npy(path)
    if suffix == ".csv":
        return load_csv(path, target=target, need_y=False)[0]
    raise _unsupported(path, suffix)


def _unsupported(path: Path, suffix: str) -> DataError:
    return DataError(
        f"{path}: unsupported data file type {suffix or '(no extension)'!r}; expected .npz (arrays x and y), "
        ".npy (inputs only) or .csv (a header row and numeric columns)"
    )


def _magic(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(6)


def _read_array(path: Path, name: str, fh: Any, available: int) -> np.ndarray:
    """The .npy array at `fh` (a file or a .npz member of `available` bytes), read only after its
    header's declared size has been checked against `available` and the machine's memory, and
    refused when the bytes that follow do not match it (one line naming the file and the array).
    Every error of the file or zip reading below is turned into a DataError here."""
    try:
        shape, fortran, dtype, offset = read_npy_header(fh)
        count = int(np.prod(shape, dtype=object))
        declared = count * dtype.itemsize
        available -= offset
        if declared > available:
            raise DataError(f"{path}: array {name!r} declares shape {shape} of {dtype} ({declared} bytes), but "
                            f"the file holds only {max(available, 0)} bytes of data for it: it is truncated or corrupt")
        if declared > physical_memory():
            raise DataError(f"{path}: array {name!r} of shape {shape} needs {declared} bytes, more than this "
                            f"machine's memory ({physical_memory()} bytes)")
        if count == 0:
            raise DataError(f"{path}: array {name!r} is empty (shape {shape})")
        return read_npy_data(fh, shape, fortran, dtype)
    except DataError:
        raise
    except NpyHeaderError as exc:
        raise DataError(f"{path}: array {name!r} {exc}") from None
    except _READ_ERRORS as exc:
        raise DataError(f"{path}: array {name!r} is corrupt ({exception_line(exc)})") from None


def _same_length(path: Path, arrays: dict[str, np.ndarray]) -> None:
    (first, ref), *rest = arrays.items()
    for name, arr in rest:
        if len(arr) != len(ref):
            raise DataError(f"{path}: {first} has {len(ref)} samples but {name} has {len(arr)}; they must match")


def load_npz(path: str | os.PathLike, need_y: bool = True) -> tuple[Arrays, Arrays | None]:
    """Load inputs and targets from a .npz file.

    The arrays are ``x`` and ``y`` (``np.savez(path, x=x, y=y)``) or, for a
    model with several inputs or outputs, ``x_<input name>`` and ``y_<output
    name>``; those come back as dicts keyed by the name.

    Args:
        path: the file.
        need_y: whether targets are required (False for prediction: y may be absent).
    """
    path = Path(path)
    check_file(path)
    if not _magic(path).startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise DataError(f"{path}: not a .npz archive (no zip signature); save it with np.savez(path, x=x, y=y)")
    try:
        zf = zipfile.ZipFile(path)
    except _READ_ERRORS as exc:
        raise DataError(f"{path}: not a readable .npz file ({exception_line(exc)})") from None
    with zf:
        members = _npz_members(path, zf)
        x = _pick(path, zf, members, "x", "input", True)
        y = _pick(path, zf, members, "y", "output", need_y)
    checked = {label: numeric(path, label, arr) for label, arr in _labelled(x, "x") + _labelled(y, "y")}
    _same_length(path, checked)
    x = {k: as_inputs(v) for k, v in x.items()} if isinstance(x, dict) else as_inputs(checked["x"])
    if y is not None:
        y = ({k: as_targets(path, f"y_{k}", v) for k, v in y.items()} if isinstance(y, dict)
             else as_targets(path, "y", checked["y"]))
    return x, y


def _npz_members(path: Path, zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """{array name: entry}, once every entry is plain, stored or deflated, and unique."""
    try:
        entries = check_entries(zf, str(path), "archive")
    except ModelFileError as exc:
        raise DataError(str(exc)) from None
    members = {n.removesuffix(".npy"): info for n, info in entries.items()}
    if len(members) != len(entries):
        twice = sorted(n for n in entries if n.endswith(".npy") and n[:-4] in entries)
        raise DataError(f"{path}: holds both {twice[0][:-4]!r} and {twice[0]!r}; keep one array per name")
    return members


def _pick(path: Path, zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], prefix: str, what: str,
          required: bool) -> Any:
    """The array `prefix`, or {name: array} for the arrays `prefix`_name."""
    found = sorted(members)
    named = [f for f in found if f.startswith(prefix + "_") and len(f) > len(prefix) + 1]
    if prefix in found:
        if named:
            raise DataError(f"{path}: holds both {prefix!r} and {named[0]!r}; use {prefix!r} for a model with one "
                            f"{what}, or one {prefix}_<{what} name> array per {what}")
        return _read_member(path, zf, prefix, members[prefix])
    if named:
        return {f[len(prefix) + 1:]: _read_member(path, zf, f, members[f]) for f in named}
    if not required:
        return None
    raise DataError(f"{path}: no array {prefix!r} in the file; it holds {found}. Expected arrays x and y "
                    "(or x_<input name> and y_<output name> for a model with several)")


def _read_member(path: Path, zf: zipfile.ZipFile, key: str, info: zipfile.ZipInfo) -> np.ndarray:
    """Array `key` of an open .npz (see `_read_array`)."""
    try:
        fh = zf.open(info)
    except _READ_ERRORS as exc:
        raise DataError(f"{path}: array {key!r} is corrupt ({exception_line(exc)})") from None
    with fh:
        return _read_array(path, key, fh, info.file_size)


def _labelled(arrays: Any, prefix: str) -> list[tuple[str, np.ndarray]]:
    if arrays is None:
        return []
    if isinstance(arrays, dict):
        return [(f"{prefix}_{k}", v) for k, v in arrays.items()]
    return [(prefix, arrays)]


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """Load the inputs x from a .npy file (there are no targets in one)."""
    path = Path(path)
    check_file(path)
    magic = _magic(path)
    if magic.startswith(b"PK"):
        raise DataError(f"{path}: is a .npz archive, not a .npy array; rename it to .npz")
    if magic != b"\x93NUMPY":
        raise DataError(f"{path}: not a .npy file (no NumPy signature); save it with np.save(path, x)")
    try:
        with open(path, "rb") as fh:
            x = _read_array(path, "x", fh, path.stat().st_size)
    except OSError as exc:
        raise DataError(f"{path}: not a readable .npy file ({exception_line(exc)})") from None
    return as_inputs(numeric(path, "x", x))
