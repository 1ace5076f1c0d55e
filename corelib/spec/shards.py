"""A glob of .npz shards (``data: shards/part-*.npz``) as one table of rows, read shard by shard.

Each shard is a .npz file like a whole training file: arrays ``x`` and ``y``
(or ``x_<input>`` / ``y_<output>`` for several), with the same names, sample
shapes and kinds of numbers in every shard. The shards are taken in the order
of their sorted names. Opening reads only each shard's zip directory and array
headers (to count its rows); a shard's data is read, with every check of
`corelib.spec.files.load_npz`, when a batch first needs it, so a malformed
shard is found mid-epoch and named in one line.
"""

from __future__ import annotations

import glob as globbing
import zipfile
from pathlib import Path
from typing import Any

from corelib.errors import DataError, DLError, exception_line, one_line
from corelib.saving.npy_header import NpyHeaderError, read_npy_header
from corelib.saving.safe_zip import check_entries
from corelib.spec.data_checks import check_file
from corelib.spec.row_batches import RowSource

__all__ = ["Shards", "has_magic", "shard_paths"]


def has_magic(pattern: str) -> bool:
    """Whether `pattern` is a glob (holds ``*``, ``?`` or ``[``)."""
    return globbing.has_magic(pattern)


def shard_paths(pattern: Path) -> list[Path]:
    """The files `pattern` matches, sorted by name: one or more .npz files (DataError otherwise)."""
    found = sorted(Path(p) for p in globbing.glob(str(pattern)))
    if not found:
        raise DataError(f"{pattern}: matches no file; expected .npz shards (each with arrays x and y)")
    for path in found:
        if path.is_dir() or path.suffix.lower() != ".npz":
            raise DataError(f"{pattern}: matches {path}, which is not a .npz shard; a glob of shards must match "
                            ".npz files only (each with arrays x and y)")
    return found


class Shards(RowSource):
    """The rows of the shards `pattern` matches (see the module's doc)."""

    def __init__(self, pattern: Path) -> None:
        self.name = str(pattern)
        self.paths = shard_paths(pattern)
        layout: dict[str, tuple] | None = None
        sizes = []
        for path in self.paths:
            arrays = _headers(path)
            rows = _rows(path, arrays)
            if layout is None:
                layout, first = arrays, path
            else:
                _same_layout(path, arrays, first, layout)
            sizes.append(rows)
        self.sizes = sizes
        self.layout = layout  # {array name: (shape, dtype)} of the first shard

    @property
    def sample_shape(self) -> tuple | None:
        """The sample shape of ``x`` (None for named inputs ``x_<name>``)."""
        return tuple(self.layout["x"][0][1:]) if "x" in self.layout else None

    def load(self, piece: int) -> tuple[Any, Any]:
        from corelib.spec.files import load_npz

        path = self.paths[piece]
        x, y = load_npz(path)
        rows = len(next(iter(x.values())) if isinstance(x, dict) else x)
        if rows != self.sizes[piece]:
            raise DataError(f"{path}: holds {rows} samples now, but {self.sizes[piece]} when training started: "
                            "the shard changed during the run")
        return x, y


def _headers(path: Path) -> dict[str, tuple]:
    """{array name: (shape, dtype)} of the x / y arrays of a shard, from the headers alone."""
    check_file(path)
    try:
        with zipfile.ZipFile(path) as zf:
            try:
                entries = check_entries(zf, str(path), "shard")
            except DLError as exc:
                raise DataError(one_line(exc)) from None
            arrays = {}
            for name, info in entries.items():
                key = name.removesuffix(".npy")
                if key == "x" or key == "y" or key.startswith(("x_", "y_")):
                    with zf.open(info) as fh:
                        try:
                            shape, _, dtype, _ = read_npy_header(fh)
                        except NpyHeaderError as exc:
                            raise DataError(f"{path}: array {key!r} {exc}") from None
                    arrays[key] = (tuple(shape), dtype)
    except DataError:
        raise
    except (OSError, EOFError, ValueError, RuntimeError, NotImplementedError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz shard ({exception_line(exc)})") from None
    if not any(k == "x" or k.startswith("x_") for k in arrays) or not any(k == "y" or k.startswith("y_")
                                                                         for k in arrays):
        raise DataError(f"{path}: a shard needs arrays x and y (or x_<input name> and y_<output name>); "
                        f"it holds {sorted(arrays) or 'neither'}")
    return arrays


def _rows(path: Path, arrays: dict[str, tuple]) -> int:
    counts = {name: shape[0] if shape else 0 for name, (shape, _) in arrays.items()}
    (first, rows), *rest = counts.items()
    for name, n in rest:
        if n != rows:
            raise DataError(f"{path}: {first} has {rows} samples but {name} has {n}; they must match")
    if rows == 0:
        raise DataError(f"{path}: holds no samples (array {first!r} has shape {arrays[first][0]})")
    return rows


def _same_layout(path: Path, arrays: dict[str, tuple], first: Path, layout: dict[str, tuple]) -> None:
    """Refuse a shard whose arrays differ from the first shard's in name, sample shape or kind."""
    if sorted(arrays) != sorted(layout):
        raise DataError(f"{path}: holds arrays {sorted(arrays)}, but the first shard {first} holds {sorted(layout)}; "
                        "every shard needs the same arrays")
    for name, (shape, dtype) in arrays.items():
        shape0, dtype0 = layout[name]
        if shape[1:] != shape0[1:]:
            raise DataError(f"{path}: array {name!r} has samples of shape {shape[1:]}, but in the first shard {first} "
                            f"they have shape {shape0[1:]}")
        if _kind(dtype) != _kind(dtype0):
            raise DataError(f"{path}: array {name!r} holds {dtype}, but in the first shard {first} it holds {dtype0}; "
                            "every shard needs the same kind of numbers (integers or floats)")


def _kind(dtype: Any) -> str:
    return "integers" if dtype.kind in "biu" else "floats" if dtype.kind == "f" else str(dtype)
