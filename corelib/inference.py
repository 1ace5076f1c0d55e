"""Evaluation and inference of trained models: evaluate, predict, test_on_batch,
predict_on_batch and calling a model on arrays. A mixin of `BaseModel`
(corelib/training.py), which supplies the compiled losses, input checks and
the forward pass these use.
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

import numpy as np

from corelib.batching import batch_slices
from corelib.callbacks import Callback
from corelib.data_parallel import replicas_for
from corelib.distribute import collective
from corelib.errors import ConfigError
from corelib.training_args import positive_int, resolve_verbose

__all__ = ["InferenceMixin"]


class InferenceMixin:
    """evaluate / predict and their single-batch forms, for `BaseModel`."""

    # -- evaluate / predict -------------------------------------------------------

    def _evaluate_arrays(self, xs, ys, sw, batch_size: int, prefix: str = "") -> dict:
        replicas = replicas_for(self)
        if replicas is not None:
            return replicas.evaluate(xs, ys, sw, batch_size, prefix)
        compiled = self._compiled
        compiled.reset()
        for idx in batch_slices(xs[0].shape[0], batch_size):
            xb = [a[idx] for a in xs]
            loss = self._test_step(xb, [a[idx] for a in ys], None if sw is None else sw[idx])
            compiled.add_loss(loss, xb[0].shape[0])
        return compiled.logs(prefix)

    @collective("evaluate")
    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None,
                 verbose: int | str = "auto", sample_weight: Any = None, steps: int | None = None,
                 callbacks: Sequence[Callback] | None = None, return_dict: bool = False):
        """Loss and metrics on (x, y): a float, a list [loss, *metrics], or a dict."""
        self._require_compiled("evaluate")
        xs, ys, sw = self._prepare_xy(x, y, sample_weight)
        batch_size = positive_int(32 if batch_size is None else batch_size, "batch_size")
        cbs = self._callback_list(callbacks, 0, add_history=False)
        cbs.on_test_begin()
        replicas = replicas_for(self)
        if replicas is not None:
            replicas.broadcast_weights()  # the chief's weights: identical results on every replica
        logs = self._evaluate_arrays(xs, ys, sw, batch_size)
        cbs.on_test_end(logs)
        if resolve_verbose(verbose) and (replicas is None or replicas.strategy.is_chief):
            from corelib.builtin.callbacks.progbar import format_logs

            print(f"evaluate - {xs[0].shape[0]} samples - {format_logs(logs)}", file=sys.stdout)
        return self._result(logs, return_dict)

    @collective("predict")
    def predict(self, x: Any, batch_size: int | None = None, verbose: int | str = "auto",
                steps: int | None = None, callbacks: Sequence[Callback] | None = None) -> Any:
        """The model's outputs for `x`, computed batch by batch (one array per output)."""
        xs = self._prepare_x(x)
        batch_size = positive_int(32 if batch_size is None else batch_size, "batch_size")
        replicas = replicas_for(self)  # under a strategy each replica predicts its part; all return everything
        outs = replicas.predict(xs, batch_size) if replicas is not None else None
        return self._pack_outputs(outs if outs is not None else self._predict_arrays(xs, batch_size))

    def _predict_arrays(self, xs: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
        n = xs[0].shape[0]
        outs: list[np.ndarray] | None = None
        for idx in batch_slices(n, batch_size):
            ys, _ = self._forward([a[idx] for a in xs], False)
            if outs is None:
                outs = [np.empty((n,) + y.shape[1:], dtype=y.dtype) for y in ys]
            for out, y in zip(outs, ys):
                out[idx] = y
        return outs

    @collective("test_on_batch")
    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False):
        compiled = self._require_compiled("test_on_batch")
        xs, ys, sw = self._prepare_xy(x, y, sample_weight)
        if replicas_for(self) is not None:
            return self._result(self._evaluate_arrays(xs, ys, sw, xs[0].shape[0]), return_dict)
        compiled.reset()
        compiled.add_loss(self._test_step(xs, ys, sw), 1)
        return self._result(compiled.logs(), return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        ys, _ = self._forward(self._prepare_x(x), False)
        return self._pack_outputs([y.copy() for y in ys])

    def __call__(self, x: Any, training: bool = False) -> Any:
        from corelib.graph import is_symbolic

        if is_symbolic(x):
            raise ConfigError(f"Calling model '{self.name}' on symbolic tensors (nesting models) is not supported; "
                              "call its layers instead")
        ys, _ = self._forward(self._prepare_x(x), training)
        return self._pack_outputs([y.copy() for y in ys])

    def _result(self, logs: dict, return_dict: bool):
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values
