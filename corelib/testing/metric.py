"""`check_metric`: the stateful metric contract."""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Sequence

import numpy as np

from corelib.testing.common import Report, registered_entry
from corelib.testing.model import check_evaluate_round_trip
from corelib.testing.layer import skipped

__all__ = ["check_metric", "METRIC_CHECKS"]

METRIC_CHECKS = ("result", "batch-size independence", "sample_weight", "reset_state", "config", "repeatability",
                 "model round trip")


def _value(metric: Any, *batches: tuple) -> float:
    for batch in batches:
        metric.update_state(*batch)
    return metric.result()


def check_metric(metric: Any, y_true: Any, y_pred: Any, *, sample_weight: Any = None, loss: Any = None,
                 skip: Sequence[str] = ()) -> None:
    """Check a metric; raise ConformanceError listing the failed checks.

    - result: `result()` is a finite float and reading it changes nothing;
    - batch-size independence: updating with the first half and then the
      second gives the result of one update with the whole batch (with and
      without sample weights);
    - sample_weight: weights of ones give the unweighted result;
    - reset_state: after a reset the metric starts afresh;
    - config: ``from_config(get_config())`` is JSON-safe and gives the same
      config and result (and the registry round trip when registered);
    - repeatability: a second metric from the config gives the identical result;
    - model round trip (registered metrics): compiled into a model whose
      output is its input, `evaluate` reports the metric's result, before and
      after `model.save` / `models.load_model`.

    Args:
        metric: a registered name, config dict or Metric instance.
        y_true: targets, at least 2 samples.
        y_pred: predictions.
        sample_weight: per-sample weights; random ones are used when None.
        loss: the loss the model round trip compiles with; by default "mse"
            when y_true and y_pred have one shape, else
            "sparse_categorical_crossentropy".
        skip: names of checks not to run.
    """
    from corelib import metrics

    skip = skipped(skip, METRIC_CHECKS, "check_metric")
    obj = metrics.get(metric)
    report = Report(f"check_metric({obj.name})")
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = y_pred.shape[0]
    if sample_weight is None:
        sample_weight = np.random.default_rng(1).uniform(0.5, 1.5, n)
    cfg = obj.get_config()

    def fresh() -> Any:
        return type(obj).from_config(json.loads(json.dumps(cfg)))

    ok, whole = report.attempt("result: update_state then result", lambda: _value(fresh(), (y_true, y_pred)))
    if not ok:
        report.done()
        return
    if "result" not in skip:
        probe = fresh()
        first = _value(probe, (y_true, y_pred))
        vector = isinstance(first, np.ndarray) and first.ndim == 1 and first.dtype.kind == "f"
        if not (isinstance(first, float) and math.isfinite(first)) and not (vector and np.isfinite(first).all()):
            report.fail("result", f"result() returned {first!r} ({type(first).__name__}), expected a finite float "
                        "(or a 1-D float array of finite values, one per class)")
        report.identical("result: reading result() twice", probe.result(), first)
    halves = [slice(0, n // 2), slice(n // 2, n)]
    if "batch-size independence" not in skip and n >= 2:
        split = _value(fresh(), *[(y_true[s], y_pred[s]) for s in halves])
        report.close("batch-size independence: two half batches give the whole batch's result", split, whole, 1e-12, 1e-12)
        weighted = _value(fresh(), (y_true, y_pred, sample_weight))
        split = _value(fresh(), *[(y_true[s], y_pred[s], sample_weight[s]) for s in halves])
        report.close("batch-size independence: two weighted half batches give the whole weighted batch's result",
                     split, weighted, 1e-12, 1e-12)
    if "sample_weight" not in skip:
        ones = _value(fresh(), (y_true, y_pred, np.ones(n)))
        report.close("sample_weight: weights of ones give the unweighted result", ones, whole, 1e-12, 1e-12)
    if "reset_state" not in skip:
        probe = fresh()
        _value(probe, (y_true, y_pred), (y_true[::-1], y_pred[::-1] * 0.5 + 0.25, sample_weight))
        probe.reset_state()
        report.identical("reset_state: after a reset the result is that of the new data alone",
                         _value(probe, (y_true, y_pred)), whole)
    if "config" not in skip:
        _check_config(report, obj, cfg, y_true, y_pred, whole)
    if "repeatability" not in skip:
        report.identical("repeatability: a second metric from the config", _value(fresh(), (y_true, y_pred)), whole)
    if "model round trip" not in skip and registered_entry(obj, "metrics") is not None:
        if loss is None:
            loss = "mse" if y_true.shape == y_pred.shape else "sparse_categorical_crossentropy"
        _check_model_round_trip(report, fresh, y_true, y_pred, loss, float(np.mean(whole)))  # logs hold the mean
    report.done()


def _check_config(report: Report, obj: Any, cfg: dict, y_true: np.ndarray, y_pred: np.ndarray, whole: float) -> None:
    cfg_json = report.json_config(cfg)
    if cfg_json is None:
        return
    clone = type(obj).from_config(dict(cfg_json))
    if json.loads(json.dumps(clone.get_config())) != cfg_json:
        report.fail("config", f"from_config(get_config()).get_config() differs: {clone.get_config()} != {cfg_json}")
    if registered_entry(obj, "metrics") is not None:
        from corelib import metrics

        again = metrics.deserialize(json.loads(json.dumps(metrics.serialize(obj))))
        if type(again) is not type(obj) or json.loads(json.dumps(again.get_config())) != cfg_json:
            report.fail("registry round trip", "metrics.deserialize(metrics.serialize(metric)) changed the metric")
        else:
            report.close("registry round trip result", _value(again, (y_true, y_pred)), whole, 1e-12, 1e-12)


def _check_model_round_trip(report: Report, fresh: Callable[[], Any], y_true: np.ndarray, y_pred: np.ndarray,
                            loss: Any, whole: float) -> None:
    n = y_pred.shape[0]
    name = fresh().name

    def evaluate(model: Any) -> float:
        return float(model.evaluate(y_pred, y_true, batch_size=n, verbose=0, return_dict=True)[name])

    check_evaluate_round_trip(report, y_pred.shape[1:],
                              lambda model: model.compile(optimizer="sgd", loss=loss, metrics=[fresh()]),
                              evaluate, whole, compiled_with=f"the metric (loss={loss!r})",
                              gives="reports the metric's result", loaded_gives="reports the same result",
                              loaded_atol=1e-12)
