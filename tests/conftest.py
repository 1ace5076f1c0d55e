"""Shared fixtures: every test starts from the same seed, float32 and fresh layer names; `keras`, the oracle."""

import os

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


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on its torch backend, the oracle of the Keras comparison tests (skipped when either
    is not installed, or when Keras was imported earlier with another backend)."""
    pytest.importorskip("torch")
    previous = os.environ.get("KERAS_BACKEND")
    os.environ["KERAS_BACKEND"] = "torch"
    try:
        keras = pytest.importorskip("keras")
    finally:  # Keras reads the variable once, at import
        if previous is None:
            del os.environ["KERAS_BACKEND"]
        else:
            os.environ["KERAS_BACKEND"] = previous
    if keras.backend.backend() != "torch":
        pytest.skip(f"Keras was already imported with the {keras.backend.backend()} backend")
    return keras
