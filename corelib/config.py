"""Process-wide settings: the default float dtype, the random state and the
thread count.

`set_seed` makes training bit-for-bit repeatable: every random draw in dl
(initializers, dropout, shuffling, validation splits) comes from the one
generator returned by `rng()`.
"""

from __future__ import annotations

import random

import numpy as np

from corelib.errors import ConfigError

__all__ = [
    "floatx", "set_floatx", "set_seed", "rng", "get_rng_state", "set_rng_state",
    "set_num_threads", "get_num_threads",
]

_FLOATX = "float32"
_RNG = np.random.default_rng()


def floatx() -> str:
    """The default float dtype of new layers and weights ("float32")."""
    return _FLOATX


def set_floatx(dtype: str) -> None:
    """Set the default float dtype: "float32" or "float64"."""
    global _FLOATX
    name = np.dtype(dtype).name if dtype in ("float32", "float64", np.float32, np.float64) else dtype
    if name not in ("float32", "float64"):
        raise ConfigError(f"set_floatx expects 'float32' or 'float64'. Received: dtype={dtype!r}")
    _FLOATX = name


def set_seed(seed: int) -> None:
    """Seed every random draw dl makes (and Python's and NumPy's global ones)."""
    global _RNG
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"set_seed expects a non-negative int. Received: seed={seed!r}")
    _RNG = np.random.default_rng(int(seed))
    random.seed(int(seed))
    np.random.seed(int(seed) % (2**32))


def rng() -> np.random.Generator:
    """The generator all of dl's random draws come from."""
    return _RNG


def get_rng_state() -> dict:
    """A JSON-safe snapshot of dl's generator (for checkpoints)."""
    return _RNG.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a snapshot taken by `get_rng_state`."""
    _RNG.bit_generator.state = state


def set_num_threads(n: int) -> None:
    """Run dl's parallel work on `n` threads: the kernels' OpenMP loops and
    matrix products (MKL shares those threads; see docs/benchmarks.md) and
    every other BLAS and OpenMP runtime in the process. Without a call, the
    count comes from `OMP_NUM_THREADS`, else the cores this process may use."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"set_num_threads expects a positive int. Received: n={n!r}")
    from corelib.kernels import blas

    blas.set_num_threads(int(n))


def get_num_threads() -> int:
    """The thread count dl's parallel work uses now."""
    from corelib.kernels import blas

    return blas.get_num_threads()
