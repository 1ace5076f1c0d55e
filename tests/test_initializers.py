"""Initializers: Keras fan rules, distribution statistics, orthogonality, seeds and configs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from corelib import config, initializers
from corelib.errors import ConfigError
from corelib.initializers import compute_fans

SHAPE = (400, 300)  # 120,000 draws: sample variances within ~1%


def test_compute_fans_keras_rules():
    assert compute_fans(()) == (1, 1)
    assert compute_fans((7,)) == (7, 7)
    assert compute_fans((3, 5)) == (3, 5)
    assert compute_fans((3, 3, 4, 8)) == (36, 72)  # conv kernel (kh, kw, in, out)


@pytest.mark.parametrize("name, variance", [
    ("glorot_uniform", 2.0 / (400 + 300)),
    ("glorot_normal", 2.0 / (400 + 300)),
    ("he_uniform", 2.0 / 400),
    ("he_normal", 2.0 / 400),
    ("lecun_uniform", 1.0 / 400),
    ("lecun_normal", 1.0 / 400),
])
def test_variance_scaling_variances(name, variance):
    w = initializers.get(name)(SHAPE, "float64")
    assert w.shape == SHAPE and w.dtype == np.float64
    assert abs(w.mean()) < 0.02 * math.sqrt(variance)
    assert w.var() == pytest.approx(variance, rel=0.03)
    if name.endswith("uniform"):
        assert np.abs(w).max() <= math.sqrt(3 * variance)
    else:  # truncated at two (pre-truncation) standard deviations
        assert np.abs(w).max() <= 2 * math.sqrt(variance) / 0.87962566103423978


def test_simple_distributions():
    assert initializers.get("random_normal")(SHAPE).std() == pytest.approx(0.05, rel=0.02)
    u = initializers.get("random_uniform")(SHAPE)
    assert u.min() >= -0.05 and u.max() < 0.05 and u.var() == pytest.approx(0.1**2 / 12, rel=0.03)
    t = initializers.TruncatedNormal(mean=1.0, stddev=0.1)(SHAPE, "float64")
    assert np.abs(t - 1.0).max() <= 0.2 and t.mean() == pytest.approx(1.0, abs=1e-3)
    assert initializers.get("zeros")((2, 3)).sum() == 0
    assert (initializers.get("ones")((2, 3)) == 1).all()
    assert (initializers.Constant(0.5)((4,)) == 0.5).all()
    assert initializers.get("glorot_uniform")((3, 4)).dtype == np.float32


@pytest.mark.parametrize("shape", [(6, 6), (10, 4), (4, 10), (2, 3, 5)])
def test_orthogonal(shape):
    w = initializers.Orthogonal(gain=2.0)(shape, "float64")
    flat = w.reshape(-1, shape[-1])
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(gram.shape[0]), atol=1e-10)
    with pytest.raises(ConfigError, match="rank >= 2"):
        initializers.get("orthogonal")((5,))


def test_draws_come_from_the_config_rng():
    config.set_seed(7)
    a = initializers.get("he_normal")((5, 5))
    config.set_seed(7)
    b = initializers.get("he_normal")((5, 5))
    np.testing.assert_array_equal(a, b)
    seeded = initializers.GlorotUniform(seed=3)
    np.testing.assert_array_equal(seeded((4, 4)), initializers.GlorotUniform(seed=3)((4, 4)))


def test_config_round_trip_and_errors():
    init = initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="uniform", seed=1)
    again = initializers.deserialize(json.loads(json.dumps(initializers.serialize(init))))
    assert again.get_config() == init.get_config()
    assert initializers.serialize(initializers.get("he_normal")) == {"class_name": "HeNormal", "config": {"seed": None}}
    with pytest.raises(ConfigError, match="mode must be one of"):
        initializers.VarianceScaling(mode="fan_sideways")
    with pytest.raises(ConfigError, match="stddev must be a positive float"):
        initializers.RandomNormal(stddev=-1)
