"""A .csv too large for memory, read in blocks of rows (see `corelib.spec.csv_file` for the format).

Opening checks the header row as the whole-file reader does, then reads the
file once as bytes to find where each block of about `BLOCK_BYTES` starts and
how many rows it holds (lines that are empty count no row, as in the
whole-file reader); it parses nothing but the first block, which fixes the
kind of the targets (integer class labels when they are all whole numbers,
else floats). Each block is parsed by NumPy's reader when a batch first needs
it, with the checks and the messages of the whole-file reader: a bad value
names the file, its line and its column, found when training reaches it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from corelib import config
from corelib.errors import DataError, one_line
from corelib.spec.csv_file import check_exact_labels, check_header, first_bad_row
from corelib.spec.data_checks import as_inputs, check_file, fits_floatx
from corelib.spec.row_batches import RowSource

__all__ = ["CsvBlocks", "BLOCK_BYTES"]

BLOCK_BYTES = 4 * 2**20  # text per block: its parsed table takes a few times this


class CsvBlocks(RowSource):
    """The rows of a .csv file, block by block (see the module's doc).

    Args:
        path: the file.
        target: the target column (default: the last).
    """

    def __init__(self, path: Path, target: str | None = None) -> None:
        self.name = str(path)
        self.path = path
        self.header, self.column, body = _header(path, target)
        # Each block: (byte offset, bytes, its first line number, its first data row (0-based)).
        self.blocks: list[tuple[int, int, int, int]] = []
        self.sizes: list[int] = []
        self._index(body)
        if not self.sizes:
            raise DataError(f"{path}: has a header row but no data rows")
        self.integer_targets: bool | None = None
        self.integer_targets = self._integral(self.load(0)[1])

    @property
    def sample_shape(self) -> tuple:
        return (len(self.header) - 1,)

    def _index(self, offset: int) -> None:
        line, row = 2, 0
        with open(self.path, "rb") as f:
            f.seek(offset)
            carry = b""
            while True:
                chunk = f.read(BLOCK_BYTES)
                text = carry + chunk
                cut = text.rfind(b"\n") + 1 if chunk else len(text)
                if cut == 0 and chunk:  # a line longer than a block: read on
                    carry = text
                    continue
                block, carry = text[:cut], text[cut:]
                if block:
                    rows, lines = _count(block)
                    if rows:
                        self.blocks.append((offset, len(block), line, row))
                        self.sizes.append(rows)
                    offset, line, row = offset + len(block), line + lines, row + rows
                if not chunk:
                    return

    def load(self, piece: int) -> tuple[np.ndarray, np.ndarray]:
        offset, size, line, row = self.blocks[piece]
        with open(self.path, "rb") as f:
            f.seek(offset)
            raw = f.read(size)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = line + raw.count(b"\n", 0, max(exc.start, 0))
            raise DataError(f"{self.path}: line {bad} is not UTF-8 text ({exc.reason}); expected a .csv saved "
                            "as UTF-8") from None
        table = self._parse(text, line)
        if table.shape[0] != self.sizes[piece]:
            last = line + raw.count(b"\n") - 1
            raise DataError(f"{self.path}: lines {line} to {last} hold {table.shape[0]} rows "
                            f"now, but {self.sizes[piece]} when training started: the file changed during the run, "
                            "or its lines end with a lone carriage return (save it with \\n line ends)")
        return self._split(table, row)

    def _parse(self, text: str, line: int) -> np.ndarray:
        header = self.header
        try:
            table = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2, quotechar='"', comments=None,
                               dtype=np.float64)
        except ValueError:
            raise DataError(_diagnose(self.path, text, line, header)) from None
        if table.shape[1] != len(header):
            raise DataError(f"{self.path}: the rows have {table.shape[1]} values but the header names {len(header)} "
                            "columns")
        return table

    def _split(self, table: np.ndarray, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of a parsed block whose first data row is `row` (0-based), checked as the whole file is."""
        path, header, col = self.path, self.header, self.column
        bad = ~np.isfinite(table)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise DataError(f"{path}: {int(bad.sum())} NaN or infinite value(s), the first in column {header[c]!r} "
                            f"of data row {row + r + 1}; clean the data first")
        fits_floatx(path, table, lambda r, c: f"column {header[c]!r} of data row {row + r + 1}")
        y = table[:, col]
        x = as_inputs(np.delete(table, col, axis=1))
        if self.integer_targets is None:  # the first block, read when the file is opened
            return x, y
        if not self.integer_targets:
            return x, np.ascontiguousarray(y, dtype=config.floatx())
        if not self._integral(y):
            r = int(np.argmax(y != np.round(y)))
            raise DataError(f"{path}: column {header[col]!r}, data row {row + r + 1}: {y[r]:g} is not a whole number, "
                            "but the targets of the first rows are (class labels); a target column holds integers "
                            "or floats throughout")
        check_exact_labels(path, header[col], y, first_row=row + 1)
        return x, y.astype(np.int64)

    @staticmethod
    def _integral(y: np.ndarray) -> bool:
        return bool(np.all(y == np.round(y)))


def _count(block: bytes) -> tuple[int, int]:
    """(rows, lines) of a block of whole lines: a line holding nothing (but a carriage return) is no row."""
    data = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    if not block.endswith(b"\n"):
        ends = np.append(ends, len(data))
    starts = np.concatenate(([0], ends[:-1] + 1))
    content = np.concatenate(([0], np.cumsum((data != 10) & (data != 13), dtype=np.int64)))
    return int(np.count_nonzero(content[ends] - content[starts])), len(ends)


def _header(path: Path, target: str | None) -> tuple[list[str], int, int]:
    """(column names, the target column, the byte offset of line 2), checked as `load_csv` checks them."""
    check_file(path)
    with open(path, "rb") as f:
        first = f.readline()
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: line 1 is not UTF-8 text ({exc.reason}); expected a .csv saved as UTF-8") from None
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise DataError(f"{path}: line 1 (the header row): {one_line(exc)}") from None
    if len(rows) > 1 or text.count('"') % 2:
        raise DataError(f"{path}: the header row runs on past line 1: a quote opened in it is not closed on "
                        "line 1; column names must fit on the first line")
    header = [h.strip() for h in (rows[0] if rows else [])]
    col = check_header(path, header, target)
    return header, col, len(first)


def _diagnose(path: Path, text: str, first_line: int, header: list[str]) -> str:
    """The first bad line of a block NumPy refused, in the whole-file reader's words."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        found = first_bad_row(path, ((first_line + reader.line_num - 1, row) for row in reader), header)
    except csv.Error as exc:
        return f"{path}: line {first_line + reader.line_num}: {one_line(exc)}"
    return found or f"{path}: lines from {first_line} on could not be read as numeric .csv rows"
