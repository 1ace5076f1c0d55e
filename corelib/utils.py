"""Helpers Keras users expect (`keras.utils`): `to_categorical`, `normalize`, `set_random_seed`, `clear_session`,
and re-exported: `pad_sequences`, `PyDataset`, `get_file`, the image and time-series data sets, `split_dataset`."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np

from corelib import config
from corelib.downloads import get_file
from corelib.errors import DataError
from corelib.layers.base import reset_name_counters
from corelib.preprocessing.dataset_utils import split_dataset
from corelib.preprocessing.image import array_to_img, img_to_array, load_img, save_img
from corelib.preprocessing.image_dataset import image_dataset_from_directory
from corelib.preprocessing.sequence import pad_sequences
from corelib.preprocessing.timeseries import timeseries_dataset_from_array
from corelib.trainers.py_dataset import PyDataset

__all__ = ["to_categorical", "normalize", "pad_sequences", "set_random_seed", "clear_session", "get_file",
           "PyDataset", "load_img", "img_to_array", "array_to_img", "save_img", "image_dataset_from_directory",
           "timeseries_dataset_from_array", "split_dataset"]


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
