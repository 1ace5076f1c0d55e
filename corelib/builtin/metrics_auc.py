"""Keras's AUC: the area under the ROC or precision-recall curve, from counts at fixed thresholds."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from corelib.builtin.metrics_classification import (
    CONFUSION_COUNTS, EPSILON, as_pair, counts_above, divide_no_nan, evenly_spaced, parse_thresholds,
    sample_weights,
)
from corelib.errors import ConfigError, ShapeError
from corelib.metrics import Metric
from corelib.validation import positive_int

__all__ = ["AUC"]

_CURVES = {"roc": "ROC", "pr": "PR"}
_SUMMATIONS = {"interpolation": "interpolation", "minoring": "minoring", "majoring": "majoring"}


def _choice(owner: str, arg: str, value: Any, choices: dict) -> str:
    key = value.lower() if isinstance(value, str) else None
    if key not in choices:
        raise ConfigError(f"{owner}: {arg} must be one of {sorted(set(choices.values()))}. Received: {arg}={value!r}")
    return choices[key]


class AUC(Metric):
    """Area under the ROC or precision-recall curve, from counts at fixed thresholds (Keras's AUC).

    The curve is evaluated at `num_thresholds` thresholds: 0 - 1e-7, then
    i / (num_thresholds - 1) for i in 1 .. num_thresholds - 2, then 1 + 1e-7 (or
    the given `thresholds` between the two end points). The ROC area is a
    Riemann sum over the thresholds; the PR area with "interpolation" uses
    Davis & Goadrich's interpolation of true and false positives between
    thresholds. With many thresholds and well-spread predictions, ROC AUC equals
    scikit-learn's roc_auc_score and PR AUC approaches average_precision_score.

    Args:
        num_thresholds: number of thresholds, > 1 (200).
        curve: "ROC" or "PR" (case-insensitive).
        summation_method: "interpolation" (trapezoids; for PR, Davis & Goadrich),
            "minoring" (lower sums) or "majoring" (upper sums).
        name: key in logs ("auc").
        dtype: see `Metric`.
        thresholds: values in [0, 1] to use instead of evenly spaced ones
            (num_thresholds is then len(thresholds) + 2).
        multi_label: treat each column of 2-D data as its own label and average
            the per-label AUCs; otherwise every entry is one binary prediction.
        num_labels: the number of labels when multi_label (else found from the data).
        label_weights: non-negative weight per label: with multi_label, the weights
            of the per-label AUCs' average; otherwise they weigh the entries.
        from_logits: y_pred holds logits (a sigmoid is applied first).

    Predictions are clipped to [0, 1] when the thresholds are evenly spaced, as in Keras.
    """

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype: Any = None,
        thresholds: Sequence[float] | None = None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights: Sequence[float] | None = None,
        from_logits: bool = False,
    ) -> None:
        self.curve = _choice("AUC", "curve", curve, _CURVES)
        self.summation_method = _choice("AUC", "summation_method", summation_method, _SUMMATIONS)
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(parse_thresholds("AUC", thresholds))
            self.num_thresholds = len(inner) + 2
            self._evenly = evenly_spaced([0.0, *inner, 1.0])
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)) \
                    or num_thresholds <= 1:
                raise ConfigError(f"AUC: num_thresholds must be an int > 1. Received: num_thresholds={num_thresholds!r}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)]
            self._evenly = True
        self._thresholds = np.array([0.0 - EPSILON, *inner, 1.0 + EPSILON])
        self.multi_label = bool(multi_label)
        if num_labels is not None and not self.multi_label:
            raise ConfigError("AUC: num_labels is needed only when multi_label is True. "
                              f"Received: num_labels={num_labels!r}")
        self.num_labels = None if num_labels is None else positive_int(num_labels, "num_labels", "AUC")
        if label_weights is not None:
            weights = np.asarray(label_weights, dtype=np.float64).ravel()
            if weights.size == 0 or not np.all(weights >= 0):
                raise ConfigError(f"AUC: label_weights must be non-negative. Received: label_weights={label_weights!r}")
            self.label_weights: list[float] | None = weights.tolist()
        else:
            self.label_weights = None
        self.from_logits = bool(from_logits)
        super().__init__(name=name, dtype=dtype)

    @property
    def thresholds(self) -> list[float]:
        """The thresholds the curve is evaluated at, end points included."""
        return self._thresholds.tolist()

    @property
    def additive_state(self) -> bool:
        """Counts add up; but multi-label state without num_labels takes its shape from the first batch."""
        return not self.multi_label or self.num_labels is not None

    def reset_state(self) -> None:
        if not self.multi_label:
            shape: tuple = (self.num_thresholds,)
        elif self.num_labels is not None:
            shape = (self.num_thresholds, self.num_labels)
        else:  # labels found from the first batch, kept across resets (0: not seen yet)
            shape = (self.num_thresholds, getattr(self, "true_positives", np.zeros((0, 0))).shape[1])
        for key in CONFUSION_COUNTS:
            setattr(self, key, np.zeros(shape))

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = as_pair(self.name, y_true, y_pred)
        weights = sample_weights(self.name, sample_weight, y_pred.shape)
        if self.from_logits:
            y_pred = 0.5 * (1.0 + np.tanh(0.5 * y_pred))  # the sigmoid, without overflow
        if self._evenly:
            y_pred = np.clip(y_pred, 0.0, 1.0)
        if self.multi_label:
            if y_pred.ndim != 2:
                raise ShapeError(f"Metric '{self.name}': y_pred must have rank 2 (samples, labels) when "
                                 f"multi_label=True. Received: y_pred.shape={y_pred.shape}")
            labels = y_pred.shape[1]
            if self.true_positives.shape[1] == 0:
                for key in CONFUSION_COUNTS:
                    setattr(self, key, np.zeros((self.num_thresholds, labels)))
            if labels != self.true_positives.shape[1]:
                raise ShapeError(f"Metric '{self.name}' counts {self.true_positives.shape[1]} labels; "
                                 f"received y_pred of shape {y_pred.shape}")
            pred, positive, w = y_pred, y_true != 0, weights
        else:
            if self.label_weights is not None:
                weights = weights * self._label_weights(y_pred.shape[-1] if y_pred.ndim else 1)
            pred, positive, w = y_pred.reshape(-1, 1), (y_true != 0).reshape(-1, 1), weights.reshape(-1, 1)
        tp, fp, tn, fn = counts_above(pred, positive, w, self._thresholds)
        shape = self.true_positives.shape
        self.true_positives += tp.reshape(shape)
        self.false_positives += fp.reshape(shape)
        self.true_negatives += tn.reshape(shape)
        self.false_negatives += fn.reshape(shape)

    def _label_weights(self, labels: int) -> np.ndarray:
        weights = np.asarray(self.label_weights)
        if weights.size != labels:
            raise ShapeError(f"Metric '{self.name}': {weights.size} label_weights for {labels} labels")
        return weights

    def result(self) -> float:
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        if self.multi_label and tp.shape[1] == 0:
            return 0.0
        if self.curve == "PR" and self.summation_method == "interpolation":
            areas = self._interpolated_pr(tp, fp, fn)
        else:
            recall = divide_no_nan(tp, tp + fn)
            if self.curve == "ROC":
                x, y = divide_no_nan(fp, fp + tn), recall
            else:
                x, y = recall, divide_no_nan(tp, tp + fp)
            if self.summation_method == "interpolation":
                heights = (y[:-1] + y[1:]) / 2.0
            elif self.summation_method == "minoring":
                heights = np.minimum(y[:-1], y[1:])
            else:
                heights = np.maximum(y[:-1], y[1:])
            areas = np.sum((x[:-1] - x[1:]) * heights, axis=0)
        if not self.multi_label:
            return float(areas)
        if self.label_weights is None:
            return float(np.mean(areas))
        weights = self._label_weights(areas.shape[0])
        return float(divide_no_nan(np.sum(areas * weights), np.sum(weights)))

    @staticmethod
    def _interpolated_pr(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
        """Davis & Goadrich: between two thresholds A (lower) and B, TP and P = TP + FP vary
        linearly, so precision is (TP_B + slope (P - P_B)) / P; its integral over recall is
        slope (dTP + intercept log(P_A / P_B)) / (total positives)."""
        predicted = tp + fp
        d_tp = tp[:-1] - tp[1:]
        d_p = predicted[:-1] - predicted[1:]
        slope = divide_no_nan(d_tp, np.maximum(d_p, 0.0))
        intercept = tp[1:] - slope * predicted[1:]
        both = (predicted[:-1] > 0) & (predicted[1:] > 0)
        ratio = np.where(both, divide_no_nan(predicted[:-1], np.maximum(predicted[1:], 0.0)), 1.0)
        log_ratio = np.log(np.where(ratio > 0, ratio, 1.0))
        increments = divide_no_nan(slope * (d_tp + intercept * log_ratio), np.maximum(tp[1:] + fn[1:], 0.0))
        return np.sum(increments, axis=0)

    def get_state(self) -> dict:
        return {key: getattr(self, key).tolist() for key in CONFUSION_COUNTS}

    def set_state(self, state: dict) -> None:
        shape = (self.num_thresholds, -1) if self.multi_label else (self.num_thresholds,)
        for key in CONFUSION_COUNTS:
            setattr(self, key, np.array(state[key], dtype=np.float64).reshape(shape))

    def get_config(self) -> dict:
        config = {
            "name": self.name,
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": self.label_weights,
            "from_logits": self.from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config
