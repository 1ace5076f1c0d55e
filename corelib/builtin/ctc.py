"""CTC: the connectionist temporal classification loss for unsegmented sequences.

Targets: ``y_true`` is an integer array (batch, max_label_length) holding each
sample's labels first, padded with -1 (any negative value). Padding is not
the blank, so every class index but the blank may be a label. The input
length of every sample is all of y_pred's time steps.

Why this format: a Loss receives only (y_true, y_pred, sample_weight), and
the data sets and `dl train` hand over one target array per sample. Labels
padded with -1 carry the label length without a side channel and stay
readable; the input length follows from y_pred. Sequences whose valid input
is shorter than y_pred (e.g. padded images) call `corelib.ctc.ctc_loss`, which
takes explicit label and input lengths.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.errors import ConfigError, DataError, ShapeError
from corelib.kernels import ctc as _k
from corelib.losses import Loss
from corelib.validation import positive_int

__all__ = ["CTC", "labels_and_lengths"]


def labels_and_lengths(y_true: Any, where: str = "CTC") -> tuple[np.ndarray, np.ndarray]:
    """(labels int64 (B, L), label lengths (B,)) from -1-padded targets."""
    y = np.asarray(y_true)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ShapeError(f"{where} expects y_true of shape (batch, max_label_length). Received: shape={y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise DataError(f"{where} expects integer labels in y_true; it holds non-integer values")
    elif y.dtype.kind not in "iub":
        raise DataError(f"{where} expects integer labels. Received: y_true.dtype={y.dtype}")
    labels = y.astype(np.int64, copy=False)
    valid = labels >= 0
    lengths = valid.sum(axis=1)
    if np.any(valid[:, 1:] & ~valid[:, :-1]):
        row = int(np.argwhere(valid[:, 1:] & ~valid[:, :-1])[0, 0])
        raise DataError(f"{where}: y_true rows must hold their labels first, then -1 padding. "
                        f"Received row {row}: {labels[row].tolist()}")
    return labels, lengths


class CTC(Loss):
    """Connectionist temporal classification loss, -log p(labels | y_pred) per sample.

    Computed by the forward-backward recursions in double precision, batch
    elements independent: in probability space rescaled at every step where
    that loses nothing to underflow, in log space for the samples (very long
    or very peaked) where it would; the results are the same up to rounding.

    Args:
        blank_index: the class index of the blank (default 0, as Keras's
            mask_index and PyTorch's blank).
        from_logits: y_pred holds logits (log-softmax is applied inside, the
            stable choice) instead of probabilities (a softmax output).
        zero_infinity: impossible alignments (more labels, with repeats, than
            time steps allow) give loss 0 and no gradient instead of inf.
        name, reduction: see `Loss`.

    y_true: int (batch, max_label_length), labels then -1 padding.
    y_pred: (batch, timesteps, classes) probabilities or logits.
    """

    sparse_targets = True  # fit keeps the labels as integers

    def __init__(self, blank_index: int = 0, from_logits: bool = False, zero_infinity: bool = False,
                 name: str | None = "ctc", reduction: str = "sum_over_batch_size") -> None:
        super().__init__(name=name, reduction=reduction)
        self.blank_index = positive_int(blank_index, "blank_index", "CTC", allow_zero=True)
        self.from_logits = bool(from_logits)
        self.zero_infinity = bool(zero_infinity)

    def _per_sample(self, y_true: Any, y_pred: Any, want_grad: bool, grad_scale: np.ndarray | None = None):
        y_pred = self._as_prediction(y_pred)
        if y_pred.ndim != 3:
            raise ShapeError(f"{self.name} expects y_pred of shape (batch, timesteps, classes). "
                             f"Received: shape={y_pred.shape}")
        labels, lengths = labels_and_lengths(y_true, self.name)
        if labels.shape[0] != y_pred.shape[0]:
            raise ShapeError(f"{self.name}: y_true has {labels.shape[0]} samples, y_pred {y_pred.shape[0]}")
        B, T, C = y_pred.shape
        if self.blank_index >= C:
            raise ConfigError(f"{self.name}: blank_index {self.blank_index} is not a class of y_pred "
                              f"({C} classes)")
        loss = np.empty(B, y_pred.dtype)
        grad = np.empty(y_pred.shape, y_pred.dtype) if want_grad else None
        try:
            _k.ctc_loss(y_pred, labels, lengths, np.full(B, T, np.int64), self.blank_index,
                        "logits" if self.from_logits else "probs", self.zero_infinity, loss, grad, grad_scale)
        except ValueError as exc:
            raise DataError(f"{self.name}: {exc}") from None
        return y_pred, loss, grad

    def forward_backward(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> tuple[float, np.ndarray]:
        B = np.shape(y_pred)[0] if np.ndim(y_pred) else 0
        denom = 1.0 if self.reduction == "sum" else float(B)
        if sample_weight is None:
            w = None
            scale = np.full(B, 1.0 / denom) if B else None
        else:
            w = np.broadcast_to(np.asarray(sample_weight, np.float64).reshape(-1), (B,))
            scale = w / denom
        # the kernel multiplies each sample's gradient by its weight / denom
        y_pred, loss, grad = self._per_sample(y_true, y_pred, True, scale)
        total = float(loss.sum(dtype=np.float64)) if w is None else float(np.dot(w, loss.astype(np.float64)))
        return total / denom, grad

    def check_targets(self, y_true: Any, output_shape: tuple) -> None:
        """Check a whole target array against the model's output shape before training.

        CTC targets are not shaped like the output: (batch, max_label_length)
        integer labels padded with -1, each label a class other than the blank.
        """
        labels, lengths = labels_and_lengths(y_true, self.name)
        classes, steps = output_shape[-1], output_shape[-2] if len(output_shape) >= 3 else None
        if len(output_shape) != 3:
            raise ShapeError(f"{self.name} needs a model output of shape (batch, timesteps, classes); "
                             f"the model gives {tuple(output_shape)}")
        valid = labels[labels >= 0]
        if valid.size and (valid.max() >= classes or np.any(valid == self.blank_index)):
            raise DataError(f"{self.name}: labels must be classes 0..{classes - 1} other than the blank "
                            f"{self.blank_index}; found {int(valid.max()) if valid.max() >= classes else self.blank_index}")
        if steps is not None and lengths.size and int(lengths.max()) > steps:
            raise DataError(f"{self.name}: a label sequence of {int(lengths.max())} symbols cannot be read from "
                            f"{steps} time steps")

    def per_sample(self, y_true: Any, y_pred: Any) -> np.ndarray:
        return self._per_sample(y_true, y_pred, False)[1]

    def logits_variant(self, activation: str) -> Loss | None:
        if activation != "softmax" or self.from_logits:
            return None
        return CTC(self.blank_index, True, self.zero_infinity, self.name, self.reduction)

    def get_config(self) -> dict:
        return {**super().get_config(), "blank_index": self.blank_index, "from_logits": self.from_logits,
                "zero_infinity": self.zero_infinity}
