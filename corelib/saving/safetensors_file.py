"""Weights in the safetensors format (``save_weights("w.safetensors")``), the format of the
PyTorch and Hugging Face ecosystems: a JSON header of names, dtypes, shapes and byte ranges,
then the raw little-endian data. Reading one never runs code, whoever wrote it.

The tensors are keyed by the weights' paths ("dense/kernel"), in dl's layouts (Keras's: a
Dense kernel is (inputs, units), a Conv2D kernel (kh, kw, in, out), LSTM gates i, f, c, o);
docs/interop.md says how each maps onto a torch module. The header's metadata holds the same
index as an .npz weights file (the weights' order and layer classes), so `load_weights` matches
by structure as it does for .npz; a file without it (written by another tool) is matched by
key, which must then be exactly the model's weight paths.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

import numpy as np

from corelib.errors import ModelFileError
from corelib.saving.archive import write_atomically

__all__ = ["SUFFIX", "is_safetensors", "save_safetensors", "load_safetensors"]

SUFFIX = ".safetensors"
_HEADER_BYTES_PER_WEIGHT = 8192  # names, dtype, shape, offsets and the index entry, at most
_DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "BF16": None, "I8": np.int8, "I16": np.int16,
           "I32": np.int32, "I64": np.int64, "U8": np.uint8, "BOOL": np.bool_}


def is_safetensors(path: str) -> bool:
    return path.lower().endswith(SUFFIX)


def _library() -> Any:
    try:
        import safetensors.numpy
    except ImportError:
        raise ModelFileError('safetensors files need the safetensors package: pip install "dl[safetensors]"') from None
    return safetensors.numpy


def save_safetensors(path: str, index: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` (keyed by weight path) with dl's weights `index` in the header's metadata, atomically."""
    library = _library()
    data = library.save({k: np.ascontiguousarray(v) for k, v in arrays.items()},
                        metadata={"format": "np", "dl": json.dumps(index)})
    write_atomically(path, lambda fh: fh.write(data))


def load_safetensors(path: str, limit: int, weights: int) -> tuple[dict[str, np.ndarray], dict[str, tuple], Any]:
    """(arrays, {key: (shape, dtype)}, dl's weights index as parsed, or None when another tool wrote
    the file) from a safetensors file for a model of `weights` arrays taking at most `limit` bytes,
    its header checked before any tensor is read."""
    library = _library()
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise ModelFileError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
            (header_len,) = struct.unpack("<Q", head)
            if header_len > min(size - 8, _HEADER_BYTES_PER_WEIGHT * weights + 2**16):
                raise ModelFileError(f"{path}: not a safetensors file for this model (its header claims "
                                     f"{header_len} bytes)")
            if size - 8 - header_len > limit:
                raise ModelFileError(f"{path}: the file holds more weight data ({size - 8 - header_len} bytes) "
                                     f"than the model can take ({limit})")
            header = _parse_header(fh.read(header_len), path)
            headers = _check_header(header, size - 8 - header_len, limit, path)
            fh.seek(0)
            data = fh.read()
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the weights file ({exc.strerror or exc})") from None
    try:
        arrays = library.load(data)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type for a bad file
        raise ModelFileError(f"{path}: corrupt safetensors file ({type(exc).__name__}: {exc})") from None
    return arrays, headers, _index(header.get("__metadata__"), path)


def _parse_header(raw: bytes, path: str) -> dict:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ModelFileError(f"{path}: not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: not a safetensors file (its header is not a JSON object)")
    return header


def _check_header(header: dict, data_bytes: int, limit: int, path: str) -> dict[str, tuple]:
    """{key: (shape, dtype)} for every tensor, after checking each one's dtype, shape and byte range."""
    out, total = {}, 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("shape"), list) \
                or not all(isinstance(d, int) and d >= 0 for d in entry["shape"]):
            raise ModelFileError(f"{path}: tensor {key!r} has no valid shape in the header")
        dtype = _DTYPES.get(entry.get("dtype"), "?")
        if dtype is None or dtype == "?":
            raise ModelFileError(f"{path}: tensor {key!r} is {entry.get('dtype')!r}, a dtype dl does not read")
        nbytes = int(np.prod(entry["shape"], dtype=object)) * np.dtype(dtype).itemsize
        offsets = entry.get("data_offsets")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_bytes and offsets[1] - offsets[0] == nbytes):
            raise ModelFileError(f"{path}: tensor {key!r}'s byte range does not fit its shape or the file")
        total += nbytes
        if total > limit:
            raise ModelFileError(f"{path}: the file holds more weight data than the model can take ({limit} bytes)")
        out[key] = (tuple(entry["shape"]), np.dtype(dtype))
    return out


def _index(metadata: Any, path: str) -> Any:
    """dl's index from the header's metadata as parsed (checked by the caller), or None when another
    tool wrote the file."""
    if not isinstance(metadata, dict) or "dl" not in metadata:
        return None
    try:
        return json.loads(metadata["dl"]) if isinstance(metadata["dl"], str) else None
    except (ValueError, RecursionError):
        raise ModelFileError(f"{path}: the header's 'dl' metadata is not a dl weights index") from None
