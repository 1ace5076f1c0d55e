"""One bounded reader of .npy arrays, for model files and data files alike.

numpy's own header reader raises SyntaxError, tokenize.TokenError, TypeError
or KeyError on a hostile header; this one raises only `NpyHeaderError`, whose
text completes a sentence about the array ("... has no readable .npy header
(no NumPy signature)"), so each reader turns it into its own typed error. The
length field is refused past numpy's limit before a byte of the header is
read, the header must be a literal dict of exactly numpy's three keys, and
only a numeric dtype (bool, integer, float) gets through: never objects.
"""

from __future__ import annotations

import ast
import warnings
from typing import IO

import numpy as np

from corelib.errors import one_line, short_repr

__all__ = ["MAX_HEADER_BYTES", "NpyHeaderError", "read_npy_header", "read_npy_data"]

# The longest header read: numpy's own limit (np.load's max_header_size); np.save writes about
# 128 bytes for a numeric array.
MAX_HEADER_BYTES = 10_000


class NpyHeaderError(ValueError):
    """A header that is unreadable or describes something other than numbers."""


def _unreadable(why: str) -> NpyHeaderError:
    return NpyHeaderError(f"has no readable .npy header ({why})")


def read_npy_header(fh: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Parse the header at `fh`: (shape, fortran order, dtype, bytes read)."""
    start = fh.read(8)
    if len(start) < 8 or start[:6] != b"\x93NUMPY":
        raise _unreadable("no NumPy signature")
    major, minor = start[6], start[7]
    if (major, minor) not in ((1, 0), (2, 0), (3, 0)):
        raise _unreadable(f"unknown format version {major}.{minor}")
    width = 2 if major == 1 else 4
    field = fh.read(width)
    if len(field) < width:
        raise _unreadable("the file ends inside it")
    length = int.from_bytes(field, "little")
    if length > MAX_HEADER_BYTES:
        raise _unreadable(f"its length field says {length} bytes, more than numpy's limit of {MAX_HEADER_BYTES}")
    raw = fh.read(length)
    if len(raw) < length:
        raise _unreadable(f"the file ends inside it: {len(raw)} of {length} bytes")
    try:
        header = ast.literal_eval(raw.decode("utf-8" if major == 3 else "latin1"))
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as exc:
        raise _unreadable(f"not a Python dict literal: {type(exc).__name__}") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise _unreadable(f"expected a dict of 'descr', 'fortran_order' and 'shape', found {short_repr(header)}")
    shape, fortran, descr = header["shape"], header["fortran_order"], header["descr"]
    if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape):
        raise _unreadable(f"'shape' is {short_repr(shape)}, not a tuple of sizes")
    if not isinstance(fortran, bool):
        raise _unreadable(f"'fortran_order' is {short_repr(fortran)}, not True or False")
    if not isinstance(descr, str):
        raise NpyHeaderError(f"has a structured dtype {short_repr(descr)}; expected numbers")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecated aliases ('a'): refused below all the same
            dtype = np.dtype(descr)
    except (TypeError, ValueError, SyntaxError) as exc:
        raise _unreadable(f"'descr' {short_repr(descr)} is not a dtype: {one_line(exc)}") from None
    if dtype.hasobject:
        raise NpyHeaderError("holds objects (pickled), which dl never loads; expected numbers")
    if dtype.kind not in "biuf" or dtype.shape:
        raise NpyHeaderError(f"is not numeric (dtype {dtype}); expected numbers")
    return shape, fortran, dtype, 8 + width + length


def read_npy_data(fh: IO[bytes], shape: tuple[int, ...], fortran: bool, dtype: np.dtype) -> np.ndarray:
    """The array after a header `read_npy_header` gave, exactly as many bytes as it declares
    (the caller has checked that size against its budget); a writable array of its own."""
    count = 1
    for d in shape:
        count *= d
    declared = count * dtype.itemsize
    buf = bytearray(declared)
    view, got = memoryview(buf), 0
    while got < declared:
        n = fh.readinto(view[got:])
        if not n:
            raise NpyHeaderError(f"ends after {got} of its {declared} bytes: it is truncated or corrupt")
        got += n
    if fh.read(1):  # at the end of a zip member, its checksum is checked
        raise NpyHeaderError(f"has more bytes than its shape {shape} of {dtype} declares ({declared}): "
                             "it is corrupt")
    arr = np.frombuffer(buf, dtype=dtype, count=count)
    return arr.reshape(shape[::-1]).transpose() if fortran else arr.reshape(shape)
