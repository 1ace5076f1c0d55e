"""Losses: the registry view and the Loss base class.

    from corelib import losses
    loss = losses.get("categorical_crossentropy")
    value, grad = loss.forward_backward(y_true, y_pred)   # float, dvalue/dy_pred
    value = loss(y_true, y_pred, sample_weight=w)

Losses compare the last axis of y_pred with y_true and average the per-sample
values over the batch (Keras's "sum_over_batch_size"): value = sum(w_i l_i) / N.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from corelib.registry import view as _view
from corelib.errors import ConfigError, DataError, ShapeError
from corelib.layers.base import snake_case

__all__ = [
    "Loss", "get", "serialize", "deserialize",
    # Keras's loss functions: per-sample values, reduced over the last axis
    "mean_squared_error", "mse", "mean_absolute_error", "mae", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "huber", "kl_divergence", "kld", "poisson", "log_cosh", "hinge",
    "squared_hinge", "categorical_hinge", "binary_focal_crossentropy", "categorical_focal_crossentropy",
]

KIND = "losses"
_REDUCTIONS = ("sum_over_batch_size", "mean", "sum")


class Loss:
    """Base class of losses.

    A subclass implements `compute(pred, target, loss_out, grad_out)` on 2D
    predictions (rows, D): per-row losses into loss_out and the gradient of
    each row's loss into grad_out. It may override `prepare_target` (e.g.
    integer labels). The base class does reshaping, validation, sample
    weights and the reduction.

    Args:
        name: the name in logs (default: the snake_case class name).
        reduction: "sum_over_batch_size" (mean over samples, the default; "mean"
            is the same) or "sum".
    """

    from_logits = False

    def __init__(self, name: str | None = None, reduction: str = "sum_over_batch_size") -> None:
        self.name = name or snake_case(type(self).__name__)
        if reduction not in _REDUCTIONS:
            raise ConfigError(
                f"{type(self).__name__}: reduction must be one of {_REDUCTIONS}. Received: reduction={reduction!r}"
            )
        self.reduction = reduction

    # -- what subclasses provide ---------------------------------------------

    def compute(self, pred: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: np.ndarray) -> None:
        """Per-row losses of pred (rows, D) into loss_out (rows,), their gradients into grad_out."""
        raise NotImplementedError(f"{type(self).__name__} does not implement compute()")

    def prepare_target(self, y_true: Any, y_pred: np.ndarray, rows: int) -> np.ndarray:
        """y_true as the kernel wants it: here (rows, D) in y_pred's dtype, same shape as y_pred."""
        if type(y_true) is np.ndarray and y_true.dtype == y_pred.dtype and y_true.shape == y_pred.shape:
            return y_true if y_true.ndim == 2 else y_true.reshape(rows, -1)  # the training loop's case
        y_true = np.asarray(y_true)
        if y_true.shape != y_pred.shape:
            if y_true.size != y_pred.size or (y_true.ndim and y_true.shape[0] != y_pred.shape[0]):
                raise ShapeError(
                    f"{self.name} expects y_true with the same shape as y_pred {y_pred.shape}. "
                    f"Received: y_true.shape={y_true.shape}"
                )
        if y_true.dtype.kind not in "biuf":
            raise DataError(f"{self.name} expects numeric y_true. Received: y_true.dtype={y_true.dtype}")
        return y_true.astype(y_pred.dtype, copy=False).reshape(rows, -1)

    def logits_variant(self, activation: str) -> "Loss | None":
        """An equivalent loss on the pre-activation values when the model ends in `activation`.

        A training loop may use it to fuse, e.g., softmax + categorical
        cross-entropy into the stable softmax cross-entropy on logits.
        None when no such fusion applies.
        """
        return None

    # -- the public API -------------------------------------------------------

    def forward_backward(
        self, y_true: Any, y_pred: np.ndarray, sample_weight: Any = None
    ) -> tuple[float, np.ndarray]:
        """The reduced loss and its gradient with respect to `y_pred` (same shape and dtype)."""
        y_pred = self._as_prediction(y_pred)
        shape = y_pred.shape
        pred = y_pred.reshape(-1, shape[-1]) if y_pred.ndim > 1 else y_pred.reshape(-1, 1)
        rows = pred.shape[0]
        target = self.prepare_target(y_true, y_pred, rows)
        loss_out = np.empty(rows, dtype=pred.dtype)
        grad_out = np.empty(pred.shape, dtype=pred.dtype)
        self.compute(pred, target, loss_out, grad_out)
        weights = self._sample_weights(sample_weight, shape, rows)
        denom = 1.0 if self.reduction == "sum" else float(max(rows, 1))
        if weights is None:
            # fsum of a short list is exact and, for a batch, faster than a NumPy reduction
            total = math.fsum(loss_out.tolist()) if rows <= 1024 else float(loss_out.sum(dtype=np.float64))
            value = total / denom
            if denom != 1.0:
                grad_out *= 1.0 / denom
        else:
            value = float(np.dot(weights, loss_out.astype(np.float64, copy=False))) / denom
            grad_out *= (weights / denom).astype(pred.dtype, copy=False)[:, None]
        return value, grad_out.reshape(shape)

    def per_sample(self, y_true: Any, y_pred: Any) -> np.ndarray:
        """Unreduced losses, shaped like y_pred without its last axis ((N,) for 2D y_pred)."""
        y_pred = self._as_prediction(y_pred)
        shape = y_pred.shape
        pred = y_pred.reshape(-1, shape[-1]) if y_pred.ndim > 1 else y_pred.reshape(-1, 1)
        target = self.prepare_target(y_true, y_pred, pred.shape[0])
        loss_out = np.empty(pred.shape[0], dtype=pred.dtype)
        self.compute(pred, target, loss_out, np.empty(pred.shape, dtype=pred.dtype))
        return loss_out.reshape(shape[:-1] if y_pred.ndim > 1 else shape)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
        """The reduced loss (Keras argument order: y_true first)."""
        return self.forward_backward(y_true, y_pred, sample_weight)[0]

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict) -> "Loss":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"

    # -- helpers ---------------------------------------------------------------

    def _as_prediction(self, y_pred: Any) -> np.ndarray:
        y_pred = np.asarray(y_pred)
        if y_pred.dtype != np.float32 and y_pred.dtype != np.float64:
            if y_pred.dtype.kind not in "biuf":
                raise DataError(f"{self.name} expects numeric y_pred. Received: y_pred.dtype={y_pred.dtype}")
            y_pred = y_pred.astype(np.float32)
        if y_pred.ndim == 0 or y_pred.shape[0] == 0:
            raise ShapeError(f"{self.name} expects y_pred with a batch axis and samples. Received: shape={y_pred.shape}")
        return y_pred

    def _sample_weights(self, sample_weight: Any, shape: tuple, rows: int) -> np.ndarray | None:
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight, dtype=np.float64)
        lead = shape[:-1] if len(shape) > 1 else shape
        while w.ndim < len(lead):  # (N,) weights for (N, T) losses weigh every step of a sample
            w = w[..., None]
        try:
            w = np.broadcast_to(w, lead)
        except ValueError:
            raise ShapeError(
                f"{self.name}: sample_weight of shape {np.shape(sample_weight)} does not fit the "
                f"per-sample losses of shape {lead} (y_pred shape {shape})"
            ) from None
        return w.reshape(rows)


def get(identifier: Any) -> Loss | None:
    """A Loss from a registered name ("mse", "CategoricalCrossentropy"), a
    {"class_name", "config"} dict or an instance. None stays None."""
    if identifier is None:
        return None
    if callable(identifier) and not isinstance(identifier, (Loss, type, dict, str)):
        if hasattr(identifier, "forward_backward"):
            return identifier
        raise ConfigError(
            "Could not interpret loss identifier: a plain function has no gradient; subclass "
            f"corelib.losses.Loss (implement compute) and register it. Received: {identifier!r}"
        )
    return _view.resolve(KIND, identifier, Loss, "loss")


def serialize(loss: Loss) -> dict:
    """{"class_name": registered name, "config": {...}}."""
    return _view.serialize(KIND, loss)


def deserialize(config: dict | str) -> Loss:
    """Inverse of `serialize`."""
    return get(config)


# -- Keras's loss functions ------------------------------------------------------------------
# `losses.mean_squared_error(y_true, y_pred)` gives per-sample values, as in Keras; the
# strings ("mean_squared_error") given to compile still name the registered classes. Each
# function looks its class up in the registry when called: the classes live in the
# built-in plugin, above this module.


def _per_sample(class_name: str, y_true: Any, y_pred: Any, axis: int = -1, **config: Any) -> np.ndarray:
    """The registered loss `class_name`'s per-sample values, reduced over `axis` of y_pred.

    A 1-D y_pred is one sample, as in Keras (the result is then 0-d).
    """
    loss = _view.lookup(KIND, class_name)(**config)
    y_pred, y_true = np.asarray(y_pred), np.asarray(y_true)
    if y_pred.ndim == 0:
        return loss.per_sample(y_true, y_pred)  # the loss's own error: y_pred needs a batch axis
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -y_pred.ndim <= axis < y_pred.ndim:
        raise ConfigError(f"{loss.name}: axis must be an int in [{-y_pred.ndim}, {y_pred.ndim}) for y_pred of "
                          f"shape {y_pred.shape}. Received: axis={axis!r}")
    if axis % y_pred.ndim != y_pred.ndim - 1:
        if y_true.ndim == y_pred.ndim:
            y_true = np.moveaxis(y_true, axis, -1)
        y_pred = np.moveaxis(y_pred, axis, -1)
    if y_pred.ndim == 1:
        return loss.per_sample(y_true[None], y_pred[None]).reshape(())
    return loss.per_sample(y_true, y_pred)


def mean_squared_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean((y_true - y_pred) ** 2) over the last axis: one value per sample."""
    return _per_sample("MeanSquaredError", y_true, y_pred)


def mean_absolute_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(|y_true - y_pred|) over the last axis: one value per sample."""
    return _per_sample("MeanAbsoluteError", y_true, y_pred)


mse = mean_squared_error
mae = mean_absolute_error


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0,
                        axis: int = -1) -> np.ndarray:
    """Binary cross-entropy averaged over `axis`, per sample (see `BinaryCrossentropy`)."""
    return _per_sample("BinaryCrossentropy", y_true, y_pred, axis, from_logits=from_logits,
                       label_smoothing=label_smoothing)


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0,
                             axis: int = -1) -> np.ndarray:
    """Categorical cross-entropy over the class axis `axis`, per sample (see `CategoricalCrossentropy`)."""
    return _per_sample("CategoricalCrossentropy", y_true, y_pred, axis, from_logits=from_logits,
                       label_smoothing=label_smoothing)


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False, ignore_class: Any = None,
                                    axis: int = -1) -> np.ndarray:
    """Categorical cross-entropy with integer labels, per sample (see `SparseCategoricalCrossentropy`).

    `ignore_class` is not supported (only None)."""
    if ignore_class is not None:
        raise ConfigError(f"sparse_categorical_crossentropy: ignore_class is not supported. "
                          f"Received: ignore_class={ignore_class!r}")
    return _per_sample("SparseCategoricalCrossentropy", y_true, y_pred, axis, from_logits=from_logits)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> np.ndarray:
    """Huber loss averaged over the last axis, per sample (see `Huber`)."""
    return _per_sample("Huber", y_true, y_pred, delta=delta)


def kl_divergence(y_true: Any, y_pred: Any) -> np.ndarray:
    """sum(t * log(t / p)) over the last axis (both clipped to [1e-7, 1]), per sample."""
    return _per_sample("KLDivergence", y_true, y_pred)


kld = kl_divergence


def poisson(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(p - t * log(p + 1e-7)) over the last axis, per sample."""
    return _per_sample("Poisson", y_true, y_pred)


def log_cosh(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(log(cosh(p - t))) over the last axis, per sample."""
    return _per_sample("LogCosh", y_true, y_pred)


def hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(max(1 - t * p, 0)) over the last axis, per sample (0/1 targets become -1/1)."""
    return _per_sample("Hinge", y_true, y_pred)


def squared_hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(max(1 - t * p, 0) ** 2) over the last axis, per sample (0/1 targets become -1/1)."""
    return _per_sample("SquaredHinge", y_true, y_pred)


def categorical_hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    """max(max((1 - t) * p) - sum(t * p) + 1, 0) per sample, with one-hot targets."""
    return _per_sample("CategoricalHinge", y_true, y_pred)


def binary_focal_crossentropy(y_true: Any, y_pred: Any, apply_class_balancing: bool = False, alpha: float = 0.25,
                              gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                              axis: int = -1) -> np.ndarray:
    """Binary focal cross-entropy averaged over `axis`, per sample (see `BinaryFocalCrossentropy`)."""
    return _per_sample("BinaryFocalCrossentropy", y_true, y_pred, axis, apply_class_balancing=apply_class_balancing,
                       alpha=alpha, gamma=gamma, from_logits=from_logits, label_smoothing=label_smoothing)


def categorical_focal_crossentropy(y_true: Any, y_pred: Any, alpha: Any = 0.25, gamma: float = 2.0,
                                   from_logits: bool = False, label_smoothing: float = 0.0,
                                   axis: int = -1) -> np.ndarray:
    """Categorical focal cross-entropy over the class axis `axis`, per sample (see `CategoricalFocalCrossentropy`)."""
    return _per_sample("CategoricalFocalCrossentropy", y_true, y_pred, axis, alpha=alpha, gamma=gamma,
                       from_logits=from_logits, label_smoothing=label_smoothing)


def __getattr__(name: str) -> Any:
    return _view.module_getattr(KIND, __name__, name)
