"""Reading zip and npz files that may be hostile.

Every entry is checked from its header before a byte of it is inflated:
no duplicate, encrypted, symlinked or oddly compressed entries, no path
that climbs out ("..") or starts at the root, and sizes within a budget.
Arrays are read from .npy headers first (dtype, shape), so a file that
declares a huge array is refused without allocating it, and with pickling
disabled.
"""

from __future__ import annotations

import stat
import zipfile
from typing import IO

import numpy as np

from corelib.errors import ModelFileError

__all__ = ["check_entries", "read_entry", "verify_entry", "npz_headers", "read_npz"]

_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


def check_entries(zf: zipfile.ZipFile, path: str, what: str) -> dict[str, zipfile.ZipInfo]:
    """{name: info} after refusing anything but plain, stored or deflated entries."""
    infos: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        name = info.filename
        if name in infos:
            raise ModelFileError(f"{path}: {what} has two entries named {name!r}")
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name:
            raise ModelFileError(f"{path}: {what} has an entry with an unsafe path {name!r}")
        if info.flag_bits & 0x1:
            raise ModelFileError(f"{path}: {what} entry {name!r} is encrypted")
        if info.compress_type not in _COMPRESSIONS:
            raise ModelFileError(f"{path}: {what} entry {name!r} uses an unsupported compression "
                                 f"(method {info.compress_type})")
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind and kind != stat.S_IFREG:
            raise ModelFileError(f"{path}: {what} entry {name!r} is not a regular file (a link or device)")
        infos[name] = info
    return infos


def read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, limit: int) -> bytes:
    """The entry's bytes, refusing one that declares or inflates to more than `limit`."""
    if info.file_size > limit:
        raise ModelFileError(f"{path}: {info.filename} holds {info.file_size} bytes, "
                             f"more than the model's weights need ({limit})")
    try:
        with zf.open(info) as fh:
            data = fh.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, ValueError) as exc:
        raise ModelFileError(f"{path}: {info.filename} is corrupt ({type(exc).__name__}: {exc})") from None
    if len(data) > limit:
        raise ModelFileError(f"{path}: {info.filename} inflates past its declared size")
    return data


def verify_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> None:
    """Read the entry from start to end in chunks, so that zipfile checks its CRC (reading an
    entry through seeks, as an inner .npz does, may skip that check)."""
    try:
        with zf.open(info) as fh:
            while fh.read(2**20):
                pass
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, ValueError) as exc:
        raise ModelFileError(f"{path}: {info.filename} is corrupt ({type(exc).__name__}: {exc})") from None


def _header(fh: IO[bytes]) -> tuple[tuple, np.dtype]:
    major, minor = np.lib.format.read_magic(fh)
    if (major, minor) == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
    elif (major, minor) in ((2, 0), (3, 0)):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        raise ValueError(f"unknown .npy version {major}.{minor}")
    return tuple(shape), np.dtype(dtype)


def npz_headers(npz: zipfile.ZipFile, path: str, name: str, limit: int) -> dict[str, tuple[tuple, np.dtype]]:
    """{array name: (shape, dtype)} from the members' headers, within `limit` bytes in all."""
    total = 0
    out: dict[str, tuple[tuple, np.dtype]] = {}
    for member, info in check_entries(npz, path, name).items():
        if not member.endswith(".npy"):
            raise ModelFileError(f"{path}: {name} has a member {member!r} that is not an .npy array")
        try:
            with npz.open(info) as fh:
                shape, dtype = _header(fh)
        except (ValueError, OSError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile) as exc:
            raise ModelFileError(f"{path}: {name} member {member!r} is corrupt ({exc})") from None
        if dtype.hasobject:
            raise ModelFileError(f"{path}: {name} contains pickled objects, which dl never loads")
        if dtype.kind not in "fiub" or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ModelFileError(f"{path}: {name} member {member!r} is not a numeric array ({dtype}, {shape})")
        nbytes = dtype.itemsize
        for d in shape:
            nbytes *= d
        total += nbytes
        if total > limit:
            raise ModelFileError(f"{path}: {name} declares arrays of {total} bytes or more, "
                                 f"more than the model's weights need ({limit})")
        out[member[:-4]] = (shape, dtype)
    return out


def read_npz(npz: zipfile.ZipFile, path: str, name: str, limit: int) -> dict[str, np.ndarray]:
    """Every array (headers checked first, no pickles), within `limit` bytes in all."""
    headers = npz_headers(npz, path, name, limit)
    arrays = {}
    for key in headers:
        try:
            with npz.open(key + ".npy") as fh:
                arrays[key] = np.lib.format.read_array(fh, allow_pickle=False)
        except (ValueError, OSError, EOFError, RuntimeError, zipfile.BadZipFile) as exc:
            raise ModelFileError(f"{path}: {name} member {key!r} is corrupt ({exc})") from None
    return arrays
