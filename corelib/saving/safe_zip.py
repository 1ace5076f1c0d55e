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
import zlib

import numpy as np

from corelib.errors import ModelFileError, exception_line
from corelib.saving.npy_header import NpyHeaderError, read_npy_data, read_npy_header

__all__ = ["CORRUPT_ENTRY_ERRORS", "check_entries", "read_entry", "verify_entry", "npz_headers", "read_npz"]

# What reading a damaged entry may raise: the zip layer, a bad deflate stream (zlib.error),
# a truncated file.
CORRUPT_ENTRY_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError,
                        NotImplementedError, ValueError)

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
    except CORRUPT_ENTRY_ERRORS as exc:
        raise ModelFileError(f"{path}: {info.filename} is corrupt ({exception_line(exc)})") from None
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
    except CORRUPT_ENTRY_ERRORS as exc:
        raise ModelFileError(f"{path}: {info.filename} is corrupt ({exception_line(exc)})") from None


def npz_headers(npz: zipfile.ZipFile, path: str, name: str, limit: int) -> dict[str, tuple[tuple, np.dtype]]:
    """{array name: (shape, dtype)} from the members' headers, within `limit` bytes in all."""
    total = 0
    out: dict[str, tuple[tuple, np.dtype]] = {}
    for member, info in check_entries(npz, path, name).items():
        if not member.endswith(".npy"):
            raise ModelFileError(f"{path}: {name} has a member {member!r} that is not an .npy array")
        try:
            with npz.open(info) as fh:
                shape, _, dtype, _ = read_npy_header(fh)
        except NpyHeaderError as exc:
            raise ModelFileError(f"{path}: {name} member {member!r} {exc}") from None
        except CORRUPT_ENTRY_ERRORS as exc:
            raise ModelFileError(f"{path}: {name} member {member!r} is corrupt ({exception_line(exc)})") from None
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
                shape, fortran, dtype, _ = read_npy_header(fh)
                arrays[key] = read_npy_data(fh, shape, fortran, dtype)
        except NpyHeaderError as exc:
            raise ModelFileError(f"{path}: {name} member {key + '.npy'!r} {exc}") from None
        except CORRUPT_ENTRY_ERRORS as exc:
            raise ModelFileError(f"{path}: {name} member {key + '.npy'!r} is corrupt "
                                 f"({exception_line(exc)})") from None
    return arrays
