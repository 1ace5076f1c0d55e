"""BaseModel: compile / fit / train_on_batch, shared by every kind of model
(evaluate / predict come from corelib/inference.py).

A subclass supplies the graph: `layers`, the input and output names and
shapes, `_build_for(shapes)` and `_forward(xs, training) -> (ys, backprop)`
over lists of arrays. Everything about training lives here, once: a model
with several outputs has one loss per output, combined into one scalar (their
mean, or the weighted sum given by `loss_weights`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from corelib import config
from corelib.batching import batch_slices, class_weights, split_validation
from corelib.callbacks import Callback, CallbackList
from corelib.compile_utils import CompiledLosses
from corelib.container import LayerContainer
from corelib.data_parallel import replicas_for
from corelib.distribute import collective
from corelib.errors import ConfigError, DataError
from corelib.inference import InferenceMixin
from corelib.layer import Layer
from corelib.model_io import ModelIO
from corelib.training_args import accepts_keyword, positive_int, resolve_verbose

__all__ = ["BaseModel", "accepts_keyword"]


class BaseModel(InferenceMixin, ModelIO, LayerContainer):
    """Base class of trainable models (see `Model` and `Sequential`).

    Attributes:
        optimizer, loss: set by `compile` (`loss` as given: one, a list or a dict).
        history: the `History` of the last `fit`.
        stop_training: a callback sets it to end `fit` after the current batch.
        interrupted: set it (with stop_training) to leave `fit` after the current
            batch without the epoch's end (no validation, no on_epoch_end), so a
            checkpoint taken in on_train_end records the exact step (Ctrl-C).
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name or "model"
        self.optimizer: Any = None
        self.loss: Any = None
        self._compiled: CompiledLosses | None = None
        self.compiled = False
        self.stop_training = False
        self.interrupted = False
        self.history: Any = None
        self._resume_point: Any = None  # a checkpoint.TrainState, set by BackupAndRestore.on_train_begin
        self._epoch_rng_state: dict | None = None  # dl's random state at the epoch's start, before the shuffle

    # -- supplied by subclasses -----------------------------------------------------

    layers: list[Layer]
    input_names: list[str]
    output_names: list[str]

    def _forward(self, xs: list[np.ndarray], training: bool):
        raise NotImplementedError

    def _build_for(self, input_shapes: list[tuple]) -> None:
        raise NotImplementedError

    def _input_shapes(self) -> list[tuple] | None:
        raise NotImplementedError

    def _pack_outputs(self, ys: list[np.ndarray]) -> Any:
        raise NotImplementedError

    @property
    def built(self) -> bool:
        return bool(self.layers) and all(layer.built for layer in self.layers)

    @property
    def dtype(self) -> str:
        return self.layers[0].dtype if self.layers else config.floatx()

    # -- compile ------------------------------------------------------------------

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                loss_weights: Any = None, weighted_metrics: Any = None, **kwargs: Any) -> None:
        """Choose the optimizer, the loss (one per output) and the metrics.

        Args:
            optimizer: name ("adam"), config dict or Optimizer instance.
            loss: one loss for every output, a list (one per output) or a dict
                keyed by output name; each a name, config dict or Loss.
            metrics: a list (applied to every output), a list of lists, or a
                dict keyed by output name.
            loss_weights: a list or dict of per-output weights; the total loss
                is then sum(weight * loss) instead of the mean of the losses.
        """
        from corelib import optimizers

        ignored = {"run_eagerly", "jit_compile", "steps_per_execution", "auto_scale_loss"}
        unknown = set(kwargs) - ignored
        if unknown:
            raise ConfigError(f"compile() got unexpected keyword arguments: {sorted(unknown)}")
        if weighted_metrics is not None:
            raise ConfigError("weighted_metrics is not supported; metrics are weighted by sample_weight")
        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        self._compiled = CompiledLosses(self.output_names, loss, metrics, loss_weights) if loss is not None else None
        self.compiled = True

    @property
    def metrics_names(self) -> list[str]:
        return self._compiled.log_names() if self._compiled else ["loss"]

    @property
    def compiled_losses(self) -> list:
        """The Loss object of each output, in output order (after compile)."""
        return list(self._compiled.losses) if self._compiled else []

    @property
    def metrics(self) -> list:
        return [m for _, _, m in self._compiled.metrics] if self._compiled else []

    def _require_compiled(self, what: str) -> CompiledLosses:
        if not self.compiled or self._compiled is None:
            raise ConfigError(f"You must call compile() with a loss before {what}()")
        return self._compiled

    # -- data ---------------------------------------------------------------------

    def _prepare_x(self, x: Any, where: str = "x") -> list[np.ndarray]:
        from corelib.batching import as_inputs

        xs = as_inputs(x, self.input_names, self.dtype, where)
        if not self.built:
            self._build_for([(None,) + a.shape[1:] for a in xs])
        from corelib.batching import check_input_shape

        for a, shape, name in zip(xs, self._input_shapes(), self.input_names):
            check_input_shape(a, shape, where if len(xs) == 1 else f"{where}['{name}']")
        return xs

    def _prepare_xy(self, x, y, sample_weight=None, where: str = ""):
        from corelib.batching import as_target_array, as_targets, check_sample_counts

        compiled = self._compiled
        xs = self._prepare_x(x, f"{where}x")
        if y is None:
            raise DataError(f"{where}y is required for training and evaluation")
        ys = as_targets(y, self.output_names, self.dtype, compiled.sparse, f"{where}y")
        sw = None
        if sample_weight is not None:
            sw = as_target_array(sample_weight, self.dtype, False, f"{where}sample_weight")
            if sw.ndim != 1:
                raise DataError(f"{where}sample_weight must be 1-D (one weight per sample), got shape {sw.shape}")
        check_sample_counts(xs, ys, sw, where)
        return xs, ys, sw

    def _with_class_weight(self, ys, sw, class_weight):
        if not class_weight:
            return sw
        if len(ys) != 1:
            raise ConfigError("class_weight needs a model with one output; use sample_weight instead")
        cw = class_weights(ys[0], class_weight, self._compiled.sparse[0], self.dtype)
        return cw if sw is None else sw * cw

    # -- one step -----------------------------------------------------------------

    def _zero_grads(self) -> None:
        for layer in self.layers:
            for p in layer._params:
                p.grad.fill(0)

    def _train_step(self, xs, ys, sw, params: list) -> float:
        self._zero_grads()
        y_pred, backprop = self._forward(xs, True)
        loss, dys = self._compiled.forward_backward(ys, y_pred, sw)
        backprop(dys)
        loss += self._apply_regularizers()
        self.optimizer.apply(params)
        self._compiled.update_metrics(ys, y_pred, sw)
        return loss

    def _apply_regularizers(self) -> float:
        total = 0.0
        for layer in self.layers:
            for p in layer._params:
                if p.regularizer is not None:
                    total += float(p.regularizer(p.value))
                    if p.trainable and layer.trainable:
                        p.grad += p.regularizer.gradient(p.value)
        return total

    def _regularization_value(self) -> float:
        return sum(float(p.regularizer(p.value)) for layer in self.layers
                   for p in layer._params if p.regularizer is not None)

    def _test_step(self, xs, ys, sw) -> float:
        y_pred, _ = self._forward(xs, False)
        loss = self._compiled.value(ys, y_pred, sw) + self._regularization_value()
        self._compiled.update_metrics(ys, y_pred, sw)
        return loss

    # -- fit ----------------------------------------------------------------------

    @collective("fit")
    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: int | str = "auto", callbacks: Sequence[Callback] | None = None,
            validation_split: float = 0.0, validation_data: Any = None, shuffle: bool = True,
            class_weight: dict | None = None, sample_weight: Any = None, initial_epoch: int = 0,
            steps_per_epoch: int | None = None, validation_batch_size: int | None = None,
            validation_freq: int = 1, **kwargs: Any):
        """Train for `epochs` passes over (x, y); returns a `History`.

        Arguments and defaults are Keras's: batch_size 32, validation_split
        taken from the end of the data before shuffling, verbose "auto"
        (a progress bar on a terminal, one line per epoch otherwise). x and y
        are arrays, or lists / dicts of arrays for several inputs / outputs.
        Under a distribution strategy (`corelib.distribute`) every replica
        calls fit with the same data and trains on its share of each batch.
        """
        if kwargs:
            raise ConfigError(f"fit() got unexpected keyword arguments: {sorted(kwargs)}")
        compiled = self._require_compiled("fit")
        batch_size = positive_int(32 if batch_size is None else batch_size, "batch_size")
        epochs = int(epochs)
        xs, ys, sw = self._prepare_xy(x, y, sample_weight)
        sw = self._with_class_weight(ys, sw, class_weight)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise DataError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight)")
            val = self._prepare_xy(*validation_data, where="validation_data ")
        elif validation_split:
            nx, ny = len(xs), len(ys)
            train, held = split_validation(xs + ys + [sw], float(validation_split))
            xs, ys, sw = train[:nx], train[nx:nx + ny], train[-1]
            val = (held[:nx], held[nx:nx + ny], held[-1])
        n = xs[0].shape[0]
        steps = -(-n // batch_size)
        if steps_per_epoch is not None:
            steps = min(steps, positive_int(steps_per_epoch, "steps_per_epoch"))
        verbose = resolve_verbose(verbose)
        replicas = replicas_for(self)
        if replicas is not None and not replicas.strategy.is_chief:
            verbose = 0
        cbs = self._callback_list(callbacks, verbose, add_history=True)
        cbs.set_params({"epochs": epochs, "steps": steps, "verbose": verbose,
                        "batch_size": batch_size, "samples": n})
        self.stop_training = self.interrupted = False
        self._resume_point = None
        params = self.trainable_weights
        cbs.on_train_begin()
        if replicas is not None:  # the chief's weights, optimizer and random state (or checkpoint) for all
            replicas.begin_fit()
        resume, self._resume_point = self._resume_point, None
        epoch_logs: dict = {}
        for epoch in range(resume.epoch if resume is not None else int(initial_epoch), epochs):
            compiled.reset()
            cbs.on_epoch_begin(epoch)
            self._epoch_rng_state = config.get_rng_state()
            if resume is not None and epoch == resume.epoch:  # same shuffle, random state and running sums
                order, skip = resume.enter_epoch(self, n, shuffle)
            else:
                order, skip = (config.rng().permutation(n) if shuffle else None), 0
            batch_logs: dict = {}
            want_logs = cbs.wants_batch_logs()
            for step, idx in enumerate(batch_slices(n, batch_size, order)):
                if step >= steps:
                    break
                if step < skip:
                    continue
                cbs.on_train_batch_begin(step)
                if replicas is None:
                    xb = [a[idx] for a in xs]
                    loss = self._train_step(xb, [a[idx] for a in ys], None if sw is None else sw[idx], params)
                    compiled.add_loss(loss, xb[0].shape[0])
                else:
                    replicas.train_batch(xs, ys, sw, idx)
                if want_logs:
                    batch_logs = compiled.logs()
                cbs.on_train_batch_end(step, batch_logs)
                if self.stop_training:
                    break
            if self.interrupted:
                break
            epoch_logs = compiled.logs()
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

    # -- single batches -------------------------------------------------------------

    @collective("train_on_batch")
    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                       class_weight: dict | None = None, return_dict: bool = False):
        """One optimizer step on one batch; returns the loss (and metrics)."""
        compiled = self._require_compiled("train_on_batch")
        xs, ys, sw = self._prepare_xy(x, y, sample_weight)
        sw = self._with_class_weight(ys, sw, class_weight)
        compiled.reset()
        replicas = replicas_for(self)
        if replicas is None:
            compiled.add_loss(self._train_step(xs, ys, sw, self.trainable_weights), 1)
        else:
            replicas.ensure_ready()
            replicas.train_batch(xs, ys, sw, slice(0, xs[0].shape[0]))
        return self._result(compiled.logs(), return_dict)
