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
A stop request that arrives asynchronously (`model.request_stop()`, which
Ctrl-C calls in ``dl train``) is agreed in step 4, so every replica leaves
fit after the same step.

This is not a second training step: `Trainer.train_step` calls
`DataParallel.train_step`, which shards the batch, runs the model's own
`compute_gradients` on the shard and sums what it produced; the step then
ends with the model's own `apply_gradients`, as in one process.

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
from corelib.distribute import Strategy
from corelib.metrics import MeanMetricWrapper
from corelib.saving.checkpoints import layer_rng_states, set_layer_rng_states
from corelib.trainers.batching import batch_slices, rows as read_rows

__all__ = ["DataParallel"]

_FLAGS = 3  # stop_training, interrupt requested, dl's random state drawn from


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
        self.additive: list[tuple[int, Any, list[tuple[str, tuple]], bool]] = []
        self.gathered: list[tuple[int, Any, bool]] = []
        for i, _, metric, weighted in compiled.metrics if compiled is not None else ():
            state = metric.get_state()
            flag = getattr(metric, "additive_state", None)
            if flag is None:
                flag = isinstance(metric, MeanMetricWrapper) and set(state) == {"total", "count"}
            if flag:
                self.additive.append((i, metric, [(k, np.shape(state[k])) for k in sorted(state)], weighted))
            else:
                self.gathered.append((i, metric, weighted))
        self.size = sum(int(np.prod(shape, dtype=np.int64)) for _, _, keys, _ in self.additive for _, shape in keys)

    def snapshot(self) -> np.ndarray:
        out = np.empty(self.size)
        at = 0
        for _, metric, keys, _ in self.additive:
            state = metric.get_state()
            for key, _ in keys:
                value = np.asarray(state[key], dtype=np.float64).ravel()
                out[at:at + value.size] = value
                at += value.size
        return out

    def restore(self, vector: np.ndarray) -> None:
        at = 0
        for _, metric, keys, _ in self.additive:
            state = {}
            for key, shape in keys:
                size = int(np.prod(shape, dtype=np.int64))
                state[key] = vector[at:at + size].reshape(shape) if shape else float(vector[at])
                at += size
            metric.set_state(state)

    def update(self, ys: list, y_pred: list, sw: Any) -> None:
        for i, metric, _, weighted in self.additive:
            metric.update_state(ys[i], y_pred[i], sw if weighted else None)

    def update_gathered(self, strategy: Strategy, ys: list | None, y_pred: list | None, sw: Any,
                        weighted: bool) -> None:
        """Update the other metrics on the global batch, gathered in rank order (`ys` and `y_pred`
        are None on a replica whose shard is empty; `weighted`: the fit has sample weights)."""
        if not self.gathered:
            return
        weights = strategy.all_gather(sw) if weighted and any(w for _, _, w in self.gathered) else None
        for i, metric, takes_weights in self.gathered:
            metric.update_state(strategy.all_gather(None if ys is None else ys[i]),
                                strategy.all_gather(None if y_pred is None else y_pred[i]),
                                weights if takes_weights else None)


class DataParallel:
    """What one model's training steps, evaluation and prediction add over `strategy`'s replicas.

    Args:
        model: a compiled model (a `Trainer`).
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

    # -- every replica starts from the chief's state -------------------------------------

    def begin_fit(self) -> None:
        """After the callbacks' on_train_begin (a restored checkpoint included): give every
        replica the chief's weights, optimizer state, random states and resume point."""
        model, strategy = self.model, self.strategy
        opt = model.optimizer
        state, slots = None, None
        if strategy.is_chief:
            lr = opt.learning_rate
            slots = opt.get_state() if opt.iterations else None
            state = {"resume": model.resume_point, "rng": config.get_rng_state(),
                     "optimizer": None if slots is None else {k: (v.shape, v.dtype.str) for k, v in slots.items()},
                     "learning_rate": lr if isinstance(lr, (int, float)) and not isinstance(lr, bool) else None,
                     "layer_rngs": layer_rng_states(model)}
        state = strategy.broadcast_object(state)  # small; the arrays go as buffers
        if state["optimizer"] is not None:
            if slots is None:
                slots = {k: np.empty(shape, dtype) for k, (shape, dtype) in state["optimizer"].items()}
            for key in sorted(slots):
                if not slots[key].flags.c_contiguous:
                    slots[key] = slots[key].copy(order="C")
                strategy.broadcast(slots[key])
        if not strategy.is_chief:
            model.resume_from(state["resume"])
            config.set_rng_state(state["rng"])
            if slots is not None:
                opt.set_state(model.trainable_weights, slots)
            if state["learning_rate"] is not None:
                opt.learning_rate = state["learning_rate"]
            set_layer_rng_states(model, state["layer_rngs"])
        model.clear_stop_request()
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
        self._metrics = _MetricState(model.compiled_loss)
        self._stats = np.zeros(len(model.compiled_loss.losses) + self._metrics.size + _FLAGS)
        self._ready = True

    def ensure_ready(self) -> None:
        """Before a step outside fit (train_on_batch): bind, and sync the weights once."""
        if not self._ready or any(p.grad.base is None for p in self._params):
            self.broadcast_weights()
            self._bind()

    # -- one training step ------------------------------------------------------------------

    def _loss_scales(self, rows: int, n: int) -> list[float]:
        return [1.0 if getattr(loss, "reduction", None) == "sum" else rows / n
                for loss in self.model.compiled_loss.losses]

    def train_step(self, model: Any, xs: list, ys: list, sw: np.ndarray | None,
                   total_rows: int | None = None, weighted: bool | None = None) -> list[float]:
        """This replica's part of one training step on the global batch (xs, ys, sw): the model's
        `compute_gradients` on this replica's shard, then the sum over the replicas of the
        gradients, each output's loss, the metrics' state change and the stop flags. Leaves the
        global batch's gradient in every parameter's ``.grad`` for the model's `apply_gradients`
        and returns each output's loss on the global batch.

        With `total_rows`, (xs, ys, sw) is this replica's own part already (a stream's batch,
        possibly empty) and the global batch is every replica's part, `total_rows` rows in all;
        `weighted` then says whether any replica's part has sample weights (agreed by all)."""
        strategy, metrics, stats = self.strategy, self._metrics, self._stats
        compiled = model.compiled_loss
        if total_rows is None:
            n = xs[0].shape[0]
            part = strategy.shard(n)
        else:
            n, part = total_rows, slice(0, xs[0].shape[0])
        rows = part.stop - part.start
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
        for p, before, delta in self._states:
            before[...] = p.value
        yb = y_pred = swb = None
        if rows:
            xb, yb = [a[part] for a in xs], [a[part] for a in ys]
            swb = None if sw is None else sw[part]
            scales = self._loss_scales(rows, n)
            y_pred = model.compute_gradients(xb, yb, swb, loss_scales=scales)
            for p in model.weights:  # the reduction reads the buffers, not `grad`
                p.settle_grad()
            for i, scale in enumerate(scales):
                stats[i] = compiled.last_losses[i] * scale
            metrics.update(yb, y_pred, swb)
        else:
            for p in model.weights:
                p.grad.fill(0)
        share = rows / n
        for p, before, delta in self._states:
            np.subtract(p.value, before, out=delta)
            delta *= share
        stats[k:k + metrics.size] = metrics.snapshot() - metrics_before
        stats[-3] = float(bool(model.stop_training))
        stats[-2] = float(model.stop_requested)
        stats[-1] = float(bits.state != rng_own)

        strategy.all_reduce(*self._buffers, stats)

        for p, before, delta in self._states:
            np.add(before, delta, out=p.value)
        metrics.restore(metrics_before + stats[k:k + metrics.size])
        metrics.update_gathered(strategy, yb, y_pred, swb, sw is not None if weighted is None else weighted)
        self._draws = bool(stats[-1])
        if self._draws:  # every replica continues from the same state, past every replica's stream
            _to_stream(bits, rng_start, strategy.num_replicas_in_sync)
        elif rng_own is not rng_start:
            bits.state = rng_start
        if stats[-2]:
            model.clear_stop_request()
            model.interrupted = model.stop_training = True
        elif stats[-3]:
            model.stop_training = True
        compiled.last_losses = [float(v) for v in stats[:k]]
        return compiled.last_losses

    # -- evaluation --------------------------------------------------------------------------

    def evaluate(self, xs: list, ys: list, sw: np.ndarray | None, batch_size: int, prefix: str = "") -> dict:
        """Loss and metrics over all of (xs, ys), each global batch split over the replicas."""
        strategy = self.strategy

        def shares():
            for idx in batch_slices(xs[0].shape[0], batch_size):
                mine = strategy.shard(idx.stop - idx.start)
                part = slice(idx.start + mine.start, idx.start + mine.stop)
                yield [read_rows(a, part) for a in xs], [a[part] for a in ys], None if sw is None else sw[part]

        parts = shares()
        return self.evaluate_parts(lambda: next(parts, None), None, prefix)[0]

    def evaluate_parts(self, next_part: Any, steps: int | None, prefix: str = "") -> tuple[dict, int]:
        """Loss and metrics over data read in shares (a global batch split over the replicas, or a
        stream): `next_part()` gives this replica's part of the next step (xs, ys, sw), possibly
        empty, or None once its share is over; the evaluation ends when no replica has a part (or
        after `steps` steps). Returns the logs and the number of steps."""
        model, strategy = self.model, self.strategy
        compiled = model.compiled_loss
        compiled.reset()
        metrics = _MetricState(compiled)
        k = len(compiled.losses)
        before = metrics.snapshot()
        sums = np.zeros(k + metrics.size)
        n_total = taken = 0
        while steps is None or taken < steps:
            part = next_part()
            counts = np.array([0 if part is None else part[0][0].shape[0],
                               0 if part is None or part[2] is None else 1], dtype=np.float64)
            strategy.all_reduce(counts)
            if counts[0] == 0:
                break
            taken += 1
            n_total += int(counts[0])
            yb = y_pred = swb = None
            if part is not None and part[0][0].shape[0]:
                xb, yb, swb = part
                y_pred = model.predict_step(xb)
                compiled.value(yb, y_pred, swb)
                rows = xb[0].shape[0]
                for i, scale in enumerate(self._loss_scales(rows, int(counts[0]))):
                    sums[i] += counts[0] * scale * compiled.last_losses[i]
                metrics.update(yb, y_pred, swb)
            metrics.update_gathered(strategy, yb, y_pred, swb, bool(counts[1]))
        sums[k:] = metrics.snapshot() - before
        strategy.all_reduce(sums)
        metrics.restore(before + sums[k:])
        per_output = [float(v) for v in sums[:k]]
        total = sum(w * v for w, v in zip(compiled.weights, per_output)) + model.regularization_loss() * n_total
        compiled.set_running_state({"loss_sums": {"sum": total, "sums": per_output, "count": max(n_total, 1)}})
        return compiled.logs(prefix), taken
