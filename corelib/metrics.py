"""Metrics: the registry view and the Metric base class (stateful, as in Keras).

    from corelib import metrics
    acc = metrics.get("accuracy", loss="categorical_crossentropy")   # CategoricalAccuracy
    acc.update_state(y_true, y_pred, sample_weight=None)
    acc.result(); acc.reset_state()
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np

from corelib.registry import view as _view
from corelib.errors import ShapeError, UnknownComponentError
from corelib.layers.base import snake_case
from corelib.losses import (  # noqa: F401 - Keras's metric functions include its loss functions
    binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy, categorical_focal_crossentropy,
    categorical_hinge, hinge, huber, kl_divergence, kld, log_cosh, mae, mean_absolute_error, mean_squared_error,
    mse, poisson, sparse_categorical_crossentropy, squared_hinge,
)

__all__ = [
    "Metric", "MeanMetricWrapper", "get", "serialize", "deserialize",
    # Keras's metric functions: per-sample values
    "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy", "mean_squared_error", "mse", "mean_absolute_error", "mae",
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "huber",
    "kl_divergence", "kld", "poisson", "log_cosh", "hinge", "squared_hinge", "categorical_hinge",
    "binary_focal_crossentropy", "categorical_focal_crossentropy",
]

KIND = "metrics"


class Metric:
    """Base class of metrics: state updated batch by batch, read with `result`.

    Args:
        name: the key in logs and History (default: the snake_case class name).
        dtype: accepted for Keras compatibility; state is kept in float64.
    """

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        self.name = name or snake_case(type(self).__name__)
        self.dtype = dtype
        self.reset_state()

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Fold one batch into the state."""
        raise NotImplementedError(f"{type(self).__name__} does not implement update_state()")

    def result(self) -> float:
        """The metric over everything seen since the last reset."""
        raise NotImplementedError(f"{type(self).__name__} does not implement result()")

    def reset_state(self) -> None:
        """Forget everything seen."""

    def get_state(self) -> dict:
        """The numbers the metric has accumulated, JSON-safe: {attribute: number or list}.

        By default every numeric attribute that is not part of the config (a
        checkpoint stores this mid-epoch; data-parallel training sums it over
        replicas when `additive_state` says that is exact). Override together
        with `set_state` for a metric that keeps its state some other way.
        """
        try:
            config_keys = set(self.get_config())
        except Exception:  # noqa: BLE001 - a plugin metric without a config still has state
            config_keys = set()
        out: dict = {}
        for key, value in vars(self).items():
            if key in config_keys or isinstance(value, (bool, np.bool_)):
                continue
            if isinstance(value, (int, float, np.integer, np.floating)):
                out[key] = value.item() if isinstance(value, np.generic) else value
            elif isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
                out[key] = value.tolist()
        return out

    def set_state(self, state: dict) -> None:
        """Put back what `get_state` returned (arrays keep their dtype, numbers their type)."""
        for key, value in state.items():
            old = getattr(self, key, None)
            if isinstance(old, np.ndarray):
                setattr(self, key, np.asarray(value, dtype=old.dtype).reshape(old.shape))
            elif isinstance(old, (int, np.integer)) and not isinstance(old, bool):
                setattr(self, key, int(round(float(value))))
            elif isinstance(old, (float, np.floating)):
                setattr(self, key, float(value))
            else:
                setattr(self, key, value)

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "Metric":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class MeanMetricWrapper(Metric):
    """The weighted mean of per-sample values.

    Subclasses implement `values(y_true, y_pred) -> ndarray` (one value per
    sample, or per sample and step); or pass a function as `fn`.

    Args:
        fn: ``fn(y_true, y_pred) -> per-sample values``; None when a subclass
            implements `values`.
        name: the key in logs.
        dtype: see `Metric`.
    """

    def __init__(self, fn: Callable | None = None, name: str | None = None, dtype: Any = None) -> None:
        self._fn = fn
        if name is None and fn is not None:
            name = getattr(fn, "__name__", None)
        super().__init__(name=name, dtype=dtype)

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        if self._fn is None:
            raise NotImplementedError(f"{type(self).__name__} does not implement values()")
        return np.asarray(self._fn(y_true, y_pred), dtype=np.float64)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        values = np.asarray(self.values(np.asarray(y_true), np.asarray(y_pred)))
        if sample_weight is None:
            self.total += float(values.sum())  # bool hits sum as counts: no float copy
            self.count += float(values.size)
            return
        values = values.astype(np.float64, copy=False)
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.size == values.size:  # (N, 1) weights for (N,) values, or the exact shape
            w = w.reshape(values.shape)
        while w.ndim < values.ndim:  # (N,) weights for (N, T) values weigh every step
            w = w[..., None]
        try:
            w = np.broadcast_to(w, values.shape)
        except ValueError:
            raise ShapeError(
                f"Metric '{self.name}': sample_weight of shape {np.shape(sample_weight)} does not fit "
                f"the per-sample values of shape {values.shape}"
            ) from None
        self.total += float(np.dot(w.ravel(), values.ravel()))
        self.count += float(w.sum())

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def get_config(self) -> dict:
        return {"name": self.name}


class _LossMetric(MeanMetricWrapper):
    """A registered loss used as a metric (``metrics=["binary_crossentropy"]``)."""

    def __init__(self, loss: Any, name: str | None = None) -> None:
        self.loss = loss
        super().__init__(loss.per_sample, name=name or loss.name)

    def get_config(self) -> dict:
        return {"name": self.name}


class CompileAccuracy(MeanMetricWrapper):
    """What compile's ``"accuracy"`` (or ``"acc"``) means, as in Keras 3: binary accuracy when
    y_pred's last axis is 1, sparse categorical when the targets are integer labels (y_true of
    lower rank, or a last axis of 1 against several classes), else categorical. The shapes are
    read at each batch (Keras reads them once, from the first); the classes that do the
    counting are the registered ones."""

    def __init__(self, name: str | None = "accuracy", dtype: Any = None) -> None:
        super().__init__(name=name or "accuracy", dtype=dtype)
        self._kinds: dict[str, Any] = {}

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        if y_pred.ndim == 1 or y_pred.shape[-1] == 1:
            kind = "BinaryAccuracy"
        elif y_true.ndim < y_pred.ndim or y_true.shape[-1] == 1:
            kind = "SparseCategoricalAccuracy"
        else:
            kind = "CategoricalAccuracy"
        metric = self._kinds.get(kind)
        if metric is None:
            metric = self._kinds[kind] = _view.lookup(KIND, kind)()
        return metric.values(y_true, y_pred)


def get(identifier: Any, loss: Any = None) -> Metric | None:
    """A Metric from a name, a {"class_name", "config"} dict, an instance or a function.

    Args:
        identifier: "accuracy"/"acc" resolve to binary, categorical or sparse
            categorical accuracy from the shapes of the targets and predictions,
            as Keras 3 does (`CompileAccuracy`). Other strings name a registered
            metric (the string becomes the metric's name, so "mae" logs as
            "mae") or a registered loss. A plain function ``fn(y_true, y_pred)``
            returning per-sample values is averaged.
        loss: the model's loss (accepted for compatibility; Keras 3 does not use it).
    """
    if identifier is None:
        return None
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            return CompileAccuracy(name=identifier)
        try:
            obj = _view.lookup(KIND, identifier)
        except UnknownComponentError as metric_error:
            try:
                loss_obj = _view.lookup("losses", identifier)
            except UnknownComponentError:
                raise metric_error from None
            return _LossMetric(loss_obj() if inspect.isclass(loss_obj) else loss_obj, name=identifier)
        if inspect.isclass(obj):
            return obj(name=identifier) if identifier != obj.__name__ else obj()
        return obj
    if callable(identifier) and not isinstance(identifier, (type, dict)):
        return MeanMetricWrapper(identifier)
    if isinstance(identifier, dict) and identifier.get("class_name") in ("accuracy", "acc"):
        return CompileAccuracy(name=str((identifier.get("config") or {}).get("name", "accuracy")))
    return _view.resolve(KIND, identifier, Metric, "metric")


def serialize(metric: Metric) -> dict:
    """{"class_name": registered name, "config": {...}}."""
    return _view.serialize(KIND, metric)


def deserialize(config: dict | str, loss: Any = None) -> Metric:
    """Inverse of `serialize`."""
    return get(config, loss=loss)


# -- Keras's metric functions --------------------------------------------------------------
# `metrics.binary_accuracy(y_true, y_pred)` gives per-sample values, as in Keras; the strings
# given to compile still name the registered metric classes, which each function looks up
# when called (they live in the built-in plugin, above this module).


def _values(class_name: str, y_true: Any, y_pred: Any, **config: Any) -> np.ndarray:
    """The registered mean metric `class_name`'s per-sample values, as floats of y_pred's
    precision; a 1-D y_pred is one sample, as in Keras (the result is then 0-d)."""
    metric = _view.lookup(KIND, class_name)(**config)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    dtype = y_pred.dtype if y_pred.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    if y_pred.ndim == 1:
        return np.asarray(metric.values(y_true[None], y_pred[None]), dtype=dtype).reshape(())
    return np.asarray(metric.values(y_true, y_pred), dtype=dtype)


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> np.ndarray:
    """1.0 where (y_pred > threshold) equals the 0/1 target, else 0.0, for every entry (Keras 3
    returns one value per entry here, not per sample)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    dtype = y_pred.dtype if y_pred.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    if y_true.shape != y_pred.shape:
        y_true = y_true.reshape(y_pred.shape)
    return ((y_pred > threshold) == (y_true > 0.5)).astype(dtype)


def categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """1.0 where argmax(y_pred) equals argmax(y_true) (one-hot targets), else 0.0, per sample."""
    return _values("CategoricalAccuracy", y_true, y_pred)


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """1.0 where argmax(y_pred) equals the integer label, else 0.0, per sample."""
    return _values("SparseCategoricalAccuracy", y_true, y_pred)


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    """1.0 where the one-hot target class is among the k highest predictions, else 0.0, per sample."""
    return _values("TopKCategoricalAccuracy", y_true, y_pred, k=k)


def sparse_top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    """1.0 where the integer label is among the k highest predictions, else 0.0, per sample."""
    return _values("SparseTopKCategoricalAccuracy", y_true, y_pred, k=k)


def __getattr__(name: str) -> Any:
    return _view.module_getattr(KIND, __name__, name)
