"""Trainer: compile / fit / train_on_batch, shared by every kind of model
(evaluate / predict come from `corelib.trainers.inference`).

A subclass supplies the graph: `layers`, the input and output names and
shapes, `_build_for(shapes)` and `_forward(xs, training) -> (ys, backprop)`
over lists of arrays. Everything about training lives here, once: a model
with several outputs has one loss per output, combined into one scalar (their
mean, or the weighted sum given by `loss_weights`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from corelib import config, optimizers
from corelib.callbacks.base import Callback, CallbackList
from corelib.callbacks.history import History
from corelib.callbacks.progbar import ProgbarLogger
from corelib.distribute import collective
from corelib.errors import ConfigError
from corelib.layers.base import Layer
from corelib.trainers.arguments import optional_steps, positive_int, resolve_verbose, validation_schedule
from corelib.trainers.batching import split_validation
from corelib.trainers.compile_utils import CompiledLosses
from corelib.trainers.data_parallel import DataParallel
from corelib.trainers.epochs import ArrayEpochs, StreamEpochs
from corelib.trainers.inference import InferenceMixin
from corelib.trainers.inputs import InputsMixin
from corelib.trainers.step import StepMixin
from corelib.trainers.streams import Stream, is_stream, refuse_stream_arguments

__all__ = ["Trainer"]


class Trainer(StepMixin, InputsMixin, InferenceMixin):
    """What makes a model trainable: compile, fit, train_on_batch (and, from
    `InferenceMixin`, evaluate and predict). `corelib.models.BaseModel` mixes it
    with the graph; it works on any object that has the members listed below.

    One training step is `train_step(data)` (from `StepMixin`): `compute_gradients`,
    the sum over replicas under a distribution strategy, `apply_gradients`.

    Attributes:
        optimizer, loss: set by `compile` (`loss` as given: one, a list or a dict).
        compiled_loss: the per-output losses, metrics and running logs `compile` set up.
        history: the `History` of the last `fit`.
        stop_training: a callback sets it to end `fit` after the current batch.
        interrupted: True when `fit` ended through `request_stop` (after the step,
            without the epoch's end: no validation, no on_epoch_end), so a
            checkpoint taken in on_train_end records the exact step (Ctrl-C).
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name or "model"
        self.optimizer: Any = None
        self.loss: Any = None
        self.compiled_loss: CompiledLosses | None = None
        self.compiled = False
        self.stop_training = False
        self.interrupted = False
        self.history: Any = None
        self._stop_requested = False
        self._resume_point: Any = None  # a TrainState fit continues from (resume_from)
        self._epoch_rng_state: dict | None = None  # dl's random state before the current pass's shuffle
        self._data_parallel: DataParallel | None = None
        self._pass_plan = (0, 1)  # (the fit's initial_epoch, epochs per pass over the data)

    # -- supplied by subclasses -----------------------------------------------------

    layers: list[Layer]
    input_names: list[str]
    output_names: list[str]

    def _forward(self, xs: list[np.ndarray], training: bool):
        raise NotImplementedError

    def _build_for(self, input_shapes: list[tuple], dtypes: list[str | None] | None = None) -> None:
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
        """The float dtype the model computes in (an integer Input's ids are not it)."""
        return next((layer.dtype for layer in self.layers if not getattr(layer, "is_integer", False)),
                    config.floatx())

    def _input_dtypes(self) -> list[str]:
        """The dtype each input's data is converted to: the float dtype, or int64 for integer ids."""
        inputs = getattr(self, "inputs", None) if self.built else None
        if not inputs:
            return [self.dtype] * len(self.input_names)
        return ["int64" if getattr(t.node.layer, "is_integer", False) else self.dtype for t in inputs]

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
            weighted_metrics: metrics (in the same forms as `metrics`) computed with the
                sample_weight / class_weight given to fit and evaluate; `metrics` ignore
                those weights, as in Keras 3.
        """
        ignored = {"run_eagerly", "jit_compile", "steps_per_execution", "auto_scale_loss"}
        unknown = set(kwargs) - ignored
        if unknown:
            raise ConfigError(f"compile() got unexpected keyword arguments: {sorted(unknown)}")
        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        self.compiled_loss = (CompiledLosses(self.output_names, loss, metrics, loss_weights, weighted_metrics)
                              if loss is not None else None)
        self.compiled = True

    @property
    def metrics_names(self) -> list[str]:
        return self.compiled_loss.log_names() if self.compiled_loss else ["loss"]

    @property
    def compiled_losses(self) -> list:
        """The Loss object of each output, in output order (after compile)."""
        return list(self.compiled_loss.losses) if self.compiled_loss else []

    @property
    def metrics(self) -> list:
        return [tracked.metric for tracked in self.compiled_loss.metrics] if self.compiled_loss else []

    def _require_compiled(self, what: str) -> CompiledLosses:
        if not self.compiled or self.compiled_loss is None:
            raise ConfigError(f"You must call compile() with a loss before {what}()")
        return self.compiled_loss

    # -- stopping and resuming ------------------------------------------------------

    def request_stop(self) -> None:
        """Ask `fit` to stop after the step in progress, without the epoch's end, with
        `interrupted` set (a checkpoint callback then records that exact step). Safe to
        call from a signal handler; under a distribution strategy every replica stops after
        the same step."""
        self._stop_requested = True

    @property
    def stop_requested(self) -> bool:
        """Whether `request_stop` was called and `fit` has not acted on it yet."""
        return self._stop_requested

    def clear_stop_request(self) -> None:
        """Forget a pending `request_stop` (a data-parallel step does once the replicas agreed)."""
        self._stop_requested = False

    def resume_from(self, state: Any) -> None:
        """Make the next `fit` continue from a checkpoint's `TrainState` (set in a callback's
        on_train_begin, after the weights are restored): its epoch and step, shuffle, random
        state and running sums, so the run ends as one never interrupted."""
        self._resume_point = state

    @property
    def resume_point(self) -> Any:
        """The checkpoint's `TrainState` the running (or last) `fit` continued from, or None."""
        return self._resume_point

    @property
    def epoch_rng_state(self) -> dict | None:
        """dl's random state before the shuffle of the current epoch's pass over the data: the
        epoch's start, unless steps_per_epoch splits a pass over several epochs (a checkpoint
        taken mid-epoch or mid-pass records it, to draw the same shuffle on resume)."""
        return self._epoch_rng_state

    # -- fit ----------------------------------------------------------------------

    @collective("fit")
    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: int | str = "auto", callbacks: Sequence[Callback] | None = None,
            validation_split: float = 0.0, validation_data: Any = None, shuffle: bool = True,
            class_weight: dict | None = None, sample_weight: Any = None, initial_epoch: int = 0,
            steps_per_epoch: int | None = None, validation_steps: int | None = None,
            validation_batch_size: int | None = None, validation_freq: int | Sequence[int] = 1, **kwargs: Any):
        """Train for `epochs` passes over (x, y); returns a `History`.

        Arguments and defaults are Keras's: batch_size 32 (or, with
        steps_per_epoch, as many samples as make that many batches),
        validation_split taken from the end of the data before shuffling,
        verbose "auto" (a progress bar on a terminal, one line per epoch
        otherwise). x and y are arrays, or lists / dicts of arrays for several
        inputs / outputs; or x is a stream of (x, y[, sample_weight]) batches (a
        generator, an iterable such as a PyTorch DataLoader, a `PyDataset`; y is then
        None) read batch by batch (see `corelib.trainers.streams`). Under a distribution strategy (`corelib.distribute`)
        every replica calls fit with the same data and trains on its share of
        each batch.

        steps_per_epoch: an epoch is that many batches; the next epoch goes on
            through the same shuffled pass over the data, and a new pass (with a
            new shuffle) starts once one is used up. An epoch ends early when
            its pass runs out of data (warned), as Keras does with arrays.
        validation_steps: validate on the first that many batches of the
            validation data (the same ones every time).
        validation_freq: an int N validates after every N-th epoch (1-based);
            a list or tuple names the 1-based epochs to validate after. The
            val_ logs (and History's val_ lists) have only those epochs.
        """
        if kwargs:
            raise ConfigError(f"fit() got unexpected keyword arguments: {sorted(kwargs)}")
        compiled = self._require_compiled("fit")
        epochs = int(epochs)
        initial_epoch = int(initial_epoch)
        steps_per_epoch = optional_steps(steps_per_epoch, "steps_per_epoch")
        validation_steps = optional_steps(validation_steps, "validation_steps")
        should_validate = validation_schedule(validation_freq)
        batch_size_arg = batch_size if batch_size is None else positive_int(batch_size, "batch_size")
        val_split = None  # the held-out arrays of validation_split
        if is_stream(x):
            stream = Stream(x, shuffle)
            refuse_stream_arguments(stream.what, y=y, sample_weight=sample_weight)
            if validation_split:
                raise ConfigError(f"validation_split is not supported when x is {stream.what}: pass "
                                  "validation_data")
            data: Any = StreamEpochs(stream, self._batch_preparer(class_weight), steps_per_epoch)
        else:
            xs, ys, sw = self._prepare_xy(x, y, sample_weight)
            sw = self._with_class_weight(ys, sw, class_weight)
            if validation_split and validation_data is None:
                nx, ny = len(xs), len(ys)
                train, held = split_validation(xs + ys + [sw], float(validation_split))
                xs, ys, sw = train[:nx], train[nx:nx + ny], train[-1]
                val_split = (held[:nx], held[nx:nx + ny], held[-1])
            data = ArrayEpochs(xs, ys, sw, batch_size, steps_per_epoch, shuffle, epochs > initial_epoch)
        val = self._validation_source(validation_data, val_split,
                                      validation_batch_size if validation_batch_size is not None else batch_size_arg,
                                      validation_steps)
        verbose = resolve_verbose(verbose)
        replicas = self._replicas()
        if replicas is not None and not replicas.strategy.is_chief:
            verbose = 0
        cbs = self._callback_list(callbacks, verbose, add_history=True)
        cbs.set_params({"epochs": epochs, "steps": data.steps, "verbose": verbose,
                        "batch_size": data.batch_size, "samples": data.samples})
        self.stop_training = self.interrupted = self._stop_requested = False
        self._resume_point = None
        self._pass_plan = (initial_epoch, data.epochs_per_pass)
        cbs.on_train_begin()
        if replicas is not None:  # the chief's weights, optimizer and random state (or checkpoint) for all
            replicas.begin_fit()
        resume = self._resume_point
        epoch_logs: dict = {}
        try:
            for epoch in range(resume.epoch if resume is not None else initial_epoch, epochs):
                compiled.reset()
                cbs.on_epoch_begin(epoch)
                batch_logs: dict = {}
                want_logs = cbs.wants_batch_logs()
                entering = resume if resume is not None and epoch == resume.epoch else None
                for step, batch in data.epoch(self, epoch, initial_epoch, entering):
                    cbs.on_train_batch_begin(step)
                    self.train_step(batch)
                    if want_logs:
                        batch_logs = compiled.logs()
                    cbs.on_train_batch_end(step, batch_logs)
                    if self._stop_requested and replicas is None:  # replicas agree on a stop in their step
                        self._stop_requested = False
                        self.interrupted = self.stop_training = True
                    if self.stop_training:
                        break
                if self.interrupted:
                    break
                epoch_logs = compiled.logs()
                if val is not None and should_validate(epoch):
                    epoch_logs.update(self._validate(val))
                cbs.on_epoch_end(epoch, epoch_logs)
                if data.after_epoch(more=epoch + 1 < epochs):
                    self.stop_training = True
                if self.stop_training:
                    break
        finally:
            data.close()
        cbs.on_train_end(epoch_logs)
        return self.history

    def epoch_starts_pass(self, epoch: int) -> bool:
        """Whether `epoch` of the running (or last) fit starts a new pass over the data and draws
        its shuffle: always, unless a steps_per_epoch shorter than the data splits one pass
        over several epochs (a checkpoint taken between two of those records the pass's
        random state)."""
        first, per_pass = self._pass_plan
        return (epoch - first) % per_pass == 0

    def _callback_list(self, callbacks, verbose: int, add_history: bool) -> CallbackList:
        items = list(callbacks or [])
        for cb in items:
            if not isinstance(cb, Callback):
                raise ConfigError(f"callbacks must be Callback instances; received {cb!r}")
        if add_history:
            self.history = History()
            items = items + [self.history]
        if verbose:  # last, as in Keras: its epoch line shows what other callbacks logged (learning_rate)
            items = items + [ProgbarLogger(verbose)]
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
        replicas = self._replicas()
        if replicas is not None:
            replicas.ensure_ready()
        self.train_step((xs, ys, sw))
        return self._result(compiled.logs(), return_dict)
