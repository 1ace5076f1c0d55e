"""Shared pieces of the conformance checks: the failure report, float64 with a
fixed random state, central differences, and relative errors."""

from __future__ import annotations

import contextlib
import json
import random
from typing import Any, Callable, Iterator

import numpy as np

from corelib import config
from corelib.errors import one_line

__all__ = ["ConformanceError", "Report", "relative_error", "numeric_gradient", "noise_floor", "float64_and_fixed_rng",
           "scramble_global_rngs", "registered_entry"]

EPS = 1e-6  # central-difference step in float64: truncation ~1e-12, rounding ~1e-10 relative


class ConformanceError(AssertionError):
    """A component broke the dl component contract; the message says which check and how."""


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / max(||a||, ||b||) (0 when both are 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)))
    diff = float(np.linalg.norm(a - b))
    return 0.0 if diff == 0.0 else diff / max(scale, 1e-300)


@contextlib.contextmanager
def float64_and_fixed_rng(seed: int = 12345) -> Iterator[dict]:
    """float64 as the default dtype and dl's generator at a fixed state; both restored after."""
    previous_floatx, previous_state = config.floatx(), config.get_rng_state()
    config.set_floatx("float64")
    config.set_rng_state(np.random.default_rng(seed).bit_generator.state)
    try:
        yield config.get_rng_state()
    finally:
        config.set_floatx(previous_floatx)
        config.set_rng_state(previous_state)


def scramble_global_rngs(seed: int) -> None:
    """Reseed NumPy's and Python's global generators, so a component that draws
    from them instead of `corelib.config.rng()` is not repeatable under `set_seed`."""
    np.random.seed(seed)
    random.seed(seed)


def noise_floor(objective_scale: float, size: int, eps: float = EPS) -> float:
    """A generous bound on the norm of central-difference rounding noise: each
    entry's error is about 1e-16 * |f| / eps; 1e3 times that, over `size` entries."""
    return 1e3 * 1e-16 * max(objective_scale, 1.0) / eps * float(np.sqrt(max(size, 1)))


def numeric_gradient(f: Callable[[], float], values: np.ndarray, eps: float = EPS) -> np.ndarray:
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


def registered_entry(obj: Any, kind: str) -> Any:
    """The registry Entry of `obj` (a class or an instance of one), or None."""
    from corelib.registry import get_registry

    return get_registry().provider_of(obj, kind)


class Report:
    """Collects failed checks; `done()` raises one ConformanceError listing them all."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures: list[str] = []

    def fail(self, check: str, detail: str) -> None:
        self.failures.append(f"[{check}] {detail}")

    def gradient(self, check: str, analytic: Any, numeric: np.ndarray, tolerance: float, floor: float = 0.0) -> None:
        """Compare gradients by relative error; both below `floor` (the central
        differences' rounding noise) counts as agreeing on zero."""
        if analytic is None:
            self.fail(check, "backprop returned None")
            return
        analytic = np.asarray(analytic)
        if analytic.shape != numeric.shape:
            self.fail(check, f"gradient has shape {analytic.shape}, expected {numeric.shape}")
            return
        if max(float(np.linalg.norm(analytic)), float(np.linalg.norm(numeric))) <= floor:
            return
        err = relative_error(analytic, numeric)
        if not err < tolerance:
            worst = np.unravel_index(int(np.argmax(np.abs(analytic - numeric))), numeric.shape)
            self.fail(
                check,
                f"relative error {err:.3g} exceeds {tolerance:g} (worst entry {tuple(int(i) for i in worst)}: "
                f"analytic {float(analytic[worst]):.8g}, numeric {float(numeric[worst]):.8g})",
            )

    def close(self, check: str, got: Any, want: Any, rtol: float, atol: float = 0.0) -> bool:
        """Record a failure unless `got` matches `want`; returns whether it did."""
        got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
        if got.shape != want.shape:
            self.fail(check, f"shape {got.shape}, expected {want.shape}")
            return False
        if not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
            diff = np.abs(got - want)
            self.fail(check, f"max abs difference {float(np.nanmax(diff)):.3g} (rtol {rtol:g}, atol {atol:g})")
            return False
        return True

    def identical(self, check: str, got: Any, want: Any) -> bool:
        """Record a failure unless `got` equals `want` bit for bit."""
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape:
            self.fail(check, f"shape {got.shape}, expected {want.shape}")
            return False
        if not np.array_equal(got, want, equal_nan=True):
            diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
            self.fail(check, f"not identical: max abs difference {float(np.nanmax(diff)):.3g}")
            return False
        return True

    def json_config(self, config: dict) -> dict | None:
        """`config` (a `get_config()`) through JSON and back, as a saved file gives it;
        None, after recording a failure of check "config", when it is not JSON-safe."""
        try:
            return json.loads(json.dumps(config))
        except (TypeError, ValueError) as exc:
            self.fail("config", f"get_config() is not JSON-safe: {exc}")
            return None

    def attempt(self, check: str, fn: Callable[[], Any]) -> tuple[bool, Any]:
        """Run `fn`; an exception becomes a failure of `check`. Returns (ok, result)."""
        try:
            return True, fn()
        except Exception as exc:  # noqa: BLE001 - a raising component fails the check, not the kit
            self.fail(check, f"raised {type(exc).__name__}: {one_line(exc)}")
            return False, None

    def done(self) -> None:
        if self.failures:
            raise ConformanceError(f"{self.what} failed {len(self.failures)} check(s):\n  " + "\n  ".join(self.failures))
