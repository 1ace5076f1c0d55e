"""Reading a .csv data file: a header row of column names, then numeric rows (see `corelib.spec.files`)."""

from __future__ import annotations

import codecs
import csv
import os
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np

from corelib import config
from corelib.errors import DataError, one_line
from corelib.spec.data_checks import as_inputs, check_file, fits_floatx

__all__ = ["load_csv", "check_header", "first_bad_row", "is_number", "check_exact_labels", "MAX_EXACT_INTEGER"]

# A .csv is parsed as float64, which holds integers exactly up to 2**53: an integral target
# column beyond that would become labels other than the ones written (or wrap past 2**63).
MAX_EXACT_INTEGER = 2**53


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_header(path: Path, header: list[str], target: str | None, need_y: bool = True) -> int | None:
    """The target column of a header row (None: inputs only), after refusing an empty or numeric
    header, too few or duplicate columns and an unknown `target`."""
    if not header or header == [""]:
        raise DataError(f"{path}: the first line is empty; expected a header row of column names")
    if all(is_number(h) for h in header):
        raise DataError(f"{path}: the first row {header[:5]} is numbers; expected a header row of column names")
    if len(header) < (2 if need_y or target is not None else 1):
        raise DataError(f"{path}: has only the column {header[0]!r}; expected feature columns and a target column")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError(f"{path}: duplicate column name(s) {dupes}")
    if target is None:
        return len(header) - 1 if need_y else None
    if target in header:
        return header.index(target)
    raise DataError(f"{path}: no column {target!r}; the columns are {header}")


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
    check_file(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except csv.Error as exc:
        raise DataError(f"{path}: line 1 (the header row): {one_line(exc)}") from None
    if reader.line_num > 1:
        # The data is read from line 2 on: a header running on past line 1 would be read again as data.
        raise DataError(f"{path}: the header row runs from line 1 to line {reader.line_num}: a quote opened in it "
                        "is not closed on line 1; column names must fit on the first line")
    col = check_header(path, header, target, need_y)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below
            # comments=None: "#" starts no comment, as in pandas's read_csv, so no row is dropped unseen
            table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, encoding="utf-8-sig", quotechar='"',
                               comments=None)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
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
    fits_floatx(path, table, lambda row, c: f"column {header[c]!r} of data row {row + 1}")
    if col is None:
        return as_inputs(table), None
    y = table[:, col]
    x = np.delete(table, col, axis=1)
    if not np.all(y == np.round(y)):
        return as_inputs(x), np.ascontiguousarray(y, dtype=config.floatx())
    check_exact_labels(path, header[col], y)
    return as_inputs(x), y.astype(np.int64)


def check_exact_labels(path: Path, column: str, y: np.ndarray, first_row: int = 1) -> None:
    """Refuse integral targets a float64 cannot hold exactly (|y| >= 2**53), naming the data row
    (`first_row`: the data row number of y[0])."""
    big = np.abs(y) >= MAX_EXACT_INTEGER
    if big.any():
        r = int(np.argmax(big))
        raise DataError(f"{path}: column {column!r}, data row {first_row + r}: an integer target of about "
                        f"{y[r]:.6g} is too large to read exactly (it must be below 2**53 = {MAX_EXACT_INTEGER} "
                        "in magnitude); class labels run from 0, and regression targets this large need scaling")


def _not_utf8(path: Path) -> DataError:
    """The error for a .csv that is not UTF-8 text, naming the line of its first bad byte (a cut
    multi-byte sequence at the end included)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    line = 1
    with open(path, "rb") as f:
        while True:
            chunk = f.read(2**20)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                line += chunk.count(b"\n", 0, max(exc.start, 0))
                return DataError(f"{path}: line {line} is not UTF-8 text ({exc.reason}); expected a .csv saved "
                                 "as UTF-8")
            if not chunk:
                return DataError(f"{path}: not a UTF-8 text file; expected a .csv with a header row")
            line += chunk.count(b"\n")


def _diagnose_csv(path: Path, header: list[str]) -> str:
    """Find the first bad line of a .csv that numpy refused (only runs on the error path)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            next(reader, None)
            found = first_bad_row(path, ((reader.line_num, row) for row in reader), header)
        except UnicodeDecodeError:
            return str(_not_utf8(path))
        except csv.Error as exc:
            return f"{path}: line {reader.line_num + 1}: {one_line(exc)}"
    return found or f"{path}: could not be read as a numeric .csv file"


def first_bad_row(path: Path, rows: Iterable[tuple[int, list[str]]], header: list[str]) -> str | None:
    """The error line for the first of (line number, cells) `rows` that is not a row of numbers
    under `header` (a '#' comment, a wrong number of values, a cell that is not a number)."""
    for line, row in rows:
        if not row or all(not cell.strip() for cell in row):
            continue
        if row[0].lstrip().startswith("#"):
            return (f"{path}: line {line} starts with '#'; a .csv for dl has no comment lines "
                    "(as pandas reads it by default): remove the line")
        if len(row) != len(header):
            return f"{path}: line {line} has {len(row)} values but the header names {len(header)} columns"
        for name, cell in zip(header, row):
            if not is_number(cell.strip()):
                shown = repr(cell.strip()) if cell.strip() else "an empty cell"
                return f"{path}: line {line}, column {name!r}: {shown} is not a number; all columns must be numeric"
    return None
