"""Keras's F-scores (FBetaScore, F1Score) and coefficient of determination (R2Score).

State is float64 sums per class (or output), created by the first batch,
which fixes the number of classes; the sums add up over batches.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from corelib.builtin.metrics_classification import sample_weights
from corelib.errors import ConfigError, ShapeError
from corelib.metrics import Metric
from corelib.validation import positive_int, positive_number

__all__ = ["FBetaScore", "F1Score", "R2Score"]

EPSILON = 1e-7  # Keras's backend epsilon, in the F-scores' denominators


def _two_d(name: str, y_true: Any, y_pred: Any, accept_1d: bool = False) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if accept_1d and y_pred.ndim == 1:
        y_pred = y_pred[:, None]
    if accept_1d and y_true.ndim == 1 and y_true.shape[0] == y_pred.shape[0]:
        y_true = y_true[:, None]
    if y_pred.ndim != 2 or y_true.shape != y_pred.shape:
        raise ShapeError(f"Metric '{name}' expects 2D inputs of one shape (batch_size, output_dim). "
                         f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")
    return y_true, y_pred


class _Sums(Metric):
    """A metric whose state is named float64 arrays built by the first batch."""

    _sums: tuple[str, ...] = ()

    def reset_state(self) -> None:
        for key in self._sums:  # keep the shape of a built state, as Keras does
            old = getattr(self, key, None)
            setattr(self, key, None if old is None else np.zeros_like(old))

    def _build(self, shape: tuple, columns: int) -> None:
        """Create zero sums of `shape` on the first batch; later batches must have `columns` columns."""
        known = getattr(self, "_num_columns", None)
        if known is not None and known != columns:
            raise ShapeError(f"Metric '{self.name}' was built for {known} classes; received y_pred with {columns}")
        if getattr(self, self._sums[0]) is None:
            for key in self._sums:
                setattr(self, key, np.zeros(shape))
        self._num_columns = columns

    def get_state(self) -> dict:
        if getattr(self, self._sums[0]) is None:
            return {}
        return {key: np.asarray(getattr(self, key)).tolist() for key in self._sums}

    def set_state(self, state: dict) -> None:
        for key in self._sums:
            setattr(self, key, None if key not in state else np.array(state[key], dtype=np.float64))
        first = getattr(self, self._sums[0])
        self._num_columns = first.shape[0] if first is not None and first.ndim else None


class FBetaScore(_Sums):
    """F-beta score: (1 + beta**2) * precision * recall / (beta**2 * precision + recall),
    for multi-class or multi-label classification.

    Args:
        average: None (`result()` is an array, one score per class), "micro"
            (from the counts of all classes together), "macro" (the mean of the
            per-class scores) or "weighted" (their mean weighted by each class's
            support, the sum of y_true).
        beta: the weight of recall, > 0 (1.0).
        threshold: y_pred > threshold is a positive prediction, in (0, 1]; None
            (the default) takes the largest prediction of each sample (its argmax).
        name: key in logs ("fbeta_score").
        dtype: see `Metric`.

    Inputs are 2-D (samples, classes), y_true of 0/1 (one-hot or multi-hot).
    As in Keras, 1e-7 is added to every denominator.
    """

    _sums = ("true_positives", "false_positives", "false_negatives", "intermediate_weights")

    def __init__(self, average: str | None = None, beta: float = 1.0, threshold: float | None = None,
                 name: str | None = "fbeta_score", dtype: Any = None) -> None:
        owner = type(self).__name__
        if average not in (None, "micro", "macro", "weighted"):
            raise ConfigError(f"{owner}: average must be one of None, 'micro', 'macro', 'weighted'. "
                              f"Received: average={average!r}")
        self.average = average
        self.beta = positive_number(beta, "beta", owner)
        if threshold is not None:
            value = positive_number(threshold, "threshold", owner)
            if value > 1.0:
                raise ConfigError(f"{owner}: threshold must be in (0, 1] or None. Received: threshold={threshold!r}")
            threshold = value
        self.threshold = threshold
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = _two_d(self.name, y_true, y_pred)
        columns = y_pred.shape[1]
        self._build(() if self.average == "micro" else (columns,), columns)
        if self.threshold is None:  # the largest prediction of each row; an all-zero row predicts nothing
            predicted = (y_pred >= y_pred.max(axis=1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        predicted = predicted.astype(np.float64)
        w = sample_weights(self.name, sample_weight, y_pred.shape)
        axis = None if self.average == "micro" else 0
        self.true_positives = self.true_positives + np.sum(predicted * y_true * w, axis=axis)
        self.false_positives = self.false_positives + np.sum(predicted * (1.0 - y_true) * w, axis=axis)
        self.false_negatives = self.false_negatives + np.sum((1.0 - predicted) * y_true * w, axis=axis)
        self.intermediate_weights = self.intermediate_weights + np.sum(y_true * w, axis=axis)

    def result(self) -> Any:
        if self.true_positives is None:
            return np.zeros(0) if self.average is None else 0.0
        tp = self.true_positives
        precision = tp / (tp + self.false_positives + EPSILON)
        recall = tp / (tp + self.false_negatives + EPSILON)
        b2 = self.beta**2
        score = (1.0 + b2) * precision * recall / (b2 * precision + recall + EPSILON)
        if self.average is None:
            return np.asarray(score)
        if self.average == "weighted":
            support = self.intermediate_weights
            return float(np.sum(score * support / (np.sum(support) + EPSILON)))
        return float(np.mean(score))

    def get_config(self) -> dict:
        return {"name": self.name, "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """F1 score, the harmonic mean of precision and recall: FBetaScore with beta = 1.

    Args:
        average: None (one score per class), "micro", "macro" or "weighted"; see `FBetaScore`.
        threshold: y_pred > threshold is positive; None takes each sample's argmax.
        name: key in logs ("f1_score").
        dtype: see `Metric`.
    """

    def __init__(self, average: str | None = None, threshold: float | None = None, name: str | None = "f1_score",
                 dtype: Any = None) -> None:
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config


class R2Score(_Sums):
    """Coefficient of determination: 1 - sum((y_true - y_pred)**2) / sum((y_true - mean(y_true))**2),
    per output, then aggregated.

    Args:
        class_aggregation: "uniform_average" (mean over outputs), "variance_weighted_average"
            (weighted by each output's variance of y_true) or None (`result()` is an array).
        num_regressors: the number of independent variables of an adjusted R2 score,
            1 - (1 - r2) (n - 1) / (n - p - 1) with n the number of entries seen (0: plain R2).
        name: key in logs ("r2_score").
        dtype: see `Metric`.

    Inputs are 2-D (samples, outputs); 1-D inputs are one output. An output whose
    y_true is constant scores 0 (or NaN if predicted exactly), as in Keras.
    """

    _sums = ("squared_sum", "sum", "total_mse", "count")

    def __init__(self, class_aggregation: str | None = "uniform_average", num_regressors: int = 0,
                 name: str | None = "r2_score", dtype: Any = None) -> None:
        choices = (None, "uniform_average", "variance_weighted_average")
        if class_aggregation not in choices:
            raise ConfigError(f"R2Score: class_aggregation must be one of {choices}. "
                              f"Received: class_aggregation={class_aggregation!r}")
        self.class_aggregation = class_aggregation
        self.num_regressors = positive_int(num_regressors, "num_regressors", "R2Score", allow_zero=True)
        self.num_samples = 0
        super().__init__(name=name, dtype=dtype)

    def reset_state(self) -> None:
        super().reset_state()
        self.num_samples = 0

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = _two_d(self.name, y_true, y_pred, accept_1d=True)
        columns = y_pred.shape[1]
        self._build((columns,), columns)
        w = sample_weights(self.name, sample_weight, y_true.shape)
        weighted = y_true * w
        self.sum = self.sum + weighted.sum(axis=0)
        self.squared_sum = self.squared_sum + (y_true * weighted).sum(axis=0)
        self.total_mse = self.total_mse + ((y_true - y_pred) ** 2 * w).sum(axis=0)
        self.count = self.count + w.sum(axis=0)
        self.num_samples += y_true.size  # Keras counts entries, not rows

    def result(self) -> Any:
        if self.sum is None:
            return np.zeros(0) if self.class_aggregation is None else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self.sum / self.count
            total = self.squared_sum - self.sum * mean
            raw = 1.0 - self.total_mse / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score: Any = float(np.mean(raw))
        elif self.class_aggregation == "variance_weighted_average":
            score = float(np.sum(total * raw) / np.sum(total))
        else:
            score = raw
        p, n = self.num_regressors, self.num_samples
        if p:
            if p > n - 1:
                warnings.warn("More independent predictors than datapoints in adjusted R2 score. "
                              "Falling back to standard R2 score.", stacklevel=2)
            elif p == n - 1:
                warnings.warn("Division by zero in adjusted R2 score. Falling back to standard R2 score.",
                              stacklevel=2)
            else:
                score = 1.0 - (1.0 - score) * (n - 1) / (n - p - 1)
        return score

    def get_state(self) -> dict:
        state = super().get_state()
        return {**state, "num_samples": self.num_samples} if state else state

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        self.num_samples = int(round(float(state.get("num_samples", 0))))

    def get_config(self) -> dict:
        return {"name": self.name, "class_aggregation": self.class_aggregation, "num_regressors": self.num_regressors}
