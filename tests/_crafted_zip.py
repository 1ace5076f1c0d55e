"""Byte-level builders of crafted model files for tests/test_model_file_safety.py:
zip archives written entry by entry, config.json and weights.npz edited in
place, zip headers patched, .npy headers and raw deflate streams made by hand.
"""

from __future__ import annotations

import io
import json
import struct
import warnings
import zipfile
import zlib

import numpy as np


def _entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]], compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name" is the point of one case
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in entries:
                zf.writestr(name, data, compress_type=compress)
    return buf.getvalue()


def _rebuild(good: bytes, replace: dict | None = None, extra: list | None = None) -> bytes:
    """The good file with entries replaced (value bytes, or a function of the old
    bytes) and extra (name, bytes) entries appended."""
    out = []
    for name, data in _entries(good).items():
        new = (replace or {}).get(name, data)
        out.append((name, new(data) if callable(new) else new))
    return _zip(out + list(extra or []))


def _edit_config(good: bytes, fn) -> bytes:
    doc = json.loads(_entries(good)["config.json"])
    result = fn(doc)
    text = result if isinstance(result, (str, bytes)) else json.dumps(doc)
    return _rebuild(good, {"config.json": text.encode() if isinstance(text, str) else text})


def _npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _arrays(npz_bytes: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(npz_bytes)) as npz:
        return {k: npz[k] for k in npz.files}


def _edit_npz(good: bytes, entry: str, fn) -> bytes:
    def edit(data: bytes) -> bytes:
        arrays = _arrays(data)
        result = fn(arrays)
        return result if isinstance(result, bytes) else _npz(**arrays)
    return _rebuild(good, {entry: edit})


def _patch(data: bytes, name: str, *, flags: int | None = None, method: int | None = None,
           file_size: int | None = None, external_attr: int | None = None) -> bytes:
    """Overwrite header fields of entry `name` in both its local and its central header."""
    buf = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        pos = zf.start_dir
        for info in zf.infolist():
            assert buf[pos:pos + 4] == b"PK\x01\x02"
            n, m, k = struct.unpack_from("<HHH", buf, pos + 28)
            if info.filename == name:
                local = info.header_offset
                if flags is not None:
                    struct.pack_into("<H", buf, pos + 8, flags)
                    struct.pack_into("<H", buf, local + 6, flags)
                if method is not None:
                    struct.pack_into("<H", buf, pos + 10, method)
                    struct.pack_into("<H", buf, local + 8, method)
                if file_size is not None:
                    struct.pack_into("<I", buf, pos + 24, file_size)
                    struct.pack_into("<I", buf, local + 22, file_size)
                if external_attr is not None:
                    struct.pack_into("<I", buf, pos + 38, external_attr)
            pos += 46 + n + m + k
    return bytes(buf)


def _npy_header_only(shape: tuple, dtype: str = "<f4") -> bytes:
    """A .npy whose header claims `shape` but which holds 16 bytes of data."""
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + bytes(16)


def _raw_deflate_member(name: str, payload_size: int, head: bytes = b"") -> bytes:
    """A zip whose one member `name` is `head` followed by payload_size zeros, deflated,
    written by hand so the payload is compressed once (fast) not via zipfile."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(2**20)
    parts = [c.compress(head)] + [c.compress(chunk) for _ in range(payload_size // len(chunk))] + [c.flush()]
    body = b"".join(parts)
    crc = zlib.crc32(head)
    for _ in range(payload_size // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    size = len(head) + payload_size
    fname = name.encode()
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(body), size, len(fname), 0)
    central = struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(body), size,
                          len(fname), 0, 0, 0, 0, 0, 0)
    cd_offset = len(local) + len(fname) + len(body)
    cd = central + fname
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(cd), cd_offset, 0)
    return local + fname + body + cd + end
