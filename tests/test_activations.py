"""Activations against torch: values and derivatives, float32 and float64, names and configs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from corelib import activations
from corelib.errors import ConfigError

torch = pytest.importorskip("torch")
F = torch.nn.functional

TORCH = {
    "linear": lambda t: t,
    "relu": F.relu,
    "leaky_relu": lambda t: F.leaky_relu(t, 0.2),
    "elu": F.elu,
    "selu": F.selu,
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": lambda t: torch.clamp(t / 6 + 0.5, 0, 1),
    "tanh": torch.tanh,
    "softmax": lambda t: torch.softmax(t, -1),
    "softplus": F.softplus,
    "swish": F.silu,
    "gelu": F.gelu,
}


def _inputs(dtype):
    rng = np.random.default_rng(3)
    x = rng.uniform(-6, 6, (5, 2, 7))
    x[np.abs(x) < 1e-3] = 0.5
    return x.astype(dtype)


@pytest.mark.parametrize("name", sorted(TORCH))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_and_backward_match_torch(name, dtype):
    act = activations.get(name)
    x = _inputs(dtype)
    dy = np.random.default_rng(4).standard_normal(x.shape).astype(dtype)
    t = torch.tensor(x, requires_grad=True)
    ty = TORCH[name](t)
    ty.backward(torch.tensor(dy))
    y = act.forward(x, np.empty_like(x))
    dx = act.backward(x, y, dy, np.empty_like(x))
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol)
    np.testing.assert_allclose(dx, t.grad.numpy(), **tol)
    assert y.dtype == dtype and dx.dtype == dtype


def test_all_kernel_activations_are_registered():
    from corelib.kernels import activations as kernels

    for name in kernels.NAMES:
        assert activations.get(name).name == name
    assert activations.get("silu") is activations.get("swish")


def test_needs_input_agrees_with_the_kernels():
    from corelib.kernels import activations as kernels

    for name in kernels.NAMES:
        if activations.get(name).needs_input is False and name in kernels.NEEDS_INPUT:
            # allowed only where y determines the derivative (leaky_relu with slope >= 0)
            assert name == "leaky_relu"


def test_leaky_relu_and_elu_arguments():
    x = np.array([-2.0, 3.0])
    np.testing.assert_allclose(activations.get("leaky_relu")(x), [-0.4, 3.0])
    slope = activations.get({"class_name": "leaky_relu", "config": {"negative_slope": 0.1}})
    np.testing.assert_allclose(slope(x), [-0.2, 3.0])
    elu = activations.deserialize(json.loads(json.dumps(activations.serialize(activations.get({"class_name": "elu", "config": {"alpha": 0.5}})))))
    np.testing.assert_allclose(elu(x), [0.5 * (np.exp(-2.0) - 1), 3.0])
    assert activations.serialize(activations.get("relu")) == "relu"
    assert activations.get(None) is None


def test_call_returns_a_new_array_and_module_functions_work():
    x = np.array([[-1.0, 2.0]], dtype=np.float32)
    y = activations.relu(x)
    assert y is not x and y.dtype == np.float32
    np.testing.assert_array_equal(x, [[-1.0, 2.0]])
    np.testing.assert_allclose(activations.softmax(np.zeros((1, 4))), np.full((1, 4), 0.25))


def test_softmax_is_stable_for_huge_inputs():
    y = activations.get("softmax")(np.array([[1e4, 0.0, -1e4]], dtype=np.float32))
    np.testing.assert_allclose(y, [[1.0, 0.0, 0.0]])


def test_unknown_and_plain_function_identifiers():
    with pytest.raises(KeyError, match="Did you mean 'relu'"):
        activations.get("rleu")
    with pytest.raises(ConfigError, match="plain function has no derivative"):
        activations.get(np.tanh)
