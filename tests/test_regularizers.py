"""L1, L2 and L1L2 penalties and their gradients."""

from __future__ import annotations

import numpy as np
import pytest

from corelib import regularizers
from corelib.errors import ConfigError

W = np.array([[1.0, -2.0], [0.5, 0.0]])


def test_penalties_and_gradients():
    l1, l2, both = regularizers.get("l1"), regularizers.get("l2"), regularizers.get("l1_l2")
    assert (l1.l1, l2.l2, both.l1, both.l2) == (0.01, 0.01, 0.01, 0.01)
    assert l1(W) == pytest.approx(0.01 * 3.5)
    assert l2(W) == pytest.approx(0.01 * 5.25)
    assert both(W) == pytest.approx(0.01 * 3.5 + 0.01 * 5.25)
    np.testing.assert_allclose(l1.gradient(W), 0.01 * np.sign(W))
    np.testing.assert_allclose(l2.gradient(W), 0.02 * W)
    np.testing.assert_allclose(both.gradient(W), 0.01 * np.sign(W) + 0.02 * W)


def test_gradient_matches_finite_differences():
    reg = regularizers.L1L2(l1=0.3, l2=0.7)
    w = np.array([0.3, -1.2, 2.0])
    eps = 1e-6
    numeric = [(reg(w + eps * e) - reg(w - eps * e)) / (2 * eps) for e in np.eye(3)]
    np.testing.assert_allclose(reg.gradient(w), numeric, rtol=1e-7)


def test_config_and_errors():
    reg = regularizers.L2(0.5)
    assert regularizers.deserialize(regularizers.serialize(reg)).get_config() == {"l2": 0.5}
    assert regularizers.get(None) is None
    assert regularizers.serialize(None) is None
    with pytest.raises(ConfigError, match="l1 must be a non-negative float. Received: l1=-1"):
        regularizers.L1(-1)
