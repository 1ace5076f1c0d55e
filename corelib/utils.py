"""Array helpers Keras users expect: `to_categorical` and `normalize`."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.errors import DataError

__all__ = ["to_categorical", "normalize"]


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


def plot_model(model: Any, to_file: str = "model.png", show_shapes: bool = True, show_layer_names: bool = True,
               rankdir: str = "TB", **kwargs: Any) -> str:
    """Draw the model's graph, as `keras.utils.plot_model` (see corelib.plotting.model_plot)."""
    from corelib.plotting.model_plot import plot_model as _plot

    return _plot(model, to_file, show_shapes=show_shapes, show_layer_names=show_layer_names, rankdir=rankdir, **kwargs)


def model_to_dot(model: Any, show_shapes: bool = True, show_layer_names: bool = True, rankdir: str = "TB") -> str:
    """The model's graph as Graphviz DOT text."""
    from corelib.plotting.model_plot import model_to_dot as _dot

    return _dot(model, show_shapes=show_shapes, show_layer_names=show_layer_names, rankdir=rankdir)
