"""The built-in metrics: accuracies and regression errors, weighted by sample_weight.

Per-sample values are light vectorised NumPy (an argmax, a comparison, a mean);
state is a float64 weighted sum and weight total.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from corelib.errors import ConfigError, ShapeError
from corelib.metrics import MeanMetricWrapper
from corelib.validation import positive_int

__all__ = [
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "RootMeanSquaredError",
]


def _same_shape(metric: MeanMetricWrapper, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    if y_true.shape != y_pred.shape:
        if y_true.size != y_pred.size:
            raise ShapeError(
                f"Metric '{metric.name}' expects y_true with the shape of y_pred {y_pred.shape}. "
                f"Received: y_true.shape={y_true.shape}"
            )
        y_true = y_true.reshape(y_pred.shape)
    return y_true


def _labels(metric: MeanMetricWrapper, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    lead = y_pred.shape[:-1]
    if y_true.shape != lead:
        if y_true.size != math.prod(lead):
            raise ShapeError(
                f"Metric '{metric.name}' expects integer labels of shape {lead} for y_pred of shape "
                f"{y_pred.shape}. Received: y_true.shape={y_true.shape}"
            )
        y_true = y_true.reshape(lead)
    return y_true


def _per_sample(values: np.ndarray) -> np.ndarray:
    """The mean over the last axis of entrywise values; a 1-D array holds one per sample already."""
    return values.mean(axis=-1) if values.ndim > 1 else values


def _binary(y_true: np.ndarray, y_pred: np.ndarray, threshold: float) -> np.ndarray:
    return _per_sample((y_pred > threshold) == (y_true > 0.5))


class BinaryAccuracy(MeanMetricWrapper):
    """How often (y_pred > threshold) equals the 0/1 target, averaged over the last axis.

    Args:
        name: key in logs ("binary_accuracy").
        dtype: see `Metric`.
        threshold: decision threshold on y_pred (0.5).
    """

    def __init__(self, name: str | None = None, dtype: Any = None, threshold: float = 0.5) -> None:
        try:
            self.threshold = float(threshold)
        except (TypeError, ValueError):
            raise ConfigError(f"BinaryAccuracy: threshold must be a float. Received: threshold={threshold!r}") from None
        super().__init__(name=name, dtype=dtype)

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return _binary(_same_shape(self, y_true, y_pred), y_pred, self.threshold)

    def get_config(self) -> dict:
        return {"name": self.name, "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) equals argmax(y_true) (one-hot targets).

    Args:
        name: key in logs ("categorical_accuracy").
        dtype: see `Metric`.
    """

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        y_true = _same_shape(self, y_true, y_pred)
        return np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) equals the integer label.

    Args:
        name: key in logs ("sparse_categorical_accuracy").
        dtype: see `Metric`.
    """

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        y_true = _labels(self, y_true, y_pred)
        return np.argmax(y_pred, axis=-1) == y_true


class Accuracy(MeanMetricWrapper):
    """How often predictions equal the targets exactly, as Keras's ``Accuracy`` class
    (compile's ``"accuracy"`` string is `corelib.metrics.CompileAccuracy` instead, which picks
    binary, categorical or sparse accuracy from the shapes).

    Args:
        name: key in logs ("accuracy").
        dtype: see `Metric`.
    """

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        y_true = _same_shape(self, y_true, y_pred)
        equal = (y_true == y_pred).astype(y_pred.dtype if y_pred.dtype.kind == "f" else np.float64)
        return equal.reshape(equal.shape[0], -1).mean(axis=1) if equal.ndim > 1 else equal


def _in_top_k(y_pred: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    # Ties at the boundary count as inside the top k (TensorFlow's in_top_k, used by Keras).
    score = np.take_along_axis(y_pred, labels[..., None].astype(np.intp), axis=-1)
    return (y_pred > score).sum(axis=-1) < k


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target class is among the k highest predictions.

    Args:
        k: how many top predictions count (5).
        name: key in logs ("top_k_categorical_accuracy").
        dtype: see `Metric`.
    """

    def __init__(self, k: int = 5, name: str | None = None, dtype: Any = None) -> None:
        self.k = positive_int(k, "k", "TopKCategoricalAccuracy")
        super().__init__(name=name, dtype=dtype)

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        y_true = _same_shape(self, y_true, y_pred)
        return _in_top_k(y_pred, np.argmax(y_true, axis=-1), self.k)

    def get_config(self) -> dict:
        return {"name": self.name, "k": self.k}


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """How often the integer label is among the k highest predictions.

    Args:
        k: how many top predictions count (5).
        name: key in logs ("sparse_top_k_categorical_accuracy").
        dtype: see `Metric`.
    """

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        labels = _labels(self, y_true, y_pred)
        if labels.dtype.kind == "f":
            labels = labels.astype(np.int64)
        return _in_top_k(y_pred, labels, self.k)


class MeanAbsoluteError(MeanMetricWrapper):
    """mean(|y_true - y_pred|) over the last axis, averaged over samples.

    Args:
        name: key in logs ("mean_absolute_error"; "mae" when asked for by that name).
        dtype: see `Metric`.
    """

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return _per_sample(np.abs(_same_shape(self, y_true, y_pred) - y_pred))


class MeanSquaredError(MeanMetricWrapper):
    """mean((y_true - y_pred) ** 2) over the last axis, averaged over samples.

    Args:
        name: key in logs ("mean_squared_error"; "mse" when asked for by that name).
        dtype: see `Metric`.
    """

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return _per_sample(np.square(_same_shape(self, y_true, y_pred) - y_pred))


class RootMeanSquaredError(MeanSquaredError):
    """sqrt of the (weighted) mean squared error over everything seen.

    Args:
        name: key in logs ("root_mean_squared_error"; "rmse" when asked for by that name).
        dtype: see `Metric`.
    """

    def result(self) -> float:
        return math.sqrt(super().result())
