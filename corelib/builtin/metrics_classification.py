"""Keras's confusion-matrix metrics Precision and Recall, and the counting they share with AUC.

State is float64 counts of (weighted) true and false positives and negatives
at each threshold; they add up over batches and replicas. A prediction is
positive at threshold t when y_pred > t; a target is positive when it is
nonzero (Keras casts y_true to bool). Counting is vectorised NumPy: each
prediction is placed among the sorted thresholds (searchsorted) and the counts
at every threshold are cumulative sums of per-bucket weights (bincount).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from corelib.errors import ConfigError, ShapeError
from corelib.metrics import Metric
from corelib.validation import positive_int

__all__ = ["Precision", "Recall", "sample_weights", "counts_above", "as_pair", "divide_no_nan",
           "parse_thresholds", "evenly_spaced", "EPSILON", "CONFUSION_COUNTS"]

EPSILON = 1e-7  # Keras's backend epsilon: AUC's end thresholds are -EPSILON and 1 + EPSILON
NEG_INF = -1e10  # Keras's value for predictions outside the top k
CONFUSION_COUNTS = ("true_positives", "false_positives", "true_negatives", "false_negatives")


def divide_no_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b, 0 where b is 0 (Keras's divide_no_nan)."""
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    return np.divide(a, b, out=np.zeros(a.shape), where=b != 0)


def as_pair(name: str, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """y_true and y_pred as float64 arrays of one shape (a y_true of the same size is reshaped)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        if y_true.size != y_pred.size:
            raise ShapeError(f"Metric '{name}' expects y_true with the shape of y_pred {y_pred.shape}. "
                             f"Received: y_true.shape={y_true.shape}")
        y_true = y_true.reshape(y_pred.shape)
    return y_true.astype(np.float64, copy=False), y_pred


def sample_weights(name: str, sample_weight: Any, shape: tuple) -> np.ndarray:
    """Weights of shape `shape`: (N,) or (N, 1) weights weigh every entry of a sample."""
    if sample_weight is None:
        return np.ones(shape)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.size == int(np.prod(shape)) and w.shape != shape:
        w = w.reshape(shape)
    while w.ndim < len(shape):
        w = w[..., None]
    try:
        return np.broadcast_to(w, shape)
    except ValueError:
        raise ShapeError(f"Metric '{name}': sample_weight of shape {np.shape(sample_weight)} does not fit "
                         f"y_pred of shape {shape}") from None


def parse_thresholds(owner: str, thresholds: Any) -> list[float]:
    """`thresholds` (a float or a sequence of them, each in [0, 1]) as a list of floats."""
    values = [thresholds] if np.ndim(thresholds) == 0 else list(np.asarray(thresholds).ravel())
    try:
        out = [float(t) for t in values]
    except (TypeError, ValueError):
        out = [float("nan")]
    if not out or any(not 0.0 <= t <= 1.0 for t in out) or any(isinstance(t, bool) for t in values):
        raise ConfigError(f"{owner}: thresholds must be a float or a list of floats in [0, 1]. "
                          f"Received: thresholds={thresholds!r}")
    return out


def evenly_spaced(thresholds: Sequence[float]) -> bool:
    """Keras's test for the linearly spaced thresholds its fast path (and AUC's clipping) uses."""
    n = len(thresholds)
    return n >= 3 and bool(np.allclose(thresholds, np.arange(n) / (n - 1), atol=EPSILON))


def counts_above(y_pred: np.ndarray, positive: np.ndarray, weights: np.ndarray,
                 thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(tp, fp, tn, fn) at each of the ascending `thresholds`, with columns kept.

    y_pred, positive (bool) and weights are (M, L): L columns counted apart.
    Returns arrays of shape (T, L).
    """
    t, columns = len(thresholds), y_pred.shape[1]
    # pred > thresholds[j] for exactly the j below the number of thresholds under pred
    bucket = np.searchsorted(thresholds, y_pred, side="left")
    bucket[np.isnan(y_pred)] = 0  # NaN is above no threshold
    bucket += (t + 1) * np.arange(columns)
    pos_w = np.where(positive, weights, 0.0)
    neg_w = weights - pos_w
    size = (t + 1) * columns
    per_bucket_pos = np.bincount(bucket.ravel(), pos_w.ravel(), size).reshape(columns, t + 1)
    per_bucket_neg = np.bincount(bucket.ravel(), neg_w.ravel(), size).reshape(columns, t + 1)
    # tp[j] = weight of positives in buckets j + 1 .. t
    tp = np.cumsum(per_bucket_pos[:, ::-1], axis=1)[:, ::-1][:, 1:].T
    fp = np.cumsum(per_bucket_neg[:, ::-1], axis=1)[:, ::-1][:, 1:].T
    return tp, fp, neg_w.sum(axis=0) - fp, pos_w.sum(axis=0) - tp


class _ConfusionMetric(Metric):
    """Precision and Recall: counts at `thresholds`, optionally of the top k or of one class."""

    additive_state = True  # counts over disjoint batches add up
    _counted: tuple[str, str] = ("true_positives", "false_positives")

    def __init__(self, thresholds: Any = None, top_k: int | None = None, class_id: int | None = None,
                 name: str | None = None, dtype: Any = None) -> None:
        owner = type(self).__name__
        self.init_thresholds = thresholds
        self.top_k = None if top_k is None else positive_int(top_k, "top_k", owner)
        self.class_id = None if class_id is None else positive_int(class_id, "class_id", owner, allow_zero=True)
        if thresholds is not None:
            self.thresholds = parse_thresholds(owner, thresholds)
        else:
            self.thresholds = [0.5 if top_k is None else NEG_INF]
        self._order = np.argsort(self.thresholds, kind="stable")
        super().__init__(name=name, dtype=dtype)

    def reset_state(self) -> None:
        for key in self._counted:
            setattr(self, key, np.zeros(len(self.thresholds)))

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = as_pair(self.name, y_true, y_pred)
        weights = sample_weights(self.name, sample_weight, y_pred.shape)
        if self.top_k is not None:
            order = np.argsort(-y_pred, axis=-1, kind="stable")[..., : self.top_k]  # ties: the lower index
            keep = np.zeros(y_pred.shape, dtype=bool)
            np.put_along_axis(keep, order, True, axis=-1)
            y_pred = np.where(keep, y_pred, NEG_INF)
        if self.class_id is not None:
            if y_pred.ndim < 2 or self.class_id >= y_pred.shape[-1]:
                raise ShapeError(f"Metric '{self.name}': class_id={self.class_id} needs y_pred of shape "
                                 f"(samples, num_classes > {self.class_id}). Received: y_pred.shape={y_pred.shape}")
            y_true, y_pred, weights = y_true[..., self.class_id], y_pred[..., self.class_id], weights[..., self.class_id]
        ordered = np.asarray(self.thresholds)[self._order]
        counts = counts_above(y_pred.reshape(-1, 1), y_true.reshape(-1, 1) != 0, weights.reshape(-1, 1), ordered)
        found = dict(zip(CONFUSION_COUNTS, counts))
        for key in self._counted:
            getattr(self, key)[self._order] += found[key][:, 0]

    def _result(self, other: str) -> Any:
        value = divide_no_nan(self.true_positives, self.true_positives + getattr(self, other))
        return float(value[0]) if len(self.thresholds) == 1 else value

    def get_state(self) -> dict:
        return {key: getattr(self, key).tolist() for key in self._counted}

    def set_state(self, state: dict) -> None:
        for key in self._counted:
            setattr(self, key, np.array(state[key], dtype=np.float64).reshape(len(self.thresholds)))

    def get_config(self) -> dict:
        return {"name": self.name, "thresholds": self.init_thresholds, "top_k": self.top_k, "class_id": self.class_id}


class Precision(_ConfusionMetric):
    """Precision: true positives / (true positives + false positives), 0 when nothing is predicted positive.

    Args:
        thresholds: a float or a list of floats in [0, 1]; y_pred > threshold is a
            positive prediction (0.5; with top_k, every top-k prediction). With a
            list, `result()` is an array, one value per threshold.
        top_k: only the k highest predictions of a sample can be positive.
        class_id: count only this class (the last axis of y_pred).
        name: key in logs ("precision").
        dtype: see `Metric`.

    Without class_id, every entry of y_pred is one binary prediction.
    """

    _counted = ("true_positives", "false_positives")

    def result(self) -> Any:
        return self._result("false_positives")


class Recall(_ConfusionMetric):
    """Recall: true positives / (true positives + false negatives), 0 when there are no positives.

    Args:
        thresholds: as `Precision`.
        top_k: only the k highest predictions of a sample can be positive.
        class_id: count only this class (the last axis of y_pred).
        name: key in logs ("recall").
        dtype: see `Metric`.
    """

    _counted = ("true_positives", "false_negatives")

    def result(self) -> Any:
        return self._result("false_negatives")
