"""What `compile` sets up for a model with one or several outputs.

One loss per output (the same loss for every output when one is given),
combined into one scalar: the mean of the per-output losses, or the weighted
sum sum(w_i * loss_i) when `loss_weights` is given. Metrics are tracked per
output; with several outputs the logs name them after the output, as Keras
does ("digit_loss", "digit_accuracy").

As in Keras 3, `metrics` ignore sample weights (and class weights) and
`weighted_metrics` use them. They log under their own names; a weighted
metric whose name a plain one already has logs as "weighted_<name>", and a
name repeated within one kind gets "_1", "_2" appended, as Keras names them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from corelib.errors import ConfigError, short_repr

__all__ = ["CompiledLosses", "TrackedMetric"]


class TrackedMetric(NamedTuple):
    """One compiled metric: the output it watches, its log name, the Metric, and whether
    it takes the sample weights (it came from `weighted_metrics`)."""

    output: int
    label: str
    metric: Any
    weighted: bool


def _per_output(value: Any, names: list[str], what: str, default: Any = None) -> list:
    """A list with one entry per output from a single value, a list, or a dict keyed by output name."""
    n = len(names)
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ConfigError(f"compile(): {what} names an unknown output {unknown[0]!r}; outputs are {names}")
        return [value.get(name, default) for name in names]
    if isinstance(value, (list, tuple)) and what not in ("metrics", "weighted_metrics"):
        if len(value) != n:
            raise ConfigError(f"compile(): {what} has {len(value)} entries but the model has {n} outputs {names}")
        return list(value)
    return [value] * n


def _loss_weight(value: Any, output: str) -> float:
    """One output's loss weight: a finite number >= 0 (None means 1), else a ConfigError naming the output."""
    if value is None:
        return 1.0
    try:
        weight = float(value) if not isinstance(value, (bool, str)) else None
    except (TypeError, ValueError, OverflowError):
        weight = None
    if weight is None or not np.isfinite(weight) or weight < 0:
        raise ConfigError(f"compile(): loss_weights['{output}'] must be a finite number >= 0. "
                          f"Received: {short_repr(value)}")
    return weight


class CompiledLosses:
    """Per-output losses, their weights, metrics, and the running epoch logs."""

    def __init__(self, output_names: list[str], loss: Any, metrics: Any, loss_weights: Any,
                 weighted_metrics: Any = None) -> None:
        from corelib import losses

        self.output_names = list(output_names)
        n = len(self.output_names)
        self.losses = []
        for name, item in zip(self.output_names, _per_output(loss, self.output_names, "loss")):
            if item is None:
                raise ConfigError(f"compile(): no loss given for output '{name}'")
            self.losses.append(losses.get(item))
        if loss_weights is None:
            self.weights = [1.0 / n] * n
        else:
            self.weights = [_loss_weight(w, name) for name, w in
                            zip(self.output_names, _per_output(loss_weights, self.output_names, "loss_weights", 1.0))]
        self.sparse = [bool(getattr(l, "sparse_targets", False)) for l in self.losses]
        self.metric_specs: dict[str, list] = {}
        self.weighted_metric_specs: dict[str, list] = {}
        plain = self._metrics(metrics, "metrics", self.metric_specs)
        weighted = self._metrics(weighted_metrics, "weighted_metrics", self.weighted_metric_specs)
        self.metrics = _with_log_names(plain, weighted, self.output_names)
        seen: set[int] = set()
        for tracked in self.metrics:
            if id(tracked.metric) in seen:
                raise ConfigError(f"compile(): the metric object {tracked.metric.name!r} is given twice; "
                                  "each entry of metrics and weighted_metrics needs its own instance")
            seen.add(id(tracked.metric))
        self.last_losses = [0.0] * n  # each output's loss in the latest step
        self.reset()

    def _metrics(self, metrics: Any, what: str, specs: dict[str, list]) -> list[tuple[int, str, Any]]:
        """(output index, name, Metric) for each entry of `metrics` (the `what` argument of
        compile), recording each entry's serializable form in `specs` by output name."""
        from corelib import metrics as metrics_mod

        names = self.output_names
        if metrics is None:
            per_output: list = [[] for _ in names]
        elif isinstance(metrics, dict):
            per_output = _per_output(metrics, names, what, [])
        elif isinstance(metrics, (list, tuple)) and metrics and all(isinstance(m, (list, tuple)) for m in metrics):
            if len(metrics) != len(names):
                raise ConfigError(f"compile(): {what} has {len(metrics)} lists but the model has {len(names)} outputs")
            per_output = list(metrics)
        else:
            per_output = [metrics] * len(names)
        out = []
        for name in names:
            specs[name] = []
        for i, (name, items) in enumerate(zip(names, per_output)):
            for m in ([items] if isinstance(items, str) or not isinstance(items, (list, tuple)) else items):
                metric = metrics_mod.get(m, loss=self.losses[i])
                if metric is None:
                    continue
                specs[name].append(m if isinstance(m, str) else metrics_mod.serialize(metric))
                out.append((i, m if isinstance(m, str) else metric.name, metric))
        return out

    def get_config(self) -> dict:
        """JSON-safe compile settings keyed by output name (for the model file)."""
        from corelib import losses

        config = {
            "loss": {name: losses.serialize(l) for name, l in zip(self.output_names, self.losses)},
            "loss_weights": dict(zip(self.output_names, self.weights)),
            "metrics": self.metric_specs,
        }
        if any(self.weighted_metric_specs.values()):
            config["weighted_metrics"] = self.weighted_metric_specs
        return config

    # -- computing ------------------------------------------------------------------

    def forward_backward(self, ys: list, y_pred: list, sw: np.ndarray | None) -> tuple[float, list]:
        """The combined loss and its gradient for each output."""
        total, grads = 0.0, []
        for i, (loss, w) in enumerate(zip(self.losses, self.weights)):
            value, grad = loss.forward_backward(ys[i], y_pred[i], sw)
            self.last_losses[i] = float(value)
            total += w * float(value)
            grads.append(grad if w == 1.0 else grad * w)
        return total, grads

    def value(self, ys: list, y_pred: list, sw: np.ndarray | None) -> float:
        total = 0.0
        for i, (loss, w) in enumerate(zip(self.losses, self.weights)):
            self.last_losses[i] = float(loss(ys[i], y_pred[i], sw))
            total += w * self.last_losses[i]
        return total

    def update_metrics(self, ys: list, y_pred: list, sw: np.ndarray | None) -> None:
        """Update every metric on a batch: the weighted ones with `sw`, the others without."""
        for i, _, metric, weighted in self.metrics:
            metric.update_state(ys[i], y_pred[i], sw if weighted else None)

    # -- the logs -------------------------------------------------------------------

    def reset(self) -> None:
        self._sum = 0.0
        self._sums = [0.0] * len(self.losses)
        self._count = 0
        for tracked in self.metrics:
            tracked.metric.reset_state()

    def running_state(self) -> dict:
        """The epoch so far, JSON-safe: {"loss_sums": {"sum", "sums", "count"}, "metric_states": [...]}.

        A checkpoint taken mid-epoch stores it, so a resumed epoch reports the
        same logs as one never interrupted."""
        return {"loss_sums": {"sum": float(self._sum), "sums": [float(v) for v in self._sums],
                              "count": int(self._count)},
                "metric_states": [tracked.metric.get_state() for tracked in self.metrics]}

    def set_running_state(self, state: dict) -> None:
        """Continue from `running_state()`'s output."""
        sums = state["loss_sums"]
        self._sum = float(sums["sum"])
        self._sums = [float(v) for v in sums["sums"]]
        self._count = int(sums["count"])
        for tracked, metric_state in zip(self.metrics, state.get("metric_states") or []):
            tracked.metric.set_state(metric_state)

    def add_loss(self, total: float, count: int) -> None:
        """Record the latest step's loss (total and per output) for `count` samples."""
        self._sum += total * count
        self._count += count
        if len(self.losses) > 1:
            for i, v in enumerate(self.last_losses):
                self._sums[i] += v * count

    def log_names(self) -> list[str]:
        names = ["loss"]
        if len(self.losses) > 1:
            names += [f"{name}_loss" for name in self.output_names]
        return names + [tracked.label for tracked in self.metrics]

    def logs(self, prefix: str = "") -> dict:
        count = max(self._count, 1)
        logs = {f"{prefix}loss": self._sum / count}
        if len(self.losses) > 1:
            for name, s in zip(self.output_names, self._sums):
                logs[f"{prefix}{name}_loss"] = s / count
        for tracked in self.metrics:
            logs[f"{prefix}{tracked.label}"] = _scalar(tracked.metric.result())
        return logs


def _with_log_names(plain: list, weighted: list, output_names: list[str]) -> list[TrackedMetric]:
    """Keras 3's log names: "<output>_<name>" with several outputs; within `metrics` a repeated
    name gets "_1", "_2"; a weighted metric whose name is taken logs as "weighted_<name>"
    (then numbered the same way)."""
    counts: dict[str, int] = {}
    several = len(output_names) > 1

    def numbered(label: str) -> str:
        if label not in counts:
            counts[label] = 1
            return label
        index = counts[label]
        counts[label] += 1
        return f"{label}_{index}"

    out = []
    for i, name, metric in plain:
        out.append(TrackedMetric(i, numbered(f"{output_names[i]}_{name}" if several else name), metric, False))
    for i, name, metric in weighted:
        label = f"{output_names[i]}_{name}" if several else name
        if label in counts:
            label = f"{output_names[i]}_weighted_{name}" if several else f"weighted_{name}"
        out.append(TrackedMetric(i, numbered(label), metric, True))
    return out


def _scalar(result: Any) -> float:
    """A metric's result as a log value: a per-class array (F1Score(average=None), Precision with
    several thresholds) logs its mean, the number Keras's progress bar shows for it."""
    return float(result) if np.ndim(result) == 0 else float(np.mean(result))
