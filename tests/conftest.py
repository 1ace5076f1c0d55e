"""Shared fixtures: every test starts from the same seed, float32 and fresh layer names."""

import numpy as np
import pytest

from corelib import config
from corelib.layers.base import reset_name_counters


@pytest.fixture(autouse=True)
def _fresh_state():
    config.set_seed(1234)
    config.set_floatx("float32")
    reset_name_counters()
    yield
    config.set_floatx("float32")


@pytest.fixture
def float64():
    """Run a test with float64 as the default dtype."""
    config.set_floatx("float64")
    yield
    config.set_floatx("float32")


@pytest.fixture
def blobs():
    """A small, separable 3-class problem: x (240, 4) float32, y int labels."""
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0]])
    y = rng.integers(0, 3, size=240)
    x = (centers[y] + 0.5 * rng.standard_normal((240, 4))).astype(np.float32)
    return x, y
