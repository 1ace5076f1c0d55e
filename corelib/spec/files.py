"""Loading a user's own training data from .npz, .npy and .csv files.

    from corelib import data
    x, y = data.load("train.npz")                 # arrays named x and y
    x, y = data.load("two_inputs.npz")            # x_<input>, y_<output>: dicts by name
    x, y = data.load("train.csv", target="label")  # header row, numeric columns
    x, _ = data.load("inputs.npy")                # inputs only: y is None
    x = data.load_inputs("new.csv")               # for prediction: every column is a feature

Every malformed file raises `DataError` with one line naming the file and
what is wrong. Inputs come back as the default float dtype
(`corelib.floatx()`); integer targets as int64, other targets as floats.
Nothing is ever unpickled, and an array is read only after its header's
declared size has been checked against the file and the machine's memory.
"""

from __future__ import annotations

import csv
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any, Union

import numpy as np

from corelib import config
from corelib.errors import DataError, one_line
from corelib.saving.archive import physical_memory

__all__ = ["load", "load_inputs", "load_npz", "load_npy", "load_csv", "SUFFIXES"]

SUFFIXES = (".npz", ".npy", ".csv")

Arrays = Union[np.ndarray, dict]  # one array, or {input/output name: array}

# A .csv is parsed as float64, which holds integers exactly up to 2**53: an integral target
# column beyond that would become labels other than the ones written (or wrap past 2**63).
_MAX_EXACT_INTEGER = 2**53


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


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a data file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")


def _magic(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(6)


def _numeric(path: Path, name: str, arr: np.ndarray) -> np.ndarray:
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
        _fits_floatx(path, arr.reshape(len(arr), -1), lambda row, _: f"array {name!r}, sample {row}")
    return arr


def _fits_floatx(path: Path, table: np.ndarray, where: Any) -> None:
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


def _inputs(arr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(arr, dtype=config.floatx())


def _targets(path: Path, name: str, arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind in "biu":
        top = np.iinfo(np.int64).max
        if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and arr.max() > top:
            sample = int(np.argmax((arr > top).reshape(len(arr), -1).any(axis=1)))
            raise DataError(f"{path}: array {name!r}, sample {sample}: {arr[sample].max()} is too large for an "
                            f"integer target (at most 2**63 - 1 = {top})")
        return np.ascontiguousarray(arr, dtype=np.int64)
    return np.ascontiguousarray(arr, dtype=config.floatx())


def _array_header(path: Path, name: str, fh: Any, available: int) -> int:
    """The bytes the .npy header at `fh` declares, refused (one line naming the file and the
    array) when the `available` bytes after it cannot hold them or the machine's memory cannot."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unknown .npy format version {version[0]}.{version[1]}")
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: array {name!r} has no readable .npy header ({one_line(exc)})") from None
    if dtype.hasobject:
        raise DataError(f"{path}: array {name!r} holds objects (pickled), which dl never loads; save numeric arrays")
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    available -= fh.tell()
    if declared > available:
        raise DataError(f"{path}: array {name!r} declares shape {tuple(shape)} of {dtype} ({declared} bytes), but "
                        f"the file holds only {max(available, 0)} bytes of data for it: it is truncated or corrupt")
    if declared > physical_memory():
        raise DataError(f"{path}: array {name!r} of shape {tuple(shape)} needs {declared} bytes, more than this "
                        f"machine's memory ({physical_memory()} bytes)")
    return declared


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
    _check_file(path)
    if not _magic(path).startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise DataError(f"{path}: not a .npz archive (no zip signature); save it with np.savez(path, x=x, y=y)")
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise DataError(f"{path}: holds a single array, expected a .npz archive with arrays x and y")
        with npz:
            found = sorted(npz.files)
            x = _pick(path, npz, found, "x", "input", True)
            y = _pick(path, npz, found, "y", "output", need_y)
    except DataError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(f"{path}: holds object (pickled) arrays, which dl never loads; save numeric arrays") from None
        raise DataError(f"{path}: not a readable .npz file ({one_line(exc)})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {one_line(exc)})") from None
    checked = {label: _numeric(path, label, arr) for label, arr in _labelled(x, "x") + _labelled(y, "y")}
    _same_length(path, checked)
    x = {k: _inputs(v) for k, v in x.items()} if isinstance(x, dict) else _inputs(checked["x"])
    if y is not None:
        y = ({k: _targets(path, f"y_{k}", v) for k, v in y.items()} if isinstance(y, dict)
             else _targets(path, "y", checked["y"]))
    return x, y


def _pick(path: Path, npz: Any, found: list[str], prefix: str, what: str, required: bool) -> Any:
    """The array `prefix`, or {name: array} for the arrays `prefix`_name."""
    named = [f for f in found if f.startswith(prefix + "_") and len(f) > len(prefix) + 1]
    if prefix in found:
        if named:
            raise DataError(f"{path}: holds both {prefix!r} and {named[0]!r}; use {prefix!r} for a model with one "
                            f"{what}, or one {prefix}_<{what} name> array per {what}")
        return _read_member(path, npz, prefix)
    if named:
        return {f[len(prefix) + 1:]: _read_member(path, npz, f) for f in named}
    if not required:
        return None
    raise DataError(f"{path}: no array {prefix!r} in the file; it holds {found}. Expected arrays x and y "
                    "(or x_<input name> and y_<output name> for a model with several)")


def _read_member(path: Path, npz: Any, key: str) -> np.ndarray:
    """Array `key` of an open .npz, once its header's declared size fits the member and memory."""
    member = key + ".npy" if key + ".npy" in npz.zip.namelist() else key
    info = npz.zip.getinfo(member)
    with npz.zip.open(info) as fh:
        _array_header(path, key, fh, info.file_size)
    return npz[key]


def _labelled(arrays: Any, prefix: str) -> list[tuple[str, np.ndarray]]:
    if arrays is None:
        return []
    if isinstance(arrays, dict):
        return [(f"{prefix}_{k}", v) for k, v in arrays.items()]
    return [(prefix, arrays)]


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """Load the inputs x from a .npy file (there are no targets in one)."""
    path = Path(path)
    _check_file(path)
    magic = _magic(path)
    if magic.startswith(b"PK"):
        raise DataError(f"{path}: is a .npz archive, not a .npy array; rename it to .npz")
    if magic != b"\x93NUMPY":
        raise DataError(f"{path}: not a .npy file (no NumPy signature); save it with np.save(path, x)")
    with open(path, "rb") as fh:
        _array_header(path, "x", fh, path.stat().st_size)
    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(f"{path}: holds an object (pickled) array, which dl never loads; save a numeric array") from None
        raise DataError(f"{path}: not a readable .npy file ({one_line(exc)})") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy file ({type(exc).__name__}: {one_line(exc)})") from None
    return _inputs(_numeric(path, "x", x))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_csv(path: str | os.PathLike, target: str | None = None,
             need_y: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Load a .csv file with a header row and numeric columns.

    Args:
        path: the file (comma-separated; the first row names the columns).
        target: the column holding y; default: the last column. Every other
            column becomes a feature of x, in file order.
        need_y: False to read inputs only: then every column but `target`
            (when given) is a feature, and y is None without a `target`.

    Returns:
        ``(x, y)`` with x of shape (samples, features) and y of shape (samples,).
    """
    path = Path(path)
    _check_file(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            header = [h.strip() for h in next(csv.reader(f), [])]
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file; expected a .csv with a header row") from None
    if not header or header == [""]:
        raise DataError(f"{path}: the first line is empty; expected a header row of column names")
    if all(_is_number(h) for h in header):
        raise DataError(f"{path}: the first row {header[:5]} is numbers; expected a header row of column names")
    if len(header) < (2 if need_y or target is not None else 1):
        raise DataError(f"{path}: has only the column {header[0]!r}; expected feature columns and a target column")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError(f"{path}: duplicate column name(s) {dupes}")
    if target is None:
        col = len(header) - 1 if need_y else None
    elif target in header:
        col = header.index(target)
    else:
        raise DataError(f"{path}: no column {target!r}; the columns are {header}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below
            # comments=None: "#" starts no comment, as in pandas's read_csv, so no row is dropped unseen
            table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, encoding="utf-8-sig", quotechar='"',
                               comments=None)
    except ValueError:
        raise DataError(_diagnose_csv(path, header)) from None
    if table.shape[0] == 0:
        raise DataError(f"{path}: has a header row but no data rows")
    if table.shape[1] != len(header):
        raise DataError(f"{path}: the rows have {table.shape[1]} values but the header names {len(header)} columns")
    bad = ~np.isfinite(table)
    if bad.any():
        row, c = np.argwhere(bad)[0]
        raise DataError(
            f"{path}: {int(bad.sum())} NaN or infinite value(s), the first in column {header[c]!r} "
            f"of data row {row + 1}; clean the data first"
        )
    _fits_floatx(path, table, lambda row, c: f"column {header[c]!r} of data row {row + 1}")
    if col is None:
        return _inputs(table), None
    y = table[:, col]
    x = np.delete(table, col, axis=1)
    if not np.all(y == np.round(y)):
        return _inputs(x), np.ascontiguousarray(y, dtype=config.floatx())
    big = np.abs(y) >= _MAX_EXACT_INTEGER
    if big.any():
        row = int(np.argmax(big))
        raise DataError(f"{path}: column {header[col]!r}, data row {row + 1}: an integer target of about "
                        f"{y[row]:.6g} is too large to read exactly (it must be below 2**53 = {_MAX_EXACT_INTEGER} "
                        "in magnitude); class labels run from 0, and regression targets this large need scaling")
    return _inputs(x), y.astype(np.int64)


def _diagnose_csv(path: Path, header: list[str]) -> str:
    """Find the first bad line of a .csv that numpy refused (only runs on the error path)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        next(reader, None)
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if row[0].lstrip().startswith("#"):
                return (f"{path}: line {line} starts with '#'; a .csv for dl has no comment lines "
                        "(as pandas reads it by default): remove the line")
            if len(row) != len(header):
                return f"{path}: line {line} has {len(row)} values but the header names {len(header)} columns"
            for name, cell in zip(header, row):
                if not _is_number(cell.strip()):
                    shown = repr(cell.strip()) if cell.strip() else "an empty cell"
                    return f"{path}: line {line}, column {name!r}: {shown} is not a number; all columns must be numeric"
    return f"{path}: could not be read as a numeric .csv file"
