"""The built-in losses; all the math is in corelib.kernels.losses."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.errors import DataError, ShapeError
from corelib.kernels import losses as _k
from corelib.losses import Loss
from corelib.validation import fraction, positive_number

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "Huber",
    "EPSILON",
]

#: Keras's backend epsilon: probabilities are clipped to [EPSILON, 1 - EPSILON].
EPSILON = 1e-7


class FromLogits:
    """Mixin (before the Loss base) of the losses with `from_logits`: the cross-entropies
    here and the focal ones in `losses_more`.

    `logits_activation` is the model's final activation that from_logits=True
    stands in for: "sigmoid" for binary targets, "softmax" for classes. A
    `label_smoothing` s turns targets into t * (1 - s) + s / 2 (binary) or
    t * (1 - s) + s / num_classes.
    """

    logits_activation = "softmax"
    from_logits: bool
    label_smoothing = 0.0

    def prepare_target(self, y_true: Any, y_pred: np.ndarray, rows: int) -> np.ndarray:
        target = super().prepare_target(y_true, y_pred, rows)
        if self.label_smoothing:
            classes = 2 if self.logits_activation == "sigmoid" else target.shape[1]
            target = target * (1.0 - self.label_smoothing) + self.label_smoothing / classes
        return target

    def logits_variant(self, activation: str) -> Loss | None:
        if activation != self.logits_activation or self.from_logits:
            return None
        return type(self).from_config({**self.get_config(), "from_logits": True})


class _ProbabilisticLoss(FromLogits, Loss):
    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        name: str | None = None,
        reduction: str = "sum_over_batch_size",
    ) -> None:
        super().__init__(name=name, reduction=reduction)
        self.from_logits = bool(from_logits)
        self.label_smoothing = fraction(label_smoothing, "label_smoothing", type(self).__name__, include_one=True)

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class BinaryCrossentropy(_ProbabilisticLoss):
    """-(t log p + (1 - t) log(1 - p)), averaged over the last axis.

    Args:
        from_logits: y_pred holds logits (sigmoid not applied); more stable.
        label_smoothing: targets become t * (1 - s) + s / 2.
        name: name in logs ("binary_crossentropy").
        reduction: see `Loss`.
    """

    logits_activation = "sigmoid"

    def compute(self, pred: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: np.ndarray) -> None:
        if self.from_logits:
            _k.sigmoid_binary_crossentropy(pred, target, loss_out, grad_out)
        else:
            _k.binary_crossentropy(pred, target, loss_out, grad_out, EPSILON)


class CategoricalCrossentropy(_ProbabilisticLoss):
    """-sum(t log p) over the last axis, with one-hot (or probability) targets.

    Args:
        from_logits: y_pred holds logits (softmax not applied); more stable.
        label_smoothing: targets become t * (1 - s) + s / num_classes.
        name: name in logs ("categorical_crossentropy").
        reduction: see `Loss`.
    """

    def prepare_target(self, y_true: Any, y_pred: np.ndarray, rows: int) -> np.ndarray:
        y = np.asarray(y_true)
        if y_pred.ndim > 1 and y.shape == y_pred.shape[:-1] and y_pred.shape[-1] > 1:
            raise ShapeError(
                f"{self.name} expects one-hot y_true of shape {y_pred.shape}; received integer-label "
                f"shape {y.shape}. Use sparse_categorical_crossentropy for integer labels, or "
                "corelib.utils.to_categorical."
            )
        return super().prepare_target(y, y_pred, rows)

    def compute(self, pred: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: np.ndarray) -> None:
        if self.from_logits:
            _k.softmax_cross_entropy(pred, target, loss_out, grad_out)
        else:
            _k.categorical_crossentropy(pred, target, loss_out, grad_out, EPSILON)


class SparseCategoricalCrossentropy(FromLogits, Loss):
    """Categorical cross-entropy with integer class labels as targets.

    Args:
        from_logits: y_pred holds logits (softmax not applied); more stable.
        name: name in logs ("sparse_categorical_crossentropy").
        reduction: see `Loss`.

    y_true has y_pred's shape without the last axis (or with a last axis of 1)
    and holds integers in [0, num_classes).
    """

    sparse_targets = True  # fit converts labels to int64 once, not per batch

    def __init__(
        self, from_logits: bool = False, name: str | None = None, reduction: str = "sum_over_batch_size"
    ) -> None:
        super().__init__(name=name, reduction=reduction)
        self.from_logits = bool(from_logits)

    def prepare_target(self, y_true: Any, y_pred: np.ndarray, rows: int) -> np.ndarray:
        y = np.asarray(y_true)
        lead = y_pred.shape[:-1] if y_pred.ndim > 1 else y_pred.shape
        if y.shape != lead and y.shape != lead + (1,):
            raise ShapeError(
                f"{self.name} expects integer labels y_true of shape {lead} for y_pred of shape "
                f"{y_pred.shape}. Received: y_true.shape={y.shape}"
            )
        if y.dtype.kind == "f":
            labels = y.astype(np.int64)
            if not np.array_equal(labels, y):
                raise DataError(f"{self.name} expects integer class labels; y_true has non-integer values")
        elif y.dtype.kind in "biu":
            labels = y.astype(np.int64, copy=False)
        else:
            raise DataError(f"{self.name} expects integer class labels. Received: y_true.dtype={y.dtype}")
        return np.ascontiguousarray(labels.reshape(rows))

    def compute(self, pred: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: np.ndarray) -> None:
        if self.from_logits:
            _k.sparse_softmax_cross_entropy(pred, target, loss_out, grad_out)
        else:
            _k.sparse_categorical_crossentropy(pred, target, loss_out, grad_out, EPSILON)

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits}


class MeanSquaredError(Loss):
    """mean((y_true - y_pred) ** 2) over the last axis.

    Args:
        name: name in logs ("mean_squared_error").
        reduction: see `Loss`.
    """

    def compute(self, pred: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: np.ndarray) -> None:
        _k.mean_squared_error(pred, target, loss_out, grad_out)


class MeanAbsoluteError(Loss):
    """mean(|y_true - y_pred|) over the last axis.

    Args:
        name: name in logs ("mean_absolute_error").
        reduction: see `Loss`.
    """

    def compute(self, pred: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: np.ndarray) -> None:
        _k.mean_absolute_error(pred, target, loss_out, grad_out)


class Huber(Loss):
    """Quadratic for |error| <= delta, linear beyond; mean over the last axis.

    Args:
        delta: where the loss turns from quadratic to linear (1.0).
        name: name in logs ("huber_loss", as Keras).
        reduction: see `Loss`.
    """

    def __init__(self, delta: float = 1.0, name: str | None = "huber_loss", reduction: str = "sum_over_batch_size") -> None:
        super().__init__(name=name, reduction=reduction)
        self.delta = positive_number(delta, "delta", "Huber")

    def compute(self, pred: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: np.ndarray) -> None:
        _k.huber(pred, target, loss_out, grad_out, self.delta)

    def get_config(self) -> dict:
        return {**super().get_config(), "delta": self.delta}
