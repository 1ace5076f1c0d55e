"""More of Keras's losses: KL divergence, Poisson, log-cosh, the hinges and the focal cross-entropies.

Vectorised NumPy on the (rows, D) blocks the Loss base class hands over (no
kernel in corelib.kernels.losses fits these formulas); values and gradients
stay in the prediction's dtype. Each formula is Keras 3's, including where it
clips probabilities to [EPSILON, 1 - EPSILON].
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.builtin.losses import EPSILON, FromLogits
from corelib.errors import ConfigError
from corelib.losses import Loss
from corelib.validation import fraction, positive_number

__all__ = [
    "KLDivergence",
    "Poisson",
    "LogCosh",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "BinaryFocalCrossentropy",
    "CategoricalFocalCrossentropy",
]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def _softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)) without overflow."""
    return np.logaddexp(z.dtype.type(0), z)


class KLDivergence(Loss):
    """Kullback-Leibler divergence sum(t * log(t / p)) over the last axis, both clipped to [1e-7, 1].

    Args:
        name: name in logs ("kl_divergence").
        reduction: see `Loss`.
    """

    def compute(self, pred: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: np.ndarray) -> None:
        t = np.clip(target, EPSILON, 1.0)
        p = np.clip(pred, EPSILON, 1.0)
        np.sum(t * np.log(t / p), axis=1, out=loss_out)
        np.divide(-t, p, out=grad_out)
        grad_out[(pred < EPSILON) | (pred > 1.0)] = 0.0  # the clip passes no gradient


class Poisson(Loss):
    """mean(p - t * log(p + 1e-7)) over the last axis, for count targets and positive predictions.

    Args:
        name: name in logs ("poisson").
        reduction: see `Loss`.
    """

    def compute(self, pred: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: np.ndarray) -> None:
        shifted = pred + EPSILON
        np.mean(pred - target * np.log(shifted), axis=1, out=loss_out)
        np.divide(1.0 - target / shifted, pred.shape[1], out=grad_out)


class LogCosh(Loss):
    """mean(log(cosh(p - t))) over the last axis: about x**2 / 2 for small errors, |x| - log 2 for large.

    Args:
        name: name in logs ("log_cosh").
        reduction: see `Loss`.
    """

    def compute(self, pred: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: np.ndarray) -> None:
        x = pred - target
        # log(cosh(x)) = x + softplus(-2x) - log(2), finite for any x
        np.mean(x + _softplus(-2.0 * x) - np.log(2.0).astype(x.dtype), axis=1, out=loss_out)
        np.divide(np.tanh(x), pred.shape[1], out=grad_out)


class Hinge(Loss):
    """mean(max(1 - t * p, 0)) over the last axis, with targets -1 or 1.

    Targets of 0 and 1 are turned into -1 and 1 when a batch holds no other
    values (Keras's rule).

    Args:
        name: name in logs ("hinge").
        reduction: see `Loss`.
    """

    def prepare_target(self, y_true: Any, y_pred: np.ndarray, rows: int) -> np.ndarray:
        target = super().prepare_target(y_true, y_pred, rows)
        if np.all((target == 0) | (target == 1)):
            target = 2.0 * target - 1.0
        return target

    def compute(self, pred: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: np.ndarray) -> None:
        margin = np.maximum(1.0 - target * pred, 0.0)
        np.mean(margin, axis=1, out=loss_out)
        np.divide(np.where(margin > 0, -target, 0.0), pred.shape[1], out=grad_out)


class SquaredHinge(Hinge):
    """mean(max(1 - t * p, 0) ** 2) over the last axis, with targets -1 or 1 (0/1 converted as in `Hinge`).

    Args:
        name: name in logs ("squared_hinge").
        reduction: see `Loss`.
    """

    def compute(self, pred: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: np.ndarray) -> None:
        margin = np.maximum(1.0 - target * pred, 0.0)
        np.mean(margin * margin, axis=1, out=loss_out)
        np.multiply(target * margin, -2.0 / pred.shape[1], out=grad_out)


class CategoricalHinge(Loss):
    """max(max((1 - t) * p) - sum(t * p) + 1, 0) per sample, with one-hot targets.

    Args:
        name: name in logs ("categorical_hinge").
        reduction: see `Loss`.
    """

    def compute(self, pred: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: np.ndarray) -> None:
        others = (1.0 - target) * pred
        best = np.argmax(others, axis=1)
        rows = np.arange(pred.shape[0])
        value = others[rows, best] - np.sum(target * pred, axis=1) + 1.0
        np.maximum(value, 0.0, out=loss_out)
        np.negative(target, out=grad_out)
        grad_out[rows, best] += 1.0 - target[rows, best]
        grad_out[value <= 0] = 0.0


class _AlongAxis(Loss):
    """A loss that reduces over `axis` instead of the last axis: moves it last and back."""

    axis = -1

    def _moved(self, y_true: Any, y_pred: Any) -> tuple[Any, np.ndarray, int] | None:
        y_pred = np.asarray(y_pred)
        if y_pred.ndim < 2:
            return None
        axis = self.axis % y_pred.ndim if -y_pred.ndim <= self.axis < y_pred.ndim else None
        if axis is None:
            raise ConfigError(f"{self.name}: axis={self.axis} is out of range for y_pred of shape {y_pred.shape}")
        if axis == y_pred.ndim - 1:
            return None
        y_true = np.asarray(y_true)
        if y_true.ndim == y_pred.ndim:
            y_true = np.moveaxis(y_true, axis, -1)
        return y_true, np.moveaxis(y_pred, axis, -1), axis

    def forward_backward(self, y_true: Any, y_pred: np.ndarray, sample_weight: Any = None) -> tuple[float, np.ndarray]:
        moved = self._moved(y_true, y_pred)
        if moved is None:
            return super().forward_backward(y_true, y_pred, sample_weight)
        value, grad = super().forward_backward(moved[0], moved[1], sample_weight)
        return value, np.ascontiguousarray(np.moveaxis(grad, -1, moved[2]))

    def per_sample(self, y_true: Any, y_pred: Any) -> np.ndarray:
        moved = self._moved(y_true, y_pred)
        return super().per_sample(y_true, y_pred) if moved is None else super().per_sample(moved[0], moved[1])


def _focal_options(owner: str, gamma: Any, label_smoothing: Any, axis: Any) -> tuple[float, float, int]:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ConfigError(f"{owner}: axis must be an int. Received: axis={axis!r}")
    return (positive_number(gamma, "gamma", owner, allow_zero=True),
            fraction(label_smoothing, "label_smoothing", owner, include_one=True), int(axis))


class BinaryFocalCrossentropy(FromLogits, _AlongAxis):
    """Binary cross-entropy scaled by (1 - p_t) ** gamma, which weighs hard examples up
    (Lin et al., 2017); mean over `axis`.

    p_t = t * p + (1 - t) * (1 - p). With apply_class_balancing, each term is also
    weighted by alpha for positives and 1 - alpha for negatives.

    Args:
        apply_class_balancing: weigh classes by alpha (False).
        alpha: weight of the positive class when balancing (0.25).
        gamma: focusing parameter, >= 0; 0 gives binary cross-entropy (2.0).
        from_logits: y_pred holds logits (the cross-entropy then comes stably from the logits).
        label_smoothing: targets become t * (1 - s) + s / 2 (0.0).
        axis: the axis the mean runs over (-1).
        name: name in logs ("binary_focal_crossentropy").
        reduction: see `Loss`.
    """

    logits_activation = "sigmoid"

    def __init__(
        self,
        apply_class_balancing: bool = False,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        name: str | None = None,
        reduction: str = "sum_over_batch_size",
    ) -> None:
        super().__init__(name=name, reduction=reduction)
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha = fraction(alpha, "alpha", "BinaryFocalCrossentropy", include_one=True)
        self.gamma, self.label_smoothing, self.axis = _focal_options(
            "BinaryFocalCrossentropy", gamma, label_smoothing, axis)
        self.from_logits = bool(from_logits)

    def compute(self, pred: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: np.ndarray) -> None:
        t = target
        if self.from_logits:
            p = _sigmoid(pred)
            bce = t * _softplus(-pred) + (1.0 - t) * _softplus(pred)
            dbce = p - t  # with respect to the logits
            dp = p * (1.0 - p)  # dp / dlogits
        else:
            p = pred
            clipped = np.clip(p, EPSILON, 1.0 - EPSILON)
            bce = -(t * np.log(clipped) + (1.0 - t) * np.log(1.0 - clipped))
            dbce = np.where((p >= EPSILON) & (p <= 1.0 - EPSILON), (clipped - t) / (clipped * (1.0 - clipped)), 0.0)
            dp = 1.0
        rest = t * (1.0 - p) + (1.0 - t) * p  # 1 - p_t, in [0, 1]
        focal = rest**self.gamma
        safe = np.where(rest > 0, rest, 1.0)
        dfocal = np.where(rest > 0, self.gamma * safe ** (self.gamma - 1.0), 0.0) * (1.0 - 2.0 * t) * dp
        weight = t * self.alpha + (1.0 - t) * (1.0 - self.alpha) if self.apply_class_balancing else 1.0
        np.mean(weight * focal * bce, axis=1, out=loss_out)
        np.divide(weight * (dfocal * bce + focal * dbce), pred.shape[1], out=grad_out)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "apply_class_balancing": self.apply_class_balancing,
            "alpha": self.alpha,
            "gamma": self.gamma,
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


class CategoricalFocalCrossentropy(FromLogits, _AlongAxis):
    """Categorical cross-entropy scaled by alpha * (1 - p) ** gamma per class, which weighs
    hard examples up (Lin et al., 2017); sum over `axis`, with one-hot targets.

    As in Keras, the predictions are first divided by their sum and clipped to [1e-7, 1 - 1e-7].

    Args:
        alpha: weight of every class, or a list of one weight per class (0.25).
        gamma: focusing parameter, >= 0; 0 gives alpha times categorical cross-entropy (2.0).
        from_logits: y_pred holds logits (softmax not applied).
        label_smoothing: targets become t * (1 - s) + s / num_classes (0.0).
        axis: the class axis (-1).
        name: name in logs ("categorical_focal_crossentropy").
        reduction: see `Loss`.
    """

    def __init__(
        self,
        alpha: float | list[float] = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        name: str | None = None,
        reduction: str = "sum_over_batch_size",
    ) -> None:
        super().__init__(name=name, reduction=reduction)
        owner = "CategoricalFocalCrossentropy"
        if isinstance(alpha, (list, tuple, np.ndarray)):
            self.alpha: float | list[float] = [positive_number(a, "alpha", owner, allow_zero=True) for a in alpha]
        else:
            self.alpha = positive_number(alpha, "alpha", owner, allow_zero=True)
        self.gamma, self.label_smoothing, self.axis = _focal_options(owner, gamma, label_smoothing, axis)
        self.from_logits = bool(from_logits)

    def compute(self, pred: np.ndarray, target: np.ndarray, loss_out: np.ndarray, grad_out: np.ndarray) -> None:
        alpha = np.asarray(self.alpha, dtype=pred.dtype)
        if alpha.ndim and alpha.shape != (pred.shape[1],):
            raise ConfigError(f"{self.name}: alpha has {alpha.size} class weights but y_pred has "
                              f"{pred.shape[1]} classes")
        if self.from_logits:
            e = np.exp(pred - pred.max(axis=1, keepdims=True))
            q = e / e.sum(axis=1, keepdims=True)
        else:
            total = pred.sum(axis=1, keepdims=True)
            q = pred / total
        clipped = np.clip(q, EPSILON, 1.0 - EPSILON)
        log_q = np.log(clipped)
        rest = 1.0 - clipped
        focal = rest**self.gamma
        np.sum(-alpha * target * focal * log_q, axis=1, out=loss_out)
        # dL/dq, zero where the clip is active
        dq = -alpha * target * (focal / clipped - self.gamma * rest ** (self.gamma - 1.0) * log_q)
        dq[(q < EPSILON) | (q > 1.0 - EPSILON)] = 0.0
        centred = dq - np.sum(dq * q, axis=1, keepdims=True)
        if self.from_logits:  # through softmax
            np.multiply(q, centred, out=grad_out)
        else:  # through p / sum(p)
            np.divide(centred, total, out=grad_out)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "alpha": self.alpha,
            "gamma": self.gamma,
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }
