"""The built-in initializers, with Keras 3's arguments, defaults and fan rules."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from corelib import config
from corelib.errors import ConfigError
from corelib.initializers import Initializer, compute_fans
from corelib.validation import positive_number

__all__ = [
    "Zeros",
    "Ones",
    "Constant",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "GlorotUniform",
    "GlorotNormal",
    "HeUniform",
    "HeNormal",
    "LecunUniform",
    "LecunNormal",
    "Orthogonal",
]

# Standard deviation of a unit normal truncated to [-2, 2]; dividing by it
# keeps the requested variance after truncation (as Keras does).
_TRUNCATED_STD = 0.87962566103423978


def _shape_dtype(shape: Sequence[int], dtype: Any) -> tuple[tuple[int, ...], np.dtype]:
    try:
        shape = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise ConfigError(f"Initializer shape must be a tuple of ints. Received: shape={shape!r}") from None
    return shape, np.dtype(dtype or config.floatx())


def truncated_normal(rng: np.random.Generator, shape: tuple, mean: float, stddev: float) -> np.ndarray:
    """Normal draws re-drawn until all lie within two standard deviations."""
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2.0
    while bad.any():  # each round re-draws only the outliers (about 5% of the rest)
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2.0
    return mean + stddev * z


class Zeros(Initializer):
    """All zeros."""

    def __init__(self) -> None:
        super().__init__(None)

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        return np.zeros(*_shape_dtype(shape, dtype))

    def get_config(self) -> dict:
        return {}


class Ones(Zeros):
    """All ones."""

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        return np.ones(*_shape_dtype(shape, dtype))


class Constant(Initializer):
    """Every entry equal to `value`.

    Args:
        value: the constant (Keras's default 0.0).
    """

    def __init__(self, value: float = 0.0) -> None:
        super().__init__(None)
        try:
            self.value = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"Constant: value must be a number. Received: value={value!r}") from None

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        shape, dtype = _shape_dtype(shape, dtype)
        return np.full(shape, self.value, dtype)

    def get_config(self) -> dict:
        return {"value": self.value}


class RandomNormal(Initializer):
    """Normal draws.

    Args:
        mean: mean (0.0).
        stddev: standard deviation (0.05).
        seed: see `Initializer`.
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean = float(mean)
        self.stddev = positive_number(stddev, "stddev", type(self).__name__)

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        shape, dtype = _shape_dtype(shape, dtype)
        return self.rng().normal(self.mean, self.stddev, shape).astype(dtype)

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """Normal draws, re-drawn when more than two standard deviations from the mean.

    Args:
        mean: mean (0.0).
        stddev: standard deviation before truncation (0.05).
        seed: see `Initializer`.
    """

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        shape, dtype = _shape_dtype(shape, dtype)
        return truncated_normal(self.rng(), shape, self.mean, self.stddev).astype(dtype)


class RandomUniform(Initializer):
    """Uniform draws in [minval, maxval).

    Args:
        minval: lower bound (-0.05).
        maxval: upper bound (0.05).
        seed: see `Initializer`.
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)
        if not self.maxval > self.minval:
            raise ConfigError(
                f"RandomUniform: maxval must be greater than minval. Received: minval={minval!r}, maxval={maxval!r}"
            )

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        shape, dtype = _shape_dtype(shape, dtype)
        return self.rng().uniform(self.minval, self.maxval, shape).astype(dtype)

    def get_config(self) -> dict:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class VarianceScaling(Initializer):
    """Draws with variance scale / n, n the fan-in, fan-out or their mean.

    Args:
        scale: the variance numerator (1.0).
        mode: "fan_in", "fan_out" or "fan_avg".
        distribution: "truncated_normal", "untruncated_normal" or "uniform".
        seed: see `Initializer`.
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform", "normal")

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        cls = type(self).__name__
        self.scale = positive_number(scale, "scale", cls)
        if mode not in self._MODES:
            raise ConfigError(f"{cls}: mode must be one of {self._MODES}. Received: mode={mode!r}")
        if distribution not in self._DISTRIBUTIONS:
            raise ConfigError(
                f"{cls}: distribution must be one of {self._DISTRIBUTIONS}. Received: distribution={distribution!r}"
            )
        self.mode = mode
        self.distribution = "truncated_normal" if distribution == "normal" else distribution

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        shape, dtype = _shape_dtype(shape, dtype)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = self.rng()
        if self.distribution == "truncated_normal":
            values = truncated_normal(rng, shape, 0.0, math.sqrt(variance) / _TRUNCATED_STD)
        elif self.distribution == "untruncated_normal":
            values = rng.normal(0.0, math.sqrt(variance), shape)
        else:
            limit = math.sqrt(3.0 * variance)
            values = rng.uniform(-limit, limit, shape)
        return values.astype(dtype)

    def get_config(self) -> dict:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _fixed_scaling(name: str, scale: float, mode: str, distribution: str, doc: str) -> type:
    """A VarianceScaling preset whose only argument is `seed` (GlorotUniform, HeNormal, ...)."""

    def __init__(self: VarianceScaling, seed: int | None = None) -> None:
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self: VarianceScaling) -> dict:
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc})


GlorotUniform = _fixed_scaling(
    "GlorotUniform", 1.0, "fan_avg", "uniform",
    "Uniform in [-l, l], l = sqrt(6 / (fan_in + fan_out)). Dense's default kernel initializer.",
)
GlorotNormal = _fixed_scaling(
    "GlorotNormal", 1.0, "fan_avg", "truncated_normal",
    "Truncated normal with stddev sqrt(2 / (fan_in + fan_out)).",
)
HeUniform = _fixed_scaling(
    "HeUniform", 2.0, "fan_in", "uniform", "Uniform in [-l, l], l = sqrt(6 / fan_in)."
)
HeNormal = _fixed_scaling(
    "HeNormal", 2.0, "fan_in", "truncated_normal", "Truncated normal with stddev sqrt(2 / fan_in)."
)
LecunUniform = _fixed_scaling(
    "LecunUniform", 1.0, "fan_in", "uniform", "Uniform in [-l, l], l = sqrt(3 / fan_in)."
)
LecunNormal = _fixed_scaling(
    "LecunNormal", 1.0, "fan_in", "truncated_normal", "Truncated normal with stddev sqrt(1 / fan_in)."
)
for _cls in (GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal):
    _cls.__module__ = __name__
del _cls


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times `gain`, from the QR of a normal draw.

    Weights of rank > 2 are treated as (prod(shape[:-1]), shape[-1]).

    Args:
        gain: multiplier (1.0).
        seed: see `Initializer`.
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.gain = float(gain)

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        shape, dtype = _shape_dtype(shape, dtype)
        if len(shape) < 2:
            raise ConfigError(
                f"Orthogonal initializer expects a shape of rank >= 2. Received: shape={shape}"
            )
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self.rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))  # makes the result uniformly distributed over orthogonal matrices
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtype)

    def get_config(self) -> dict:
        return {"gain": self.gain, "seed": self.seed}
