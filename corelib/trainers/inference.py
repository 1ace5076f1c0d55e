"""Evaluation and inference of trained models: evaluate, predict, test_on_batch,
predict_on_batch and calling a model on arrays. A mixin of `Trainer`
(corelib.trainers.trainer), which supplies the compiled losses, input checks and
the forward pass these use.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any, Sequence

import numpy as np

from corelib.errors import DataError, DLError
from corelib.trainers.batching import batch_slices, rows
from corelib.callbacks.base import Callback
from corelib.callbacks.progbar import format_logs
from corelib.distribute import collective
from corelib.trainers.arguments import (first_batches, optional_steps, positive_int, resolve_batch_size,
                                        resolve_verbose)
from corelib.trainers.streams import Stream, is_stream, refuse_stream_arguments, unpack_batch

__all__ = ["InferenceMixin"]


class InferenceMixin:
    """evaluate / predict and their single-batch forms, for `Trainer`."""

    # -- evaluate / predict -------------------------------------------------------

    def _evaluate_arrays(self, xs, ys, sw, batch_size: int, prefix: str = "") -> dict:
        replicas = self._replicas()
        if replicas is not None:
            return replicas.evaluate(xs, ys, sw, batch_size, prefix)
        compiled = self.compiled_loss
        compiled.reset()
        for idx in batch_slices(xs[0].shape[0], batch_size):
            self.test_step(([rows(a, idx) for a in xs], [a[idx] for a in ys], None if sw is None else sw[idx]))
        return compiled.logs(prefix)

    def _evaluate_stream(self, stream: Stream, steps: int | None, prefix: str, prepare: Any) -> dict:
        """Loss and metrics over a fresh pass of `stream` (its first `steps` batches, or all)."""
        compiled = self.compiled_loss
        compiled.reset()
        replicas = self._replicas()
        if replicas is not None:  # each replica reads its share of the stream
            stream.shard(replicas.strategy.rank, replicas.strategy.num_replicas_in_sync)
        stream.start_pass()
        if replicas is not None:
            parts = stream.batches(None)
            def next_part():
                return next((prepare(raw, index) for index, raw in parts), None)
            logs, seen = replicas.evaluate_parts(next_part, steps, prefix)
            stream.close_pass()
        else:
            seen = 0
            for index, raw in stream.batches(steps):
                self.test_step(prepare(raw, index))
                seen += 1
            stream.close_pass()
            logs = compiled.logs(prefix)
        if steps is not None and seen < steps:
            warnings.warn(f"{'validation_steps' if prefix else 'steps'}={steps}, but x ({stream.what}) ran out of "
                          f"data after {seen} batches", UserWarning, stacklevel=3)
        if seen == 0:
            raise DataError(f"{prefix and 'validation_data, '}{stream.what}, gave no batches to evaluate on")
        return logs

    @collective("evaluate")
    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None,
                 verbose: int | str = "auto", sample_weight: Any = None, steps: int | None = None,
                 callbacks: Sequence[Callback] | None = None, return_dict: bool = False):
        """Loss and metrics on (x, y): a float, a list [loss, *metrics], or a dict.

        steps: evaluate the first `steps` batches only (with batch_size None, batches of
        ceil(samples / steps), so all of the data, as Keras does with arrays).
        """
        self._require_compiled("evaluate")
        steps = optional_steps(steps, "steps")
        if batch_size is not None:
            positive_int(batch_size, "batch_size")
        if is_stream(x):
            return self._evaluate_source(Stream(x), y, sample_weight, steps, callbacks, verbose, return_dict)
        xs, ys, sw = self._prepare_xy(x, y, sample_weight)
        batch_size = resolve_batch_size(batch_size, steps, xs[0].shape[0])
        keep = first_batches(steps, xs[0].shape[0], batch_size, "steps")
        xs, ys, sw = [a[:keep] for a in xs], [a[:keep] for a in ys], None if sw is None else sw[:keep]
        cbs = self._callback_list(callbacks, 0, add_history=False)
        cbs.on_test_begin()
        replicas = self._replicas()
        if replicas is not None:
            replicas.broadcast_weights()  # the chief's weights: identical results on every replica
        logs = self._evaluate_arrays(xs, ys, sw, batch_size)
        cbs.on_test_end(logs)
        if resolve_verbose(verbose) and (replicas is None or replicas.strategy.is_chief):
            print(f"evaluate - {xs[0].shape[0]} samples - {format_logs(logs)}", file=sys.stdout)
        return self._result(logs, return_dict)

    def _evaluate_source(self, stream: Stream, y: Any, sample_weight: Any, steps: int | None, callbacks: Any,
                         verbose: Any, return_dict: bool) -> Any:
        refuse_stream_arguments(stream.what, y=y, sample_weight=sample_weight)
        cbs = self._callback_list(callbacks, 0, add_history=False)
        cbs.on_test_begin()
        replicas = self._replicas()
        if replicas is not None:
            replicas.broadcast_weights()  # each replica evaluates its share of the stream; the sums are combined
        logs = self._evaluate_stream(stream, steps, "", self._batch_preparer())
        cbs.on_test_end(logs)
        if resolve_verbose(verbose) and (replicas is None or replicas.strategy.is_chief):
            print(f"evaluate - {stream.what} - {format_logs(logs)}", file=sys.stdout)
        return self._result(logs, return_dict)

    @collective("predict")
    def predict(self, x: Any, batch_size: int | None = None, verbose: int | str = "auto",
                steps: int | None = None, callbacks: Sequence[Callback] | None = None) -> Any:
        """The model's outputs for `x`, computed batch by batch (one array per output).

        steps: predict the first `steps` batches only (with batch_size None, batches of
        ceil(samples / steps), so all of the data, as Keras does with arrays).
        """
        steps = optional_steps(steps, "steps")
        if batch_size is not None:
            positive_int(batch_size, "batch_size")
        if is_stream(x):
            return self._pack_outputs(self._predict_stream(Stream(x), steps))
        xs = self._prepare_x(x)
        batch_size = resolve_batch_size(batch_size, steps, xs[0].shape[0])
        keep = first_batches(steps, xs[0].shape[0], batch_size, "steps")
        xs = [a[:keep] for a in xs]
        replicas = self._replicas()  # under a strategy each replica predicts its part; all return everything
        if replicas is not None and xs[0].shape[0] >= replicas.strategy.num_replicas_in_sync:
            replicas.broadcast_weights()
            part = replicas.strategy.shard(xs[0].shape[0])
            outs = [replicas.strategy.all_gather(out) for out in self._predict_arrays([a[part] for a in xs], batch_size)]
        else:
            outs = self._predict_arrays(xs, batch_size)
        return self._pack_outputs(outs)

    def _predict_arrays(self, xs: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
        n = xs[0].shape[0]
        if n == 0:
            return self._empty_outputs(xs)
        outs: list[np.ndarray] | None = None
        for idx in batch_slices(n, batch_size):
            ys = self.predict_step([rows(a, idx) for a in xs])
            if outs is None:
                outs = [np.empty((n,) + y.shape[1:], dtype=y.dtype) for y in ys]
            for out, y in zip(outs, ys):
                out[idx] = y
        return outs

    def _predict_stream(self, stream: Stream, steps: int | None) -> list[np.ndarray]:
        """The outputs over a pass of `stream` (its first `steps` batches), concatenated; a batch
        may be x alone or (x, ...) whose targets are ignored."""
        replicas = self._replicas()
        if replicas is not None:
            replicas.broadcast_weights()
        parts: list[list[np.ndarray]] = []
        stream.start_pass()
        for index, raw in stream.batches(steps):
            xs = self._prepare_x(unpack_batch(raw)[0], f"batch {index}: x")
            if xs[0].shape[0]:
                parts.append([y.copy() for y in self.predict_step(xs)])
        stream.close_pass()
        if steps is not None and len(parts) < steps:
            warnings.warn(f"steps={steps}, but x ({stream.what}) ran out of data", UserWarning, stacklevel=3)
        if not parts:
            raise DataError(f"x, {stream.what}, gave no samples to predict on")
        return [np.concatenate(outs) for outs in zip(*parts)]

    @collective("test_on_batch")
    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False):
        compiled = self._require_compiled("test_on_batch")
        xs, ys, sw = self._prepare_xy(x, y, sample_weight)
        if self._replicas() is not None:
            return self._result(self._evaluate_arrays(xs, ys, sw, xs[0].shape[0]), return_dict)
        compiled.reset()
        self.test_step((xs, ys, sw))
        return self._result(compiled.logs(), return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        xs = self._prepare_x(x)
        if xs[0].shape[0] == 0:
            return self._pack_outputs(self._empty_outputs(xs))
        ys = self.predict_step(xs)
        return self._pack_outputs([y.copy() for y in ys])

    def _empty_outputs(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """What predict gives for inputs of no samples: one array per output with a batch axis of 0
        and the output's shape, nothing computed (kernels need at least one sample)."""
        outputs = self.outputs
        try:
            shapes = self.plan.output_shapes([(None,) + a.shape[1:] for a in xs])
        except (DLError, ValueError, TypeError):  # a layer that cannot tell: the graph's own shapes
            shapes = [t.shape for t in outputs]
        return [np.empty((0,) + tuple(0 if d is None else d for d in shape[1:]), dtype=t.dtype)
                for shape, t in zip(shapes, outputs)]

    def _result(self, logs: dict, return_dict: bool):
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values
