"""`check_activation`: the activation contract."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from corelib.testing.common import Report, numeric_gradient

__all__ = ["check_activation"]


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
    report = Report(f"check_activation({getattr(act, 'name', name)})")
    x = _activation_inputs(shape, seed)
    upstream = np.random.default_rng(seed + 1).standard_normal(shape)
    y = act.forward(x, np.empty_like(x))
    dx = act.backward(x, y, upstream, np.empty_like(x))
    numeric = numeric_gradient(lambda: float(np.sum(act.forward(x, np.empty_like(x)) * upstream)), x)
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
