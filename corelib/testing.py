"""Conformance checks for layers, losses and activations — for plugin authors' tests.

    from corelib.testing import check_layer, check_loss, check_activation

    def test_my_layer():
        check_layer(MyLayer, (2, 5), units=3)       # constructor kwargs after the shape

Each check runs in float64 and raises `ConformanceError` (an AssertionError)
naming the check that failed and by how much:

- shape inference: `compute_output_shape` agrees with the real output;
- gradients: backprop matches central differences for the input and every
  trainable weight (relative error below `tolerance`, 1e-6 by default), adds
  into ``.grad`` and honours ``need_input_grad=False``;
- config: ``from_config(get_config())`` is JSON-safe, gives the same config,
  and with the same weights the same output; the registry round trip too when
  the layer is registered; float32 gives the float64 output to float32 accuracy.
"""

from __future__ import annotations

import contextlib
import inspect
import json
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from corelib import config
from corelib.layer import Layer

__all__ = ["ConformanceError", "check_layer", "check_loss", "check_activation", "relative_error"]

_EPS = 1e-6  # central-difference step in float64: truncation ~1e-12, rounding ~1e-10 relative


class ConformanceError(AssertionError):
    """A component broke the dl component contract; the message says which check and how."""


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / max(||a||, ||b||) (0 when both are 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)))
    diff = float(np.linalg.norm(a - b))
    return 0.0 if diff == 0.0 else diff / max(scale, 1e-300)


@contextlib.contextmanager
def _float64_and_fixed_rng() -> Iterator[dict]:
    previous_floatx, previous_state = config.floatx(), config.get_rng_state()
    config.set_floatx("float64")
    config.set_rng_state(np.random.default_rng(12345).bit_generator.state)
    try:
        yield config.get_rng_state()
    finally:
        config.set_floatx(previous_floatx)
        config.set_rng_state(previous_state)


def _numeric_gradient(f: Callable[[], float], values: np.ndarray, eps: float = _EPS) -> np.ndarray:
    """d f / d values by central differences, perturbing `values` in place."""
    grad = np.zeros(values.shape, dtype=np.float64)
    flat, out = values.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):  # a test utility: one forward per entry and side is inherent
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        out[i] = (plus - minus) / (2 * eps)
    return grad


class _Report:
    def __init__(self, what: str) -> None:
        self.what = what
        self.failures: list[str] = []

    def fail(self, check: str, detail: str) -> None:
        self.failures.append(f"[{check}] {detail}")

    def gradient(self, check: str, analytic: Any, numeric: np.ndarray, tolerance: float) -> None:
        if analytic is None:
            self.fail(check, "backprop returned None")
            return
        analytic = np.asarray(analytic)
        if analytic.shape != numeric.shape:
            self.fail(check, f"gradient has shape {analytic.shape}, expected {numeric.shape}")
            return
        err = relative_error(analytic, numeric)
        if not err < tolerance:
            worst = np.unravel_index(int(np.argmax(np.abs(analytic - numeric))), numeric.shape)
            self.fail(
                check,
                f"relative error {err:.3g} exceeds {tolerance:g} (worst entry {tuple(int(i) for i in worst)}: "
                f"analytic {float(analytic[worst]):.8g}, numeric {float(numeric[worst]):.8g})",
            )

    def close(self, check: str, got: Any, want: Any, rtol: float, atol: float = 0.0) -> None:
        got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
        if got.shape != want.shape:
            self.fail(check, f"shape {got.shape}, expected {want.shape}")
        elif not np.allclose(got, want, rtol=rtol, atol=atol):
            self.fail(check, f"max abs difference {float(np.max(np.abs(got - want))):.3g} (rtol {rtol:g})")

    def done(self) -> None:
        if self.failures:
            raise ConformanceError(f"{self.what} failed {len(self.failures)} check(s):\n  " + "\n  ".join(self.failures))


# -- layers -------------------------------------------------------------------------


def _layer_copy(layer: Layer, dtype: str, cfg: dict | None = None) -> Layer:
    cfg = dict(cfg if cfg is not None else layer.get_config())
    cfg["dtype"] = dtype
    return type(layer).from_config(cfg)


def _shapes_match(symbolic: Sequence, actual: Sequence) -> bool:
    return len(symbolic) == len(actual) and all(s is None or s == a for s, a in zip(symbolic, actual))


def _as_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) and x and isinstance(x[0], np.ndarray) else [x]


def check_layer(
    layer: type | Layer,
    input_shape: Sequence[int] | list[Sequence[int]],
    *,
    input_data: np.ndarray | list[np.ndarray] | None = None,
    training: bool = True,
    tolerance: float = 1e-6,
    data_seed: int = 0,
    **kwargs: Any,
) -> None:
    """Run every layer conformance check; raise ConformanceError listing the failures.

    Args:
        layer: a Layer subclass (built with ``**kwargs``) or an instance (its
            config is rebuilt in float64, keeping its weights if built).
        input_shape: the full input shape, batch first (``(2, 5)``); a list of
            shapes for a layer with several inputs.
        input_data: use these inputs instead of random normal ones (integer
            inputs skip the input gradient check).
        training: run forward in training mode (random layers see the same
            draws in every evaluation).
        tolerance: the largest relative gradient error accepted.
        data_seed: seed of the random inputs and upstream gradient.
        **kwargs: constructor arguments when `layer` is a class (all but
            ``input_shape``, which names the test input's shape here).
    """
    cls = layer if inspect.isclass(layer) else type(layer)
    report = _Report(f"check_layer({cls.__name__})")
    multi = isinstance(input_shape, list) and bool(input_shape) and isinstance(input_shape[0], (list, tuple))
    shapes = [tuple(s) for s in input_shape] if multi else [tuple(input_shape)]
    data_rng = np.random.default_rng(data_seed)
    with _float64_and_fixed_rng() as rng_state:
        if inspect.isclass(layer):
            subject = layer(**kwargs)
        else:
            subject = _layer_copy(layer, "float64")
        if input_data is None:
            xs = [data_rng.standard_normal(s) for s in shapes]
        else:
            xs = [np.array(a, copy=True) for a in _as_list(input_data)]
            shapes = [a.shape for a in xs]
        xs = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in xs]
        symbolic_in = [(None,) + s[1:] for s in shapes]
        arg_shape = symbolic_in if multi else symbolic_in[0]
        try:
            out_symbolic = subject.ensure_built(arg_shape)
        except Exception as exc:  # noqa: BLE001 - reported as a failed check
            raise ConformanceError(f"{report.what}: building for input shape {arg_shape} raised {exc!r}") from exc
        if not inspect.isclass(layer) and layer.built:
            subject.set_weights([w.astype(np.float64) for w in layer.get_weights()])
        x_arg: Any = xs if multi else xs[0]

        def forward(x: Any, train: bool = training) -> tuple[np.ndarray, Callable]:
            config.set_rng_state(rng_state)
            return subject.forward(x, train)

        y, backprop = forward(x_arg)
        y = np.array(y, copy=True)
        concrete = [(s[0],) + s[1:] for s in shapes]
        inferred = subject.compute_output_shape(concrete if multi else concrete[0])
        if not _shapes_match(out_symbolic, y.shape) or out_symbolic[0] is not None:
            report.fail("shape inference", f"built output shape {out_symbolic}, forward gave {y.shape}")
        if not _shapes_match(tuple(inferred), y.shape):
            report.fail("shape inference", f"compute_output_shape({concrete}) = {inferred}, forward gave {y.shape}")

        upstream = data_rng.standard_normal(y.shape)
        params = subject.trainable_weights
        for p in subject.weights:
            p.grad[...] = 0
        dx = backprop(upstream)
        dxs = [np.array(d, copy=True) if d is not None else None for d in (_as_list(dx) if multi else [dx])]
        grads = [p.grad.copy() for p in params]

        def objective() -> float:
            out, _ = forward(x_arg)
            return float(np.sum(out * upstream))

        for i, x in enumerate(xs):
            if x.dtype.kind == "f":
                label = f"input gradient{'' if not multi else f' (input {i})'}"
                report.gradient(label, dxs[i] if i < len(dxs) else None, _numeric_gradient(objective, x), tolerance)
        for p, g in zip(params, grads):
            report.gradient(f"gradient of weight '{p.name}'", g, _numeric_gradient(objective, p.value), tolerance)

        _check_accumulation(report, subject, forward, x_arg, upstream, params, grads)
        _check_config(report, subject, x_arg, symbolic_in if multi else symbolic_in[0])
    report.done()


def _check_accumulation(report: _Report, layer: Layer, forward: Callable, x: Any, upstream: np.ndarray,
                        params: list, grads: list) -> None:
    for p in layer.weights:
        p.grad[...] = 0
    _, backprop = forward(x)
    backprop(upstream)
    backprop(upstream)
    for p, g in zip(params, grads):
        report.close(f"backprop adds into '{p.name}'.grad (two calls give twice the gradient)", p.grad, 2 * g, 1e-9, 1e-12)
    if "need_input_grad" not in inspect.signature(backprop).parameters:
        report.fail("need_input_grad", "backprop does not accept the keyword need_input_grad")
        return
    for p in layer.weights:
        p.grad[...] = 0
    _, backprop = forward(x)
    skipped = backprop(upstream, need_input_grad=False)
    if skipped is not None:
        report.fail("need_input_grad", f"backprop(dy, need_input_grad=False) returned {type(skipped).__name__}, expected None")
    for p, g in zip(params, grads):
        report.close(f"need_input_grad=False still fills '{p.name}'.grad", p.grad, g, 1e-9, 1e-12)


def _check_config(report: _Report, layer: Layer, x: Any, symbolic_in: Any) -> None:
    cfg = layer.get_config()
    try:
        cfg_json = json.loads(json.dumps(cfg))
    except (TypeError, ValueError) as exc:
        report.fail("config", f"get_config() is not JSON-safe: {exc}")
        return
    reference, _ = layer.forward(x, False)
    reference = np.array(reference, copy=True)
    try:
        clone = type(layer).from_config(cfg_json)
    except Exception as exc:  # noqa: BLE001
        report.fail("config", f"from_config(get_config()) raised {exc!r}")
        return
    again = json.loads(json.dumps(clone.get_config()))
    if again != cfg_json:
        report.fail("config", f"from_config(get_config()).get_config() differs: {again} != {cfg_json}")
    clone.ensure_built(symbolic_in)
    clone.set_weights(layer.get_weights())
    report.close("config round trip output (same weights)", clone.forward(x, False)[0], reference, 1e-12, 1e-12)

    from corelib.registry import get_registry

    if get_registry().provider_of(type(layer), "layers") is not None:
        from corelib import layers as layers_view

        rebuilt = layers_view.deserialize(json.loads(json.dumps(layers_view.serialize(layer))))
        if json.loads(json.dumps(rebuilt.get_config())) != cfg_json:
            report.fail("registry round trip", "layers.deserialize(layers.serialize(layer)) changed the config")

    single = _layer_copy(layer, "float32", cfg_json)
    single.ensure_built(symbolic_in)
    single.set_weights([w.astype(np.float32) for w in layer.get_weights()])
    x32 = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in _as_list(x)]
    out32, _ = single.forward(x32 if isinstance(x, list) else x32[0], False)
    if np.asarray(out32).dtype != np.float32:
        report.fail("float32", f"a float32 layer returned {np.asarray(out32).dtype}")
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    report.close("float32 output agrees with float64", out32, reference, 1e-4, 1e-5 * max(scale, 1.0))


# -- losses and activations -----------------------------------------------------------


def check_loss(loss: Any, y_true: Any, y_pred: np.ndarray, *, sample_weight: Any = None,
               tolerance: float = 1e-6) -> None:
    """Check a loss: gradient against central differences (with and without
    sample_weight), value consistency and config round trip.

    Args:
        loss: a registered name, config dict or Loss instance.
        y_true: targets.
        y_pred: predictions (made float64), away from any kink or clipping edge.
        sample_weight: per-sample weights; random ones are used when None.
        tolerance: the largest relative gradient error accepted.
    """
    from corelib import losses

    obj = losses.get(loss)
    report = _Report(f"check_loss({obj.name})")
    y_pred = np.array(y_pred, dtype=np.float64, copy=True)
    if sample_weight is None:
        sample_weight = np.random.default_rng(1).uniform(0.5, 1.5, y_pred.shape[0])
    for sw in (None, sample_weight):
        label = "" if sw is None else " with sample_weight"
        value, grad = obj.forward_backward(y_true, y_pred, sw)
        if not isinstance(value, float):
            report.fail("value", f"forward_backward returned a {type(value).__name__}, expected float")
        if np.asarray(grad).dtype != y_pred.dtype:
            report.fail("gradient dtype", f"{np.asarray(grad).dtype}, expected {y_pred.dtype}")
        report.close(f"__call__ equals forward_backward{label}", obj(y_true, y_pred, sw), value, 1e-12)
        numeric = _numeric_gradient(lambda: obj(y_true, y_pred, sw), y_pred)
        report.gradient(f"gradient{label}", grad, numeric, tolerance)
    per_sample = obj.per_sample(y_true, y_pred)
    if getattr(obj, "reduction", "sum_over_batch_size") != "sum":
        report.close("value is the mean of per_sample", np.mean(per_sample), obj(y_true, y_pred), 1e-12)
    cfg = obj.get_config()
    try:
        clone = type(obj).from_config(json.loads(json.dumps(cfg)))
    except Exception as exc:  # noqa: BLE001
        report.fail("config", f"from_config(get_config()) failed: {exc!r}")
    else:
        if clone.get_config() != cfg:
            report.fail("config", f"round trip changed the config: {clone.get_config()} != {cfg}")
        report.close("config round trip value", clone(y_true, y_pred), obj(y_true, y_pred), 1e-12)
    value32 = obj(y_true, y_pred.astype(np.float32))
    report.close("float32 value agrees with float64", value32, obj(y_true, y_pred), 1e-4, 1e-6)
    report.done()


def _activation_inputs(shape: tuple, seed: int) -> np.ndarray:
    """Values away from the kinks of the built-in activations (0 and +-3)."""
    rng = np.random.default_rng(seed)
    magnitude = np.where(rng.random(shape) < 0.7, rng.uniform(0.1, 2.8, shape), rng.uniform(3.2, 5.0, shape))
    return magnitude * rng.choice([-1.0, 1.0], shape)


def check_activation(name: Any, *, shape: tuple = (3, 7), tolerance: float = 1e-6, seed: int = 0) -> None:
    """Check an activation: gradient, in-place use, `needs_input`, float32, config.

    Args:
        name: a registered activation name, config dict or Activation.
        shape: the test input's shape (softmax acts on its last axis).
        tolerance: the largest relative gradient error accepted.
        seed: seed of the test input.
    """
    from corelib import activations

    act = activations.get(name)
    report = _Report(f"check_activation({getattr(act, 'name', name)})")
    x = _activation_inputs(shape, seed)
    upstream = np.random.default_rng(seed + 1).standard_normal(shape)
    y = act.forward(x, np.empty_like(x))
    dx = act.backward(x, y, upstream, np.empty_like(x))
    numeric = _numeric_gradient(lambda: float(np.sum(act.forward(x, np.empty_like(x)) * upstream)), x)
    report.gradient("gradient", dx, numeric, tolerance)
    report.close("__call__ equals forward", act(x), y, 0.0)
    inplace = x.copy()
    report.close("forward in place (out is x)", act.forward(inplace, inplace), y, 0.0)
    dy_copy = upstream.copy()
    report.close("backward in place (dx is dy)", act.backward(x, y, dy_copy, dy_copy), dx, 0.0)
    if not act.needs_input:
        report.close("needs_input=False: backward from y alone (x passed as y)",
                     act.backward(y.copy(), y, upstream, np.empty_like(x)), dx, 0.0)
    x32 = x.astype(np.float32)
    y32 = act.forward(x32, np.empty_like(x32))
    if y32.dtype != np.float32:
        report.fail("float32", f"forward on float32 gave {y32.dtype}")
    report.close("float32 forward agrees with float64", y32, y, 1e-5, 1e-6)
    clone = type(act).from_config(json.loads(json.dumps(act.get_config())))
    report.close("config round trip", clone.forward(x, np.empty_like(x)), y, 0.0)
    from corelib.registry import get_registry

    if ("activations", act.name) in get_registry():
        clone = activations.deserialize(json.loads(json.dumps(activations.serialize(act))))
        report.close("registry round trip (serialize / deserialize)", clone.forward(x, np.empty_like(x)), y, 0.0)
    report.done()
