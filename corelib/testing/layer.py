"""`check_layer`: the layer contract, checked in float64."""

from __future__ import annotations

import inspect
import json
import random
from typing import Any, Callable, Sequence

import numpy as np

from corelib import config
from corelib.testing.common import (
    ConformanceError,
    Report,
    float64_and_fixed_rng,
    noise_floor,
    numeric_gradient,
    registered_entry,
    scramble_global_rngs,
)
from corelib.testing.model import layer_class_name, recorded_plugins, save_and_load
from corelib.errors import ConfigError
from corelib.layers.base import Layer

__all__ = ["check_layer", "LAYER_CHECKS"]

LAYER_CHECKS = (
    "shape inference",
    "gradients",
    "config",
    "float32",
    "batch-size independence",
    "model round trip",
    "repeatability",
)
_SEED = 2024


def skipped(skip: Sequence[str], known: Sequence[str], where: str) -> frozenset:
    """`skip` as a set, refusing names that are not checks."""
    skip = (skip,) if isinstance(skip, str) else tuple(skip)
    unknown = [s for s in skip if s not in known]
    if unknown:
        raise ConfigError(f"{where}: unknown check(s) in skip: {unknown}. Checks: {', '.join(known)}")
    return frozenset(skip)


def _layer_copy(layer: Layer, dtype: str, cfg: dict | None = None) -> Layer:
    cfg = dict(cfg if cfg is not None else layer.get_config())
    cfg["dtype"] = dtype
    return type(layer).from_config(cfg)


def _shapes_match(symbolic: Sequence, actual: Sequence) -> bool:
    return len(symbolic) == len(actual) and all(s is None or s == a for s, a in zip(symbolic, actual))


def _as_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) and x and isinstance(x[0], np.ndarray) else [x]


def _scale(y: np.ndarray) -> float:
    return max(float(np.max(np.abs(y))) if y.size else 0.0, 1.0)


def check_layer(
    layer: type | Layer,
    input_shape: Sequence[int] | list[Sequence[int]],
    *,
    input_data: np.ndarray | list[np.ndarray] | None = None,
    training: bool = True,
    tolerance: float = 1e-6,
    data_seed: int = 0,
    skip: Sequence[str] = (),
    **kwargs: Any,
) -> None:
    """Run every layer conformance check; raise ConformanceError listing the failures.

    The checks (names as in the failure messages and in `skip`):

    - shape inference: the built output shape and `compute_output_shape` agree
      with the real output;
    - gradients: backprop matches float64 central differences for the input
      and every trainable weight, adds into ``.grad`` and honours
      ``need_input_grad=False``;
    - config: ``from_config(get_config())`` is JSON-safe, gives the same config
      and, with the same weights, the same output; the registry round trip
      too when the layer is registered;
    - float32: a float32 copy gives the float64 output to float32 accuracy;
    - batch-size independence: in inference, the first sample alone and the
      rest give the rows of the whole batch;
    - model round trip: inside a model (a `Sequential`, or a functional
      `Model` for several inputs) predict equals forward, and `model.save` /
      `models.load_model` give the same predictions; a registered layer's
      plugin and version are recorded in the file;
    - repeatability: under `corelib.set_seed`, two fresh layers get the same
      weights and the same training-mode output (so every draw comes from
      `corelib.config.rng()`, not NumPy's or Python's global generators).

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
        skip: names of checks not to run, for a layer that by design breaks
            one (say why in your test).
        **kwargs: constructor arguments when `layer` is a class (all but
            ``input_shape``, which names the test input's shape here).
    """
    cls = layer if inspect.isclass(layer) else type(layer)
    skip = skipped(skip, LAYER_CHECKS, "check_layer")
    report = Report(f"check_layer({cls.__name__})")
    multi = isinstance(input_shape, list) and bool(input_shape) and isinstance(input_shape[0], (list, tuple))
    shapes = [tuple(s) for s in input_shape] if multi else [tuple(input_shape)]
    data_rng = np.random.default_rng(data_seed)
    with float64_and_fixed_rng() as rng_state:

        def make() -> Layer:
            return layer(**kwargs) if inspect.isclass(layer) else _layer_copy(layer, "float64")

        subject = make()
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
        if "shape inference" not in skip:
            concrete = [(s[0],) + s[1:] for s in shapes]
            inferred = subject.compute_output_shape(concrete if multi else concrete[0])
            if not _shapes_match(out_symbolic, y.shape) or out_symbolic[0] is not None:
                report.fail("shape inference", f"built output shape {out_symbolic}, forward gave {y.shape}")
            if not _shapes_match(tuple(inferred), y.shape):
                report.fail("shape inference", f"compute_output_shape({concrete}) = {inferred}, forward gave {y.shape}")
        if "gradients" not in skip:
            _check_gradients(report, subject, forward, x_arg, xs, multi, y, backprop, data_rng, tolerance)
        if "config" not in skip:
            _check_config(report, subject, x_arg, arg_shape)
        if "float32" not in skip:
            _check_float32(report, subject, x_arg, arg_shape)
        if "batch-size independence" not in skip:
            _check_batch_independence(report, forward, xs, multi)
        if "model round trip" not in skip and not _is_model_input(subject):
            _check_model_round_trip(report, subject, xs, multi)
        if "repeatability" not in skip:
            _check_repeatability(report, make, arg_shape, x_arg, training)
    report.done()


def _check_gradients(report: Report, subject: Layer, forward: Callable, x_arg: Any, xs: list, multi: bool,
                     y: np.ndarray, backprop: Callable, data_rng: np.random.Generator, tolerance: float) -> None:
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

    scale = float(np.sum(np.abs(y * upstream)))
    for i, x in enumerate(xs):
        if x.dtype.kind == "f":
            label = f"input gradient{'' if not multi else f' (input {i})'}"
            report.gradient(label, dxs[i] if i < len(dxs) else None, numeric_gradient(objective, x), tolerance,
                            noise_floor(scale, x.size))
    for p, g in zip(params, grads):
        report.gradient(f"gradient of weight '{p.name}'", g, numeric_gradient(objective, p.value), tolerance,
                        noise_floor(scale, p.value.size))
    _check_accumulation(report, subject, forward, x_arg, upstream, params, grads)


def _check_accumulation(report: Report, layer: Layer, forward: Callable, x: Any, upstream: np.ndarray,
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
    skipped_dx = backprop(upstream, need_input_grad=False)
    if skipped_dx is not None:
        report.fail("need_input_grad", f"backprop(dy, need_input_grad=False) returned {type(skipped_dx).__name__}, expected None")
    for p, g in zip(params, grads):
        report.close(f"need_input_grad=False still fills '{p.name}'.grad", p.grad, g, 1e-9, 1e-12)


def _check_config(report: Report, layer: Layer, x: Any, symbolic_in: Any) -> None:
    cfg_json = report.json_config(layer.get_config())
    if cfg_json is None:
        return
    reference = np.array(layer.forward(x, False)[0], copy=True)
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
    if registered_entry(type(layer), "layers") is not None:
        from corelib import layers as layers_view

        rebuilt = layers_view.deserialize(json.loads(json.dumps(layers_view.serialize(layer))))
        if json.loads(json.dumps(rebuilt.get_config())) != cfg_json:
            report.fail("registry round trip", "layers.deserialize(layers.serialize(layer)) changed the config")


def _check_float32(report: Report, layer: Layer, x: Any, symbolic_in: Any) -> None:
    reference = np.array(layer.forward(x, False)[0], copy=True)
    single = _layer_copy(layer, "float32", json.loads(json.dumps(layer.get_config())))
    single.ensure_built(symbolic_in)
    single.set_weights([w.astype(np.float32) for w in layer.get_weights()])
    x32 = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in _as_list(x)]
    out32, _ = single.forward(x32 if isinstance(x, list) else x32[0], False)
    if np.asarray(out32).dtype != np.float32:
        report.fail("float32", f"a float32 layer returned {np.asarray(out32).dtype}")
    report.close("float32 output agrees with float64", out32, reference, 1e-4, 1e-5 * _scale(reference))


def _check_batch_independence(report: Report, forward: Callable, xs: list, multi: bool) -> None:
    n = xs[0].shape[0]
    if n < 2 or any(a.shape[0] != n for a in xs):
        return  # needs two samples to split

    def run(part: slice) -> np.ndarray:
        inputs = [a[part] for a in xs]
        return np.array(forward(inputs if multi else inputs[0], False)[0], copy=True)

    whole = run(slice(None))
    pieces = np.concatenate([run(slice(0, 1)), run(slice(1, n))])
    report.close("batch-size independence: inference on sample 0 and on samples 1: gives the whole batch's rows",
                 pieces, whole, 1e-10, 1e-12 * _scale(whole))


def _is_model_input(layer: Layer) -> bool:
    """An InputLayer is a model's input itself, not a layer that goes inside one."""
    from corelib.layers.input_layer import InputLayer

    return isinstance(layer, InputLayer)


def _model_holding(layer: Layer, xs: list, multi: bool) -> Any:
    """A float64 model around a copy of `layer` with its weights: a Sequential for one
    input, a functional Model over one Input per input otherwise."""
    from corelib import models
    from corelib.layers import Input

    cfg = json.loads(json.dumps(layer.get_config()))
    cfg["dtype"] = "float64"
    if multi:
        clone = type(layer).from_config(cfg)
        inputs = [Input(shape=a.shape[1:], dtype="float64") for a in xs]
        model = models.Model(inputs, clone(inputs))
    else:
        cfg["batch_input_shape"] = [None, *xs[0].shape[1:]]
        clone = type(layer).from_config(cfg)
        model = models.Sequential([clone])
    clone.set_weights(layer.get_weights())
    return model


def _check_model_round_trip(report: Report, layer: Layer, xs: list, multi: bool) -> None:
    check = "model round trip"
    x = xs if multi else xs[0]
    expected = np.array(layer.forward(x, False)[0], copy=True)
    kind = "functional Model" if multi else "Sequential"
    ok, model = report.attempt(f"{check}: a {kind} holding the layer", lambda: _model_holding(layer, xs, multi))
    if not ok:
        return
    ok, before = report.attempt(f"{check}: model.predict", lambda: model.predict(x, verbose=0))
    if not ok:
        return
    report.close(f"{check}: model.predict equals the layer's forward", before, expected, 1e-12, 1e-12 * _scale(expected))
    name = layer_class_name(layer)
    entry = registered_entry(type(layer), "layers")
    custom = None if entry is not None else {name: type(layer)}
    ok, result = report.attempt(f"{check}: model.save then models.load_model", lambda: save_and_load(model, custom))
    if not ok:
        return
    loaded, doc = result
    ok, after = report.attempt(f"{check}: predict of the loaded model", lambda: loaded.predict(x, verbose=0))
    if ok:
        report.close(f"{check}: the loaded model predicts what the saved one did", after, before, 1e-12, 0.0)
    if entry is not None:
        records = recorded_plugins(doc, entry.name)
        if not any(entry.plugin in r and (not entry.version or entry.version in r) for r in records):
            report.fail(f"{check}: the file records the plugin",
                        f"config.json does not name plugin {entry.plugin!r} {entry.version} for layer {entry.name!r}")


def _check_repeatability(report: Report, make: Callable[[], Layer], arg_shape: Any, x: Any, training: bool) -> None:
    np_state, py_state = np.random.get_state(), random.getstate()
    runs = []
    try:
        for scramble in (1, 2):
            config.set_seed(_SEED)
            scramble_global_rngs(scramble)
            fresh = make()
            fresh.ensure_built(arg_shape)
            y, _ = fresh.forward(x, training)
            runs.append((fresh.weights, fresh.get_weights(), np.array(y, copy=True)))
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    (params, first, y1), (_, second, y2) = runs
    hint = " (does it draw from numpy.random or random instead of corelib.config.rng()?)"
    if len(first) != len(second):
        report.fail("repeatability", f"two layers built under set_seed({_SEED}) have {len(first)} and {len(second)} weights")
        return
    failures = len(report.failures)
    for p, a, b in zip(params, first, second):
        if not np.array_equal(a, b):
            report.fail("repeatability", f"weight '{p.name}' differs between two layers built under set_seed({_SEED}): "
                        f"max abs difference {float(np.max(np.abs(a - b))):.3g}{hint}")
    if len(report.failures) == failures and not np.array_equal(y1, y2, equal_nan=True):
        report.fail("repeatability", f"the {'training' if training else 'inference'}-mode output differs between "
                    f"two runs under set_seed({_SEED}): max abs difference {float(np.max(np.abs(y1 - y2))):.3g}{hint}")
