"""Data-parallel fit / evaluate / predict over the replicas of a `distribute.Strategy`.

Every replica holds the whole model and the whole data set and draws the same
shuffle (they share dl's random state, which the chief broadcasts when fit
starts, with its weights and optimizer state). Each training step, every
replica

1. takes its contiguous shard of the global batch (`Strategy.shard`);
2. runs forward and backward on it, each output's loss gradient scaled by
   shard size / global batch size (1 for a ``reduction="sum"`` loss), so that
   the *sum* over replicas is the gradient one process computes on the global
   batch, an uneven last batch included;
3. sums ONE flat buffer over the replicas: the parameters' ``.grad`` arrays
   are views into it (no packing copy); its tail carries the change of the
   non-trainable weights of trainable layers (BatchNormalization's moving
   statistics) weighted by shard share, so those stay identical too;
4. sums a small float64 vector: each output's loss, the change of every
   metric's running state, and the stop flags (so every replica leaves fit
   after the same step, Ctrl-C included);
5. adds the regularization gradients (identical everywhere) and applies the
   optimizer: every replica makes the same update, so weights and optimizer
   state stay identical without ever being sent again.

Layers that draw from dl's random state (Dropout) draw from a stream of
their own on each replica during a step (rank 0's is one process's); then
every replica continues from one common state, so the next shuffle agrees.
A stop request that arrives asynchronously (Ctrl-C in ``dl train`` sets
``model._interrupt_requested``) is agreed in step 4, so every replica leaves
fit after the same step.

Metrics are exact over the global data: a metric whose state adds up over
disjoint data (every built-in metric: a weighted total and count; a plugin
metric says so with ``additive_state = True``) has its state change summed;
any other metric gets the global batch's y_true / y_pred / sample weights
gathered to every replica and is updated on that, as one process would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib import config
from corelib.batching import batch_slices
from corelib.distribute import Strategy

__all__ = ["DataParallel", "replicas_for"]

_FLAGS = 3  # stop_training, interrupt requested, dl's random state drawn from


def _length(idx: Any) -> int:
    return idx.stop - idx.start if isinstance(idx, slice) else len(idx)


def _part(idx: Any, shard: slice) -> Any:
    """The sub-batch `shard` (positions within the batch) of a batch given as a slice or an index array."""
    if isinstance(idx, slice):
        return slice(idx.start + shard.start, idx.start + shard.stop)
    return idx[shard]


_STREAM = 2**120  # draws between the random streams of two replicas within a step (PCG64's period is 2**128)


def _to_stream(bit_generator: Any, start: dict, stream: int) -> None:
    """Set `bit_generator` to `stream` streams past `start` (in place: PCG64.advance is O(log n))."""
    bit_generator.state = start
    if stream:
        bit_generator.advance(stream * _STREAM)


class _MetricState:
    """The running state of a model's metrics as one float64 vector, and the
    metrics that cannot be summed (updated on gathered global batches)."""

    def __init__(self, compiled: Any) -> None:
        from corelib.checkpoint import _metric_state

        self.additive: list[tuple[int, Any, list[str]]] = []
        self.gathered: list[tuple[int, Any]] = []
        for i, _, metric in compiled.metrics if compiled is not None else ():
            state = _metric_state(metric)
            flag = getattr(metric, "additive_state", None)
            if flag is None:
                from corelib.metrics import MeanMetricWrapper

                flag = isinstance(metric, MeanMetricWrapper) and set(state) == {"total", "count"}
            if flag:
                self.additive.append((i, metric, sorted(state)))
            else:
                self.gathered.append((i, metric))
        self.size = sum(np.size(getattr(m, k)) for _, m, keys in self.additive for k in keys)

    def snapshot(self) -> np.ndarray:
        out = np.empty(self.size)
        at = 0
        for _, metric, keys in self.additive:
            for key in keys:
                value = np.asarray(getattr(metric, key), dtype=np.float64).ravel()
                out[at:at + value.size] = value
                at += value.size
        return out

    def restore(self, vector: np.ndarray) -> None:
        at = 0
        for _, metric, keys in self.additive:
            for key in keys:
                old = getattr(metric, key)
                if isinstance(old, np.ndarray):
                    setattr(metric, key, vector[at:at + old.size].reshape(old.shape).astype(old.dtype))
                    at += old.size
                else:
                    setattr(metric, key, type(old)(vector[at]) if not isinstance(old, (int, np.integer))
                            else int(round(vector[at])))
                    at += 1

    def update(self, ys: list, y_pred: list, sw: Any) -> None:
        for i, metric, _ in self.additive:
            metric.update_state(ys[i], y_pred[i], sw)

    def update_gathered(self, strategy: Strategy, ys: list | None, y_pred: list | None, sw: Any,
                        weighted: bool) -> None:
        """Update the other metrics on the global batch, gathered in rank order (`ys` and `y_pred`
        are None on a replica whose shard is empty; `weighted`: the fit has sample weights)."""
        if not self.gathered:
            return
        weights = strategy.all_gather(sw) if weighted else None
        for i, metric in self.gathered:
            metric.update_state(strategy.all_gather(None if ys is None else ys[i]),
                                strategy.all_gather(None if y_pred is None else y_pred[i]), weights)


class DataParallel:
    """Runs one model's training steps, evaluation and prediction over `strategy`'s replicas.

    Args:
        model: a compiled `BaseModel`.
        strategy: a strategy with more than one replica.
    """

    def __init__(self, model: Any, strategy: Strategy) -> None:
        self.model = model
        self.strategy = strategy
        self._params: list = []
        self._buffers: list[np.ndarray] = []
        self._states: list[tuple[Any, np.ndarray, np.ndarray]] = []  # (parameter, value before, delta view)
        self._draws = True  # whether the last step drew from dl's random state
        self._ready = False

    @classmethod
    def for_model(cls, model: Any, strategy: Strategy) -> "DataParallel | None":
        """The model's engine for `strategy`; None for a single process."""
        if strategy.num_replicas_in_sync == 1:
            return None
        engine = getattr(model, "_data_parallel", None)
        if engine is None or engine.strategy is not strategy:
            engine = model._data_parallel = cls(model, strategy)
        return engine

    # -- every replica starts from the chief's state -------------------------------------

    def begin_fit(self) -> None:
        """After the callbacks' on_train_begin (a restored checkpoint included): give every
        replica the chief's weights, optimizer state, random states and resume point."""
        from corelib.checkpoint import _layer_generators

        model, strategy = self.model, self.strategy
        opt = model.optimizer
        state, slots = None, None
        if strategy.is_chief:
            lr = opt.learning_rate
            slots = opt.get_state() if opt.iterations else None
            state = {"resume": model._resume_point, "rng": config.get_rng_state(),
                     "optimizer": None if slots is None else {k: (v.shape, v.dtype.str) for k, v in slots.items()},
                     "learning_rate": lr if isinstance(lr, (int, float)) and not isinstance(lr, bool) else None,
                     "layer_rngs": {k: g.bit_generator.state for k, g in _layer_generators(model).items()}}
        state = strategy.broadcast_object(state)  # small; the arrays go as buffers
        if state["optimizer"] is not None:
            if slots is None:
                slots = {k: np.empty(shape, dtype) for k, (shape, dtype) in state["optimizer"].items()}
            for key in sorted(slots):
                if not slots[key].flags.c_contiguous:
                    slots[key] = slots[key].copy(order="C")
                strategy.broadcast(slots[key])
        if not strategy.is_chief:
            model._resume_point = state["resume"]
            config.set_rng_state(state["rng"])
            if slots is not None:
                opt.set_state(model.trainable_weights, slots)
            if state["learning_rate"] is not None:
                opt.learning_rate = state["learning_rate"]
            gens = _layer_generators(model)
            for key, gen_state in state["layer_rngs"].items():
                if key in gens:
                    gens[key].bit_generator.state = gen_state
        model._interrupt_requested = False
        self.broadcast_weights()
        self._bind()

    def broadcast_weights(self) -> None:
        """Give every replica the chief's weights (one buffer per dtype)."""
        groups: dict[np.dtype, list] = {}
        for p in self.model.weights:
            if p.value.dtype.kind == "f":
                groups.setdefault(p.value.dtype, []).append(p)
        for params in groups.values():
            flat = np.concatenate([p.value.ravel() for p in params])
            self.strategy.broadcast(flat)
            at = 0
            for p in params:
                p.value[...] = flat[at:at + p.value.size].reshape(p.value.shape)
                at += p.value.size

    def _bind(self) -> None:
        """Make the trainable parameters' gradients views into one flat buffer per dtype,
        with room at its end for the change of the moving statistics."""
        model = self.model
        seen: set[int] = set()
        params = [p for p in model.trainable_weights if not (id(p) in seen or seen.add(id(p)))]
        states = [p for layer in model.layers if layer.trainable
                  for p in layer.non_trainable_weights if p.value.dtype.kind == "f" and id(p) not in seen]
        dtypes = list(dict.fromkeys(p.value.dtype for p in params + states))
        self._buffers, self._states = [], []
        for dtype in dtypes:
            mine = [p for p in params if p.value.dtype == dtype]
            moving = [p for p in states if p.value.dtype == dtype]
            buffer = np.zeros(sum(p.value.size for p in mine + moving), dtype=dtype)
            at = 0
            for p in mine:
                view = buffer[at:at + p.value.size].reshape(p.value.shape)
                view[...] = p.grad
                p.grad = view
                at += p.value.size
            for p in moving:
                self._states.append((p, np.empty_like(p.value), buffer[at:at + p.value.size].reshape(p.value.shape)))
                at += p.value.size
            self._buffers.append(buffer)
        self._params = params
        self._metrics = _MetricState(model._compiled)
        self._stats = np.zeros(len(model._compiled.losses) + self._metrics.size + _FLAGS)
        self._ready = True

    def ensure_ready(self) -> None:
        """Before a step outside fit (train_on_batch): bind, and sync the weights once."""
        if not self._ready or any(p.grad.base is None for p in self._params):
            self.broadcast_weights()
            self._bind()

    # -- one training step ------------------------------------------------------------------

    def _loss_scales(self, rows: int, n: int) -> list[float]:
        return [1.0 if getattr(loss, "reduction", None) == "sum" else rows / n for loss in self.model._compiled.losses]

    def train_batch(self, xs: list, ys: list, sw: np.ndarray | None, idx: Any) -> None:
        """One optimizer step on the global batch `idx` (a slice or index array into xs/ys/sw);
        records its loss for the global batch size in the model's running logs."""
        model, strategy, metrics, stats = self.model, self.strategy, self._metrics, self._stats
        compiled = model._compiled
        n = _length(idx)
        part = _part(idx, strategy.shard(n))
        rows = _length(part)
        k = len(compiled.losses)
        stats.fill(0.0)
        metrics_before = metrics.snapshot()
        # Layers that draw (Dropout) draw from dl's random state: each replica from its own stream
        # during the step; afterwards all continue from one state, so the next shuffle agrees.
        bits = config.rng().bit_generator
        rng_start = rng_own = bits.state
        if strategy.rank and self._draws:
            _to_stream(bits, rng_start, strategy.rank)
            rng_own = bits.state
        model._zero_grads()
        yb = y_pred = swb = None
        for p, before, delta in self._states:
            before[...] = p.value
        if rows:
            xb, yb = [a[part] for a in xs], [a[part] for a in ys]
            swb = None if sw is None else sw[part]
            y_pred, backprop = model._forward(xb, True)
            _, dys = compiled.forward_backward(yb, y_pred, swb)
            for i, scale in enumerate(self._loss_scales(rows, n)):
                if scale != 1.0:
                    dys[i] *= scale
                stats[i] = compiled._last[i] * scale
            backprop(dys)
            metrics.update(yb, y_pred, swb)
        share = rows / n
        for p, before, delta in self._states:
            np.subtract(p.value, before, out=delta)
            delta *= share
        stats[k:k + metrics.size] = metrics.snapshot() - metrics_before
        stats[-3] = float(bool(model.stop_training))
        stats[-2] = float(bool(getattr(model, "_interrupt_requested", False)))
        stats[-1] = float(bits.state != rng_own)

        strategy.all_reduce(*self._buffers, stats)

        for p, before, delta in self._states:
            np.add(before, delta, out=p.value)
        metrics.restore(metrics_before + stats[k:k + metrics.size])
        metrics.update_gathered(strategy, yb, y_pred, swb, sw is not None)
        self._draws = bool(stats[-1])
        if self._draws:  # every replica continues from the same state, past every replica's stream
            _to_stream(bits, rng_start, strategy.num_replicas_in_sync)
        elif rng_own is not rng_start:
            bits.state = rng_start
        if stats[-2]:
            model.interrupted = model.stop_training = True
            model._interrupt_requested = False
        elif stats[-3]:
            model.stop_training = True
        regularization = model._apply_regularizers()
        model.optimizer.apply(self._params)
        compiled._last = [float(v) for v in stats[:k]]
        compiled.add_loss(sum(w * v for w, v in zip(compiled.weights, compiled._last)) + regularization, n)

    # -- evaluation and prediction ---------------------------------------------------------

    def evaluate(self, xs: list, ys: list, sw: np.ndarray | None, batch_size: int, prefix: str = "") -> dict:
        """Loss and metrics over all of (xs, ys), each global batch split over the replicas."""
        model, strategy = self.model, self.strategy
        compiled = model._compiled
        compiled.reset()
        metrics = _MetricState(compiled)
        k = len(compiled.losses)
        before = metrics.snapshot()
        sums = np.zeros(k + metrics.size)
        n_total = xs[0].shape[0]
        for idx in batch_slices(n_total, batch_size):
            n = _length(idx)
            part = _part(idx, strategy.shard(n))
            rows = _length(part)
            yb = y_pred = swb = None
            if rows:
                xb, yb = [a[part] for a in xs], [a[part] for a in ys]
                swb = None if sw is None else sw[part]
                y_pred, _ = model._forward(xb, False)
                compiled.value(yb, y_pred, swb)
                for i, scale in enumerate(self._loss_scales(rows, n)):
                    sums[i] += n * scale * compiled._last[i]
                metrics.update(yb, y_pred, swb)
            metrics.update_gathered(strategy, yb, y_pred, swb, sw is not None)
        sums[k:] = metrics.snapshot() - before
        strategy.all_reduce(sums)
        metrics.restore(before + sums[k:])
        compiled._sums = [float(s) for s in sums[:k]]
        compiled._sum = sum(w * s for w, s in zip(compiled.weights, compiled._sums))
        compiled._sum += model._regularization_value() * n_total
        compiled._count = n_total
        return compiled.logs(prefix)

    def predict(self, xs: list, batch_size: int) -> list[np.ndarray] | None:
        """Each replica predicts its contiguous part of the samples; every replica
        returns all of them. None when there are fewer samples than replicas."""
        self.broadcast_weights()
        n = xs[0].shape[0]
        if n < self.strategy.num_replicas_in_sync:
            return None
        part = self.strategy.shard(n)
        outs = self.model._predict_arrays([a[part] for a in xs], batch_size)
        return [self.strategy.all_gather(out) for out in outs]


def replicas_for(model: Any) -> DataParallel | None:
    """The model's data-parallel engine when a strategy with several replicas is in effect, else None."""
    from corelib import distribute

    return DataParallel.for_model(model, distribute.get_strategy())
