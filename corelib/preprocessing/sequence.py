"""`keras.preprocessing.sequence` and `keras.utils.pad_sequences`: pad (and cut) sequences to one length."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.errors import ConfigError, DataError, short_repr
from corelib.validation import positive_int

__all__ = ["pad_sequences"]


def pad_sequences(sequences: Any, maxlen: int | None = None, dtype: Any = "int32", padding: str = "pre",
                  truncating: str = "pre", value: Any = 0.0) -> np.ndarray:
    """Pad (and cut) sequences of different lengths to one length, as `keras.utils.pad_sequences`.

    >>> pad_sequences([[1], [2, 3], [4, 5, 6]])
    array([[0, 0, 1],
           [0, 2, 3],
           [4, 5, 6]], dtype=int32)
    >>> pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2, padding="post")
    array([[0, 1],
           [2, 3],
           [5, 6]], dtype=int32)

    Args:
        sequences: a list (or any sized iterable) of sequences; each a list or
            array of values, or of equally shaped vectors (then the result has
            their shape after the time axis).
        maxlen: the length of the result; the longest sequence's when None.
        dtype: the result's dtype. Use `object` (or a string dtype) to pad
            strings.
        padding: "pre" or "post": add `value` before or after each sequence.
        truncating: "pre" or "post": drop the values of a sequence longer
            than `maxlen` from its start or its end.
        value: the padding value.

    Returns:
        An array of shape ``(len(sequences), maxlen) + vector shape``.
    """
    if not hasattr(sequences, "__len__"):
        raise DataError(f"`sequences` must be iterable. Received: {short_repr(sequences)}")
    if padding not in ("pre", "post"):
        raise ConfigError(f'Padding type "{padding}" not understood (expected "pre" or "post")')
    if truncating not in ("pre", "post"):
        raise ConfigError(f'Truncating type "{truncating}" not understood (expected "pre" or "post")')
    if maxlen is not None:
        maxlen = positive_int(maxlen, "maxlen", "pad_sequences", allow_zero=True)
    lengths, sample_shape = [], None
    for i, seq in enumerate(sequences):
        try:
            lengths.append(len(seq))
        except TypeError:
            raise DataError(f"`sequences` must be a list of iterables. Found non-iterable at position {i}: "
                            f"{short_repr(seq)}") from None
        if sample_shape is None and len(seq):  # the first non-empty sequence sets the vector shape
            sample_shape = np.asarray(seq).shape[1:]
    if maxlen is None:
        if not lengths:
            raise DataError("pad_sequences: `sequences` is empty and no maxlen is given, so there is no length "
                            "to pad to")
        maxlen = max(lengths)
    dtype = np.dtype(dtype)
    if isinstance(value, str) and dtype.kind not in "OUS":
        raise ConfigError(f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}; "
                          "you should set `dtype=object` for variable length strings.")
    if dtype.kind in "iu" and isinstance(value, (float, np.floating)) and not float(value).is_integer():
        raise ConfigError(f"pad_sequences: value={value!r} does not fit dtype {dtype} (it would become "
                          f"{int(value)}); pass an integer value or a float dtype")
    sample_shape = tuple(sample_shape or ())
    out = np.full((len(lengths), maxlen) + sample_shape, value, dtype=dtype)
    for i, seq in enumerate(sequences):
        n = min(lengths[i], maxlen)
        if n == 0:
            continue
        kept = seq[lengths[i] - n:] if truncating == "pre" else seq[:n]
        kept = np.asarray(kept, dtype=dtype)
        if kept.shape[1:] != sample_shape:
            raise DataError(f"Shape of sample {kept.shape[1:]} of sequence at position {i} is different from "
                            f"expected shape {sample_shape}")
        if padding == "post":
            out[i, :n] = kept
        else:
            out[i, maxlen - n:] = kept
    return out
