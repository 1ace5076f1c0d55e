"""Model: compile / fit / evaluate / predict, shared by every kind of model.

A subclass supplies the graph: `layers`, `_build_for(input_shape)` and
`_forward(x, training) -> (y, backprop)`. Everything about training lives
here, once.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any, Sequence

import numpy as np

from corelib import config
from corelib.batching import (
    as_input_array,
    class_weights,
    as_target_array,
    batch_slices,
    check_input_shape,
    check_sample_counts,
    split_validation,
)
from corelib.callbacks import Callback, CallbackList
from corelib.errors import ConfigError, DataError
from corelib.container import LayerContainer
from corelib.layer import Layer

__all__ = ["Model"]


class Model(LayerContainer):
    """Base class of trainable models (see `Sequential`).

    Attributes:
        optimizer, loss: set by `compile`.
        history: the `History` of the last `fit`.
        stop_training: a callback sets it to end `fit` after the current epoch.
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name or "model"
        self.optimizer: Any = None
        self.loss: Any = None
        self.metrics: list = []
        self._metric_names: list[str] = []
        self.compiled = False
        self.stop_training = False
        self.history: Any = None

    # -- the graph, supplied by subclasses --------------------------------------

    layers: list[Layer]

    def _forward(self, x: np.ndarray, training: bool):
        raise NotImplementedError

    def _build_for(self, input_shape: tuple) -> None:
        raise NotImplementedError

    @property
    def built(self) -> bool:
        return bool(self.layers) and all(layer.built for layer in self.layers)

    @property
    def input_shape(self) -> tuple | None:
        return self.layers[0].input_shape if self.built else None

    @property
    def output_shape(self) -> tuple | None:
        return self.layers[-1].output_shape if self.built else None

    @property
    def dtype(self) -> str:
        return self.layers[0].dtype if self.layers else config.floatx()

    # -- compile ------------------------------------------------------------------

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Sequence[Any] | None = None,
                loss_weights: Any = None, weighted_metrics: Any = None, **kwargs: Any) -> None:
        """Choose the optimizer, loss and metrics for training.

        Args:
            optimizer: name ("adam"), config dict or Optimizer instance.
            loss: name ("categorical_crossentropy"), config dict, Loss instance or callable.
            metrics: list of names ("accuracy") or Metric instances.
        """
        from corelib import losses, metrics as metrics_mod, optimizers

        ignored = {"run_eagerly", "jit_compile", "steps_per_execution", "auto_scale_loss"}
        unknown = set(kwargs) - ignored
        if unknown:
            raise ConfigError(f"compile() got unexpected keyword arguments: {sorted(unknown)}")
        if loss_weights is not None or weighted_metrics is not None:
            raise ConfigError("loss_weights and weighted_metrics need a model with several outputs")
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss) if loss is not None else None
        self.metrics, self._metric_names = [], []
        for m in metrics or []:
            metric = metrics_mod.get(m, loss=self.loss)
            self.metrics.append(metric)
            self._metric_names.append(m if isinstance(m, str) else metric.name)
        self.compiled = True

    @property
    def metrics_names(self) -> list[str]:
        return ["loss"] + self._metric_names

    def _require_compiled(self, what: str) -> None:
        if not self.compiled or self.loss is None:
            raise ConfigError(f"You must call compile() with a loss before {what}()")

    @property
    def _sparse_targets(self) -> bool:
        return bool(getattr(self.loss, "sparse_targets", False))

    # -- data ---------------------------------------------------------------------

    def _prepare_x(self, x: Any, where: str = "x") -> np.ndarray:
        x = as_input_array(x, self.dtype, where)
        if not self.built:
            self._build_for((None,) + x.shape[1:])
        check_input_shape(x, self.input_shape, where)
        return x

    def _prepare_xy(self, x, y, sample_weight=None, where: str = ""):
        x = self._prepare_x(x, f"{where}x")
        if y is None:
            raise DataError(f"{where}y is required for training and evaluation")
        y = as_target_array(y, self.dtype, self._sparse_targets, f"{where}y")
        sw = None
        if sample_weight is not None:
            sw = as_target_array(sample_weight, self.dtype, False, f"{where}sample_weight")
            if sw.ndim != 1:
                raise DataError(f"{where}sample_weight must be 1-D (one weight per sample), got shape {sw.shape}")
        check_sample_counts(x, y, sw)
        return x, y, sw

    # -- one step -----------------------------------------------------------------

    def _zero_grads(self) -> None:
        for layer in self.layers:
            for p in layer._params:
                p.grad.fill(0)

    def _train_step(self, x: np.ndarray, y: np.ndarray, sw: np.ndarray | None, params: list) -> float:
        self._zero_grads()
        y_pred, backprop = self._forward(x, True)
        loss, dy = self.loss.forward_backward(y, y_pred, sw)
        backprop(dy)
        loss = float(loss) + self._apply_regularizers()
        self.optimizer.apply(params)
        for metric in self.metrics:
            metric.update_state(y, y_pred, sw)
        return loss

    def _apply_regularizers(self) -> float:
        total = 0.0
        for layer in self.layers:
            for p in layer._params:
                if p.regularizer is not None:
                    total += float(p.regularizer(p.value))
                    if p.trainable:
                        p.grad += p.regularizer.gradient(p.value)
        return total

    def _test_step(self, x, y, sw) -> float:
        y_pred, _ = self._forward(x, False)
        loss = float(self.loss(y, y_pred, sw)) + self._regularization_value()
        for metric in self.metrics:
            metric.update_state(y, y_pred, sw)
        return loss

    def _regularization_value(self) -> float:
        return sum(float(p.regularizer(p.value)) for layer in self.layers
                   for p in layer._params if p.regularizer is not None)

    def _logs(self, loss_sum: float, count: int, prefix: str = "") -> dict:
        logs = {f"{prefix}loss": loss_sum / max(count, 1)}
        for name, metric in zip(self._metric_names, self.metrics):
            logs[f"{prefix}{name}"] = float(metric.result())
        return logs

    def _reset_metrics(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    # -- fit ----------------------------------------------------------------------

    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: int | str = "auto", callbacks: Sequence[Callback] | None = None,
            validation_split: float = 0.0, validation_data: Any = None, shuffle: bool = True,
            class_weight: dict | None = None, sample_weight: Any = None, initial_epoch: int = 0,
            steps_per_epoch: int | None = None, validation_batch_size: int | None = None,
            validation_freq: int = 1, **kwargs: Any):
        """Train for `epochs` passes over (x, y); returns a `History`.

        Arguments and defaults are Keras's: batch_size 32, validation_split
        taken from the end of the data before shuffling, verbose "auto"
        (a progress bar on a terminal, one line per epoch otherwise).
        """
        if kwargs:
            raise ConfigError(f"fit() got unexpected keyword arguments: {sorted(kwargs)}")
        self._require_compiled("fit")
        batch_size = _positive_int(32 if batch_size is None else batch_size, "batch_size")
        epochs = int(epochs)
        x, y, sw = self._prepare_xy(x, y, sample_weight)
        if class_weight:
            cw = class_weights(y, class_weight, self._sparse_targets, self.dtype)
            sw = cw if sw is None else sw * cw
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise DataError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight)")
            val = self._prepare_xy(*validation_data, where="validation_data ")
        elif validation_split:
            (x, y, sw), (vx, vy, vsw) = split_validation([x, y, sw], float(validation_split))
            val = (vx, vy, vsw)
        n = x.shape[0]
        steps = -(-n // batch_size)
        if steps_per_epoch is not None:
            steps = min(steps, _positive_int(steps_per_epoch, "steps_per_epoch"))
        verbose = _resolve_verbose(verbose)
        cbs = self._callback_list(callbacks, verbose, add_history=True)
        cbs.set_params({"epochs": epochs, "steps": steps, "verbose": verbose,
                        "batch_size": batch_size, "samples": n})
        self.stop_training = False
        params = self.trainable_weights
        cbs.on_train_begin()
        epoch_logs: dict = {}
        for epoch in range(int(initial_epoch), epochs):
            self._reset_metrics()
            cbs.on_epoch_begin(epoch)
            order = config.rng().permutation(n) if shuffle else None
            loss_sum, count = 0.0, 0
            batch_logs: dict = {}
            want_logs = cbs.wants_batch_logs()
            for step, idx in enumerate(batch_slices(n, batch_size, order)):
                if step >= steps:
                    break
                cbs.on_train_batch_begin(step)
                xb, yb = x[idx], y[idx]
                loss = self._train_step(xb, yb, None if sw is None else sw[idx], params)
                loss_sum += loss * xb.shape[0]
                count += xb.shape[0]
                if want_logs:
                    batch_logs = self._logs(loss_sum, count)
                cbs.on_train_batch_end(step, batch_logs)
                if self.stop_training:
                    break
            epoch_logs = self._logs(loss_sum, count)
            if val is not None and (epoch + 1) % validation_freq == 0:
                epoch_logs.update(self._evaluate_arrays(*val, validation_batch_size or batch_size, "val_"))
            cbs.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        cbs.on_train_end(epoch_logs)
        return self.history

    def _callback_list(self, callbacks, verbose: int, add_history: bool) -> CallbackList:
        from corelib.builtin.callbacks.history import History
        from corelib.builtin.callbacks.progbar import ProgbarLogger

        items = list(callbacks or [])
        for cb in items:
            if not isinstance(cb, Callback):
                raise ConfigError(f"callbacks must be Callback instances; received {cb!r}")
        if add_history:
            self.history = History()
            items = items + [self.history]
        if verbose:
            items = [ProgbarLogger(verbose)] + items
        cbs = CallbackList(items)
        cbs.set_model(self)
        return cbs

    # -- evaluate / predict -------------------------------------------------------

    def _evaluate_arrays(self, x, y, sw, batch_size: int, prefix: str = "") -> dict:
        self._reset_metrics()
        loss_sum, count = 0.0, 0
        for idx in batch_slices(x.shape[0], batch_size):
            xb = x[idx]
            loss_sum += self._test_step(xb, y[idx], None if sw is None else sw[idx]) * xb.shape[0]
            count += xb.shape[0]
        return self._logs(loss_sum, count, prefix)

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None,
                 verbose: int | str = "auto", sample_weight: Any = None, steps: int | None = None,
                 callbacks: Sequence[Callback] | None = None, return_dict: bool = False):
        """Loss and metrics on (x, y): a float, a list [loss, *metrics], or a dict."""
        self._require_compiled("evaluate")
        x, y, sw = self._prepare_xy(x, y, sample_weight)
        batch_size = _positive_int(32 if batch_size is None else batch_size, "batch_size")
        cbs = self._callback_list(callbacks, 0, add_history=False)
        cbs.on_test_begin()
        logs = self._evaluate_arrays(x, y, sw, batch_size)
        cbs.on_test_end(logs)
        if _resolve_verbose(verbose):
            from corelib.builtin.callbacks.progbar import format_logs

            print(f"evaluate - {x.shape[0]} samples - {format_logs(logs)}", file=sys.stdout)
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def predict(self, x: Any, batch_size: int | None = None, verbose: int | str = "auto",
                steps: int | None = None, callbacks: Sequence[Callback] | None = None) -> np.ndarray:
        """The model's outputs for `x`, computed batch by batch."""
        x = self._prepare_x(x)
        batch_size = _positive_int(32 if batch_size is None else batch_size, "batch_size")
        out = None
        for idx in batch_slices(x.shape[0], batch_size):
            y, _ = self._forward(x[idx], False)
            if out is None:
                out = np.empty((x.shape[0],) + y.shape[1:], dtype=y.dtype)
            out[idx] = y
        return out

    # -- single batches -------------------------------------------------------------

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                       class_weight: dict | None = None, return_dict: bool = False):
        """One optimizer step on one batch; returns the loss (and metrics)."""
        self._require_compiled("train_on_batch")
        x, y, sw = self._prepare_xy(x, y, sample_weight)
        if class_weight:
            cw = class_weights(y, class_weight, self._sparse_targets, self.dtype)
            sw = cw if sw is None else sw * cw
        self._reset_metrics()
        loss = self._train_step(x, y, sw, self.trainable_weights)
        return self._batch_result(loss, return_dict)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False):
        self._require_compiled("test_on_batch")
        x, y, sw = self._prepare_xy(x, y, sample_weight)
        self._reset_metrics()
        return self._batch_result(self._test_step(x, y, sw), return_dict)

    def predict_on_batch(self, x: Any) -> np.ndarray:
        y, _ = self._forward(self._prepare_x(x), False)
        return y.copy()

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        y, _ = self._forward(self._prepare_x(x), training)
        return y.copy()

    def _batch_result(self, loss: float, return_dict: bool):
        logs = self._logs(loss, 1)
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values

    # -- inspection and files -----------------------------------------------------------

    def summary(self, line_length: int | None = None, positions: Any = None, print_fn: Any = None) -> None:
        """Print each layer's type, output shape, parameters and providing plugin."""
        from corelib.summary import print_summary

        print_summary(self, line_length=line_length, print_fn=print_fn)

    def save(self, filepath: str, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Write the model (config, weights, optimizer state) to one zip file."""
        from corelib.saving import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"{name} must be a positive int. Received: {name}={value!r}")
    return int(value)


def _resolve_verbose(verbose: int | str) -> int:
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    if verbose not in (0, 1, 2):
        raise ConfigError(f"verbose must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}")
    return int(verbose)


def accepts_keyword(func: Any, name: str) -> bool:
    """Whether `func` takes the keyword argument `name` (checked once per layer, not per step)."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
