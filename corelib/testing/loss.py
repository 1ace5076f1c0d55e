"""`check_loss`: the loss contract, checked in float64."""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np

from corelib.testing.common import Report, numeric_gradient, registered_entry
from corelib.testing.model import check_evaluate_round_trip
from corelib.testing.layer import skipped

__all__ = ["check_loss", "LOSS_CHECKS"]

LOSS_CHECKS = ("gradients", "value", "config", "float32", "batch-size independence", "model round trip",
               "repeatability")


def check_loss(loss: Any, y_true: Any, y_pred: np.ndarray, *, sample_weight: Any = None,
               tolerance: float = 1e-6, skip: Sequence[str] = ()) -> None:
    """Check a loss; raise ConformanceError listing the failed checks.

    - gradients: `forward_backward`'s gradient matches float64 central
      differences of the value, with and without sample_weight;
    - value: a float; ``__call__`` equals `forward_backward`; the mean of
      `per_sample` (for the default reduction);
    - config: ``from_config(get_config())`` is JSON-safe and gives the same
      config and value;
    - float32: the value on float32 predictions agrees with float64;
    - batch-size independence: the per-sample losses and gradient rows of
      the first sample alone and of the rest equal the whole batch's;
    - model round trip (registered losses): compiled into a model whose
      output is its input, `evaluate` gives the loss's value, before and
      after `model.save` / `models.load_model`;
    - repeatability: two calls give identical values and gradients.

    Args:
        loss: a registered name, config dict or Loss instance.
        y_true: targets.
        y_pred: predictions (made float64), away from any kink or clipping edge.
        sample_weight: per-sample weights; random ones are used when None.
        tolerance: the largest relative gradient error accepted.
        skip: names of checks not to run.
    """
    from corelib import losses

    skip = skipped(skip, LOSS_CHECKS, "check_loss")
    obj = losses.get(loss)
    report = Report(f"check_loss({obj.name})")
    y_pred = np.array(y_pred, dtype=np.float64, copy=True)
    if sample_weight is None:
        sample_weight = np.random.default_rng(1).uniform(0.5, 1.5, y_pred.shape[0])
    for sw in (None, sample_weight):
        label = "" if sw is None else " with sample_weight"
        value, grad = obj.forward_backward(y_true, y_pred, sw)
        if "value" not in skip:
            if not isinstance(value, float):
                report.fail("value", f"forward_backward returned a {type(value).__name__}, expected float")
            report.close(f"__call__ equals forward_backward{label}", obj(y_true, y_pred, sw), value, 1e-12)
        if "gradients" not in skip:
            if np.asarray(grad).dtype != y_pred.dtype:
                report.fail("gradient dtype", f"{np.asarray(grad).dtype}, expected {y_pred.dtype}")
            numeric = numeric_gradient(lambda: obj(y_true, y_pred, sw), y_pred)
            report.gradient(f"gradient{label}", grad, numeric, tolerance)
        if "repeatability" not in skip:
            again_value, again_grad = obj.forward_backward(y_true, y_pred, sw)
            report.identical(f"repeatability: value of a second call{label}", again_value, value)
            report.identical(f"repeatability: gradient of a second call{label}", again_grad, grad)
    if "value" not in skip and getattr(obj, "reduction", "sum_over_batch_size") != "sum":
        report.close("value is the mean of per_sample", np.mean(obj.per_sample(y_true, y_pred)), obj(y_true, y_pred), 1e-12)
    if "config" not in skip:
        _check_config(report, obj, y_true, y_pred)
    if "float32" not in skip:
        value32 = obj(y_true, y_pred.astype(np.float32))
        report.close("float32 value agrees with float64", value32, obj(y_true, y_pred), 1e-4, 1e-6)
    if "batch-size independence" not in skip:
        _check_batch_independence(report, obj, y_true, y_pred)
    if "model round trip" not in skip and registered_entry(obj, "losses") is not None:
        _check_model_round_trip(report, obj, y_true, y_pred, sample_weight)
    report.done()


def _check_config(report: Report, obj: Any, y_true: Any, y_pred: np.ndarray) -> None:
    cfg = obj.get_config()
    try:
        clone = type(obj).from_config(json.loads(json.dumps(cfg)))
    except Exception as exc:  # noqa: BLE001
        report.fail("config", f"from_config(get_config()) failed: {exc!r}")
        return
    if clone.get_config() != cfg:
        report.fail("config", f"round trip changed the config: {clone.get_config()} != {cfg}")
    report.close("config round trip value", clone(y_true, y_pred), obj(y_true, y_pred), 1e-12)


def _check_batch_independence(report: Report, obj: Any, y_true: Any, y_pred: np.ndarray) -> None:
    n = y_pred.shape[0]
    y_true = np.asarray(y_true)
    if n < 2:
        return
    check = "batch-size independence"
    parts = [slice(0, 1), slice(1, n)]
    whole = obj.per_sample(y_true, y_pred)
    pieces = np.concatenate([np.atleast_1d(obj.per_sample(y_true[s], y_pred[s])) for s in parts])
    report.close(f"{check}: per-sample losses of sample 0 and of samples 1: equal the whole batch's",
                 pieces, whole, 1e-12, 1e-14)
    _, grad = obj.forward_backward(y_true, y_pred)
    # The gradient is of the batch mean, so a row of a batch of k is n/k times that of the batch of n.
    rows = np.concatenate([obj.forward_backward(y_true[s], y_pred[s])[1] * ((s.stop - s.start) / n) for s in parts])
    report.close(f"{check}: gradient rows of sample 0 and of samples 1: equal the whole batch's",
                 rows, grad, 1e-10, 1e-14)


def _check_model_round_trip(report: Report, obj: Any, y_true: Any, y_pred: np.ndarray, sample_weight: Any) -> None:
    n = y_pred.shape[0]
    expected = obj(y_true, y_pred, sample_weight)

    def evaluate(model: Any) -> float:
        return float(model.evaluate(y_pred, y_true, sample_weight=sample_weight, batch_size=n, verbose=0))

    check_evaluate_round_trip(report, y_pred.shape[1:], lambda model: model.compile(optimizer="sgd", loss=obj),
                              evaluate, expected, compiled_with="the loss", gives="gives the loss's value",
                              loaded_gives="evaluates to the same loss", loaded_atol=0.0)
