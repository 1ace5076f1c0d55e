"""Reading the pickles inside Keras's data set files without letting them run code.

CIFAR-10's batches are pickled dicts and imdb/reuters store ragged sequences
as object arrays, which NumPy can only save as pickles. The loaders read them
only after the downloaded file matched its published sha256, and then through
`RestrictedUnpickler`, which rebuilds plain containers and NumPy arrays and
refuses every other global (``os.system``, ``builtins.eval`` ...): a file
given with another hash, or changed in the cache after its check, still
cannot run code.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from typing import IO, Any

import numpy as np

from corelib.errors import DataError, one_line

__all__ = ["RestrictedUnpickler", "load_pickle", "load_npz_with_objects"]


def _allowed_globals() -> dict[tuple[str, str], Any]:
    try:
        from numpy._core import multiarray  # NumPy 2
    except ImportError:  # pragma: no cover - NumPy 1
        from numpy.core import multiarray
    # Files written under NumPy 1 name numpy.core, under NumPy 2 numpy._core: both map to this NumPy's function.
    return {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
    }


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds only built-in containers, numbers, strings and NumPy arrays."""

    def find_class(self, module: str, name: str) -> Any:
        allowed = _allowed_globals()
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing to load the global {module}.{name} (only NumPy arrays are "
                                         "allowed in a data set file)")
        return allowed[(module, name)]


def load_pickle(fh: IO[bytes], path: str, encoding: str = "bytes") -> Any:
    """Unpickle one object from `fh` with `RestrictedUnpickler`; errors name `path`."""
    try:
        return RestrictedUnpickler(fh, encoding=encoding).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise DataError(f"Cannot read the pickle in {path}: {type(exc).__name__}: {one_line(exc)}") from None


def load_npz_with_objects(path: str) -> dict[str, np.ndarray]:
    """The arrays of an .npz file; numeric ones read without pickle, object ones with `RestrictedUnpickler`."""
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(".npy"):
                    arrays[name[:-4]] = _read_member(io.BytesIO(archive.read(name)), f"{path}:{name}")
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"Cannot read {path} as an .npz file: {type(exc).__name__}: {one_line(exc)}") from None
    return arrays


def _read_member(fh: io.BytesIO, where: str) -> np.ndarray:
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):  # 3.0 differs only in the header's text encoding
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unknown .npy format version {version}")
    except ValueError as exc:
        raise DataError(f"{where} has no readable .npy header: {one_line(exc)}") from None
    if not dtype.hasobject:
        fh.seek(0)
        return np.lib.format.read_array(fh, allow_pickle=False)
    array = load_pickle(fh, where, encoding="latin1")
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        raise DataError(f"{where}: its pickle holds {type(array).__name__} "
                        f"{getattr(array, 'shape', '')}, not the object array of shape {shape} its header announces")
    return array
