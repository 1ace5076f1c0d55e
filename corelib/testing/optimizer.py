"""`check_optimizer`: the optimizer contract, on a small quadratic problem."""

from __future__ import annotations

import inspect
import json
import random
from typing import Any, Callable, Sequence

import numpy as np

from corelib import config
from corelib.testing.common import Report, registered_entry, scramble_global_rngs
from corelib.testing.model import save_and_load
from corelib.testing.layer import skipped
from corelib.layers.base import Parameter

__all__ = ["check_optimizer", "OPTIMIZER_CHECKS"]

OPTIMIZER_CHECKS = ("config", "descent", "in place", "state", "repeatability", "model round trip")
_CURVATURE = (np.linspace(0.5, 2.0, 6).reshape(3, 2), np.array([1.5, 0.75]))
_SEED = 2024


def _factory(optimizer: Any, kwargs: dict) -> Callable[[], Any]:
    """A function returning a fresh optimizer (no state, iterations 0) each call."""
    from corelib import optimizers

    if inspect.isclass(optimizer):
        return lambda: optimizer(**kwargs)
    if isinstance(optimizer, str) and kwargs:
        return lambda: optimizers.get({"class_name": optimizer, "config": dict(kwargs)})
    if kwargs:
        raise TypeError("check_optimizer: keyword arguments are only accepted with a class or a registered name")
    if isinstance(optimizer, optimizers.Optimizer):
        cfg = json.loads(json.dumps(optimizer.get_config()))
        return lambda: type(optimizer).from_config(dict(cfg))
    return lambda: optimizers.get(optimizer)


def _problem(dtype: str) -> list[Parameter]:
    """Two trainable parameters and a frozen one; the loss is 0.5 * sum(c * p**2)."""
    return [
        Parameter(np.array([[1.0, -2.0], [0.5, 1.5], [-1.0, 2.0]], dtype=dtype), "kernel"),
        Parameter(np.array([-1.0, 0.8], dtype=dtype), "bias"),
        Parameter(np.array([3.0, -3.0], dtype=dtype), "frozen", trainable=False),
    ]


def _loss(params: list[Parameter]) -> float:
    return sum(0.5 * float(np.sum(c * p.value.astype(np.float64) ** 2)) for c, p in zip(_CURVATURE, params))


def _set_grads(params: list[Parameter]) -> None:
    for c, p in zip(_CURVATURE, params):
        p.grad[...] = c * p.value
    for p in params[len(_CURVATURE):]:
        p.grad[...] = 1.0  # the frozen parameter has a gradient, and must not move


def _run(opt: Any, params: list[Parameter], steps: int) -> list[np.ndarray]:
    for _ in range(steps):
        _set_grads(params)
        opt.apply(params)
    return [p.value.copy() for p in params]


def check_optimizer(optimizer: Any, *, steps: int = 30, skip: Sequence[str] = (), **kwargs: Any) -> None:
    """Check an optimizer; raise ConformanceError listing the failed checks.

    On ``0.5 * sum(c * p**2)`` over two trainable parameters and a frozen one:

    - config: ``from_config(get_config())`` is JSON-safe, gives the same config
      (and the registry round trip too), and takes the same steps;
    - descent: in float32 and float64, the first step goes downhill, `steps`
      steps lower the loss, `iterations` counts them, the frozen parameter
      does not move;
    - in place: `apply` updates ``p.value`` in place (same array, dtype and
      contiguity) and leaves ``p.grad`` alone;
    - state: `get_state` / `set_state` on a fresh optimizer continues with
      identical steps; `set_state` for other parameters raises ValueError;
    - repeatability: two fresh optimizers under `corelib.set_seed` take
      identical steps;
    - model round trip (registered optimizers): compiled into a model,
      trained, saved and loaded, the optimizer keeps its config and state
      and the next step is identical.

    Args:
        optimizer: a registered name, config dict, Optimizer class or instance
            (an instance is rebuilt from its config: its state is not used).
        steps: how many steps the descent check takes.
        skip: names of checks not to run.
        **kwargs: constructor arguments, with a class or a registered name.
    """
    skip = skipped(skip, OPTIMIZER_CHECKS, "check_optimizer")
    make = _factory(optimizer, kwargs)
    first = make()
    report = Report(f"check_optimizer({type(first).__name__})")
    if "config" not in skip:
        _check_config(report, first, make)
    if "descent" not in skip or "in place" not in skip:
        for dtype in ("float32", "float64"):
            _check_descent(report, make(), dtype, steps, skip)
    if "state" not in skip:
        _check_state(report, make)
    if "repeatability" not in skip:
        _check_repeatability(report, make, steps)
    if "model round trip" not in skip and registered_entry(first, "optimizers") is not None:
        _check_model_round_trip(report, make)
    report.done()


def _check_config(report: Report, opt: Any, make: Callable[[], Any]) -> None:
    cfg_json = report.json_config(opt.get_config())
    if cfg_json is None:
        return
    ok, clone = report.attempt("config: from_config(get_config())", lambda: type(opt).from_config(dict(cfg_json)))
    if not ok:
        return
    if json.loads(json.dumps(clone.get_config())) != cfg_json:
        report.fail("config", f"from_config(get_config()).get_config() differs: {clone.get_config()} != {cfg_json}")
    report.identical("config: a copy from the config takes the same steps",
                     np.concatenate([v.ravel() for v in _run(clone, _problem("float64"), 5)]),
                     np.concatenate([v.ravel() for v in _run(make(), _problem("float64"), 5)]))
    if registered_entry(opt, "optimizers") is not None:
        from corelib import optimizers

        again = optimizers.deserialize(json.loads(json.dumps(optimizers.serialize(opt))))
        if json.loads(json.dumps(again.get_config())) != cfg_json:
            report.fail("registry round trip", "optimizers.deserialize(optimizers.serialize(opt)) changed the config")


def _check_descent(report: Report, opt: Any, dtype: str, steps: int, skip: frozenset) -> None:
    params = _problem(dtype)
    start = _loss(params)
    arrays = [p.value for p in params]
    before = [p.value.copy() for p in params]
    _set_grads(params)
    grads = [p.grad.copy() for p in params]
    ok, _ = report.attempt(f"descent ({dtype}): apply", lambda: opt.apply(params))
    if not ok:
        return
    if "in place" not in skip:
        for p, arr, g in zip(params, arrays, grads):
            if p.value is not arr:
                report.fail("in place", f"apply replaced '{p.name}'.value instead of updating it in place")
            if p.value.dtype != np.dtype(dtype) or not p.value.flags.c_contiguous:
                report.fail("in place", f"'{p.name}'.value became {p.value.dtype}"
                            f"{'' if p.value.flags.c_contiguous else ', not C-contiguous'}; expected {dtype}")
            report.identical(f"in place: apply leaves '{p.name}'.grad unchanged", p.grad, g)
    if "descent" in skip:
        return
    step = sum(float(np.sum((p.value - b).astype(np.float64) * g)) for p, b, g in zip(params[:2], before, grads))
    if not step < 0:
        report.fail("descent", f"({dtype}) the first step is not downhill: step . gradient = {step:.3g}, expected < 0")
    _run(opt, params, steps - 1)
    end = _loss(params)
    if not end < start:
        report.fail("descent", f"({dtype}) {steps} steps did not lower the loss: {start:.6g} -> {end:.6g}")
    if opt.iterations != steps:
        report.fail("descent", f"({dtype}) iterations is {opt.iterations} after {steps} steps")
    report.identical(f"descent ({dtype}): the frozen parameter does not move", params[2].value, before[2])
    if not all(np.isfinite(p.value).all() for p in params):
        report.fail("descent", f"({dtype}) parameters became NaN or infinite")


def _check_state(report: Report, make: Callable[[], Any]) -> None:
    opt, params = make(), _problem("float64")
    _run(opt, params, 3)
    state = opt.get_state()
    bad = sorted(k for k, v in state.items() if not isinstance(v, np.ndarray))
    if bad:
        report.fail("state", f"get_state() values must be ndarrays; not so for {bad[:5]}")
        return
    copies = [Parameter(p.value.copy(), p.name, trainable=p.trainable) for p in params]
    twin = make()
    ok, _ = report.attempt("state: set_state(get_state()) on a fresh optimizer",
                           lambda: twin.set_state(copies, {k: v.copy() for k, v in state.items()}))
    if not ok:
        return
    if twin.iterations != opt.iterations:
        report.fail("state", f"set_state restored iterations={twin.iterations}, expected {opt.iterations}")
    ours, theirs = _run(opt, params, 3), _run(twin, copies, 3)
    for p, a, b in zip(params, ours, theirs):
        report.identical(f"state: the restored optimizer steps '{p.name}' identically", b, a)
    other, others = make(), _problem("float64")[:1]
    _run(other, others, 1)
    theirs = other.get_state()
    if sorted(theirs) == sorted(state) and all(np.shape(theirs[k]) == np.shape(state[k]) for k in state):
        return  # a state with nothing per parameter (plain SGD) fits any parameters
    try:
        make().set_state(others, state)
    except ValueError:
        pass
    except Exception as exc:  # noqa: BLE001
        report.fail("state", f"set_state for other parameters raised {type(exc).__name__}, expected a ValueError")
    else:
        report.fail("state", "set_state accepted a state taken for other parameters; expected a ValueError")


def _check_repeatability(report: Report, make: Callable[[], Any], steps: int) -> None:
    np_state, py_state, dl_state = np.random.get_state(), random.getstate(), config.get_rng_state()
    runs = []
    try:
        for scramble in (1, 2):
            config.set_seed(_SEED)
            scramble_global_rngs(scramble)
            runs.append(_run(make(), _problem("float64"), steps))
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
        config.set_rng_state(dl_state)
    for name, a, b in zip(("kernel", "bias", "frozen"), *runs):
        report.identical(f"repeatability: '{name}' after {steps} steps under set_seed({_SEED})", b, a)


def _check_model_round_trip(report: Report, make: Callable[[], Any]) -> None:
    from corelib import models
    from corelib.builtin.layers.dense import Dense

    check = "model round trip"
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))

    def trained() -> Any:
        with_seed = np.random.default_rng(5)
        layer = Dense(2, input_shape=(3,), dtype="float64", name="dense")
        model = models.Sequential([layer])
        layer.set_weights([with_seed.standard_normal((3, 2)), with_seed.standard_normal(2)])
        model.compile(optimizer=make(), loss="mse")
        model.train_on_batch(x, y)
        model.train_on_batch(x, y)
        return model

    ok, model = report.attempt(f"{check}: compile and train a model", trained)
    if not ok:
        return
    ok, result = report.attempt(f"{check}: model.save then models.load_model",
                                lambda: save_and_load(model, {"Dense": Dense}))
    if not ok:
        return
    loaded = result[0]
    if json.loads(json.dumps(loaded.optimizer.get_config())) != json.loads(json.dumps(model.optimizer.get_config())):
        report.fail(check, f"the loaded optimizer's config {loaded.optimizer.get_config()} differs from "
                    f"{model.optimizer.get_config()}")
    saved, restored = model.optimizer.get_state(), loaded.optimizer.get_state()
    if sorted(saved) != sorted(restored):
        report.fail(check, f"the loaded optimizer's state has keys {sorted(restored)}, expected {sorted(saved)}")
        return
    for key in saved:
        report.identical(f"{check}: optimizer state '{key}' after loading", restored[key], saved[key])
    ok, _ = report.attempt(f"{check}: train_on_batch on the loaded model", lambda: loaded.train_on_batch(x, y))
    if ok:
        model.train_on_batch(x, y)
        for a, b in zip(model.get_weights(), loaded.get_weights()):
            report.identical(f"{check}: the next step after loading equals the next step without saving", b, a)
