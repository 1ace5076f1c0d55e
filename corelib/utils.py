"""Helpers Keras users expect: `to_categorical`, `normalize`, `pad_sequences`, `set_random_seed`, `clear_session`."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np

from corelib import config
from corelib.errors import ConfigError, DataError, short_repr
from corelib.layers.base import reset_name_counters
from corelib.validation import positive_int

__all__ = ["to_categorical", "normalize", "pad_sequences", "set_random_seed", "clear_session"]


def to_categorical(y: Any, num_classes: int | None = None, dtype: Any = "float32") -> np.ndarray:
    """One-hot encode integer class labels.

    Args:
        y: integer labels, any shape (a trailing axis of 1 is dropped, as Keras does).
        num_classes: number of classes; max(y) + 1 when None.
        dtype: dtype of the result.

    Returns:
        An array of shape y.shape + (num_classes,).
    """
    y = np.asarray(y)
    if y.dtype.kind == "f":
        labels = y.astype(np.int64)
        if not np.array_equal(labels, y):
            raise DataError("to_categorical expects integer class labels; received non-integer values")
    elif y.dtype.kind in "biu":
        labels = y.astype(np.int64)
    else:
        raise DataError(f"to_categorical expects integer class labels. Received: dtype={y.dtype}")
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)].flat[0]
        raise DataError(f"to_categorical: label {int(bad)} is outside [0, {num_classes}). Received: num_classes={num_classes}")
    out = np.zeros(labels.shape + (int(num_classes),), dtype=dtype)
    np.put_along_axis(out, labels[..., None], 1, axis=-1)
    return out


def normalize(x: Any, axis: int = -1, order: int = 2) -> np.ndarray:
    """Scale `x` to unit `order`-norm along `axis` (zero vectors stay zero).

    Args:
        x: the array.
        axis: axis along which to normalise.
        order: the norm's order (2 for L2).
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / np.where(norm == 0, 1, norm)


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


def set_random_seed(seed: int) -> None:
    """Seed every random draw dl makes, and Python's and NumPy's global ones, as `keras.utils.set_random_seed`.

    The same as `corelib.set_seed`; under this name Keras scripts run unchanged.

    Args:
        seed: a non-negative int.
    """
    config.set_seed(seed)


def clear_session(free_memory: bool = True) -> None:
    """Start automatic layer names afresh ("dense", "dense_1", ...), as `keras.utils.clear_session`.

    dl's only global model-building state is the count behind automatic names.

    Args:
        free_memory: also run Python's garbage collector.
    """
    reset_name_counters()
    if free_memory:
        gc.collect()


def plot_model(model: Any, to_file: str = "model.png", show_shapes: bool = True, show_layer_names: bool = True,
               rankdir: str = "TB", **kwargs: Any) -> str:
    """Draw the model's graph, as `keras.utils.plot_model` (see corelib.plotting.model_plot)."""
    from corelib.plotting.model_plot import plot_model as _plot

    return _plot(model, to_file, show_shapes=show_shapes, show_layer_names=show_layer_names, rankdir=rankdir, **kwargs)


def model_to_dot(model: Any, show_shapes: bool = True, show_layer_names: bool = True, rankdir: str = "TB") -> str:
    """The model's graph as Graphviz DOT text."""
    from corelib.plotting.model_plot import model_to_dot as _dot

    return _dot(model, show_shapes=show_shapes, show_layer_names=show_layer_names, rankdir=rankdir)
