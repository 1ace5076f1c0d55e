"""Built-in layers against NumPy: Dense, Activation, Dropout, Flatten, Reshape."""

from __future__ import annotations

import numpy as np
import pytest

from corelib import config, layers, regularizers
from corelib.errors import ConfigError, ShapeError


def _dense(units, in_dim, dtype="float64", **kwargs):
    layer = layers.Dense(units, dtype=dtype, **kwargs)
    layer.ensure_built((None, in_dim))
    rng = np.random.default_rng(0)
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
    return layer


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", [None, "relu", "tanh", "softmax", "gelu"])
def test_dense_forward_backward_match_numpy(dtype, activation):
    layer = _dense(5, 4, dtype, activation=activation)
    kernel, bias = layer.get_weights()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 4)).astype(dtype)
    dy = rng.standard_normal((8, 5)).astype(dtype)
    y, backprop = layer.forward(x, training=True)
    z = x.astype(np.float64) @ kernel + bias
    if activation is None:
        ref, dz = z, dy
    elif activation == "relu":
        ref, dz = np.maximum(z, 0), dy * (z > 0)
    elif activation == "tanh":
        ref = np.tanh(z)
        dz = dy * (1 - ref**2)
    elif activation == "softmax":
        ref = np.exp(z - z.max(1, keepdims=True))
        ref /= ref.sum(1, keepdims=True)
        dz = ref * (dy - (dy * ref).sum(1, keepdims=True))
    else:
        from scipy.special import erf

        ref = 0.5 * z * (1 + erf(z / np.sqrt(2)))
        dz = dy * (0.5 * (1 + erf(z / np.sqrt(2))) + z * np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(y, ref, **tol)
    assert y.dtype == dtype
    dx = backprop(dy)
    np.testing.assert_allclose(dx, dz @ kernel.T, **tol)
    np.testing.assert_allclose(layer.kernel.grad, x.T.astype(np.float64) @ dz, **tol)
    np.testing.assert_allclose(layer.bias.grad, dz.sum(0), **tol)


def test_dense_on_rank_3_acts_on_the_last_axis():
    layer = _dense(3, 4, use_bias=False)
    x = np.random.default_rng(2).standard_normal((2, 5, 4))
    y, backprop = layer.forward(x, training=True)
    assert y.shape == (2, 5, 3) and layer.compute_output_shape((None, 5, 4)) == (None, 5, 3)
    np.testing.assert_allclose(y, x @ layer.kernel.value)
    dx = backprop(np.ones_like(y))
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, np.ones_like(y) @ layer.kernel.value.T)
    assert layer.bias is None and len(layer.get_weights()) == 1


def test_dense_skips_input_gradient_on_request_and_accumulates():
    layer = _dense(3, 4)
    x = np.ones((2, 4))
    _, backprop = layer.forward(x, training=True)
    assert backprop(np.ones((2, 3)), need_input_grad=False) is None
    first = layer.kernel.grad.copy()
    np.testing.assert_allclose(first, np.full((4, 3), 2.0))
    backprop(np.ones((2, 3)))
    np.testing.assert_allclose(layer.kernel.grad, 2 * first)


def test_dense_weights_in_keras_order_and_initializers():
    layer = layers.Dense(3, input_dim=4, kernel_initializer="ones", bias_initializer={"class_name": "Constant", "config": {"value": 2.0}})
    layer.ensure_built((None, 4))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (4, 3) and (kernel == 1).all() and (bias == 2).all()
    assert [p.name for p in layer.weights] == ["kernel", "bias"]
    assert kernel.dtype == np.float32


def test_dense_attaches_regularizers_to_its_weights():
    layer = layers.Dense(2, kernel_regularizer="l2", bias_regularizer=regularizers.L1(0.5))
    layer.ensure_built((None, 3))
    assert isinstance(layer.kernel.regularizer, regularizers.L2)
    assert layer.bias.regularizer.l1 == 0.5
    assert layer.get_config()["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}


def test_dense_errors_say_what_and_where():
    with pytest.raises(ConfigError, match=r"Dense 'dense': units must be a positive int. Received: units=-3"):
        layers.Dense(-3)
    with pytest.raises(ConfigError, match="unrecognized keyword arguments: \\['unit'\\]"):
        layers.Dense(3, unit=4)
    with pytest.raises(KeyError, match="Unknown activation: 'rlu'"):
        layers.Dense(3, activation="rlu")
    dense = layers.Dense(10, input_shape=(784,), name="dense_1")
    with pytest.raises(ShapeError, match=r"Dense 'dense_1' expects an input whose last axis is 784, received shape \(None, 32\)"):
        dense.ensure_built((None, 32))
    with pytest.raises(ShapeError, match="rank >= 2"):
        layers.Dense(3).compute_output_shape((None,))


def test_activation_layer():
    layer = layers.Activation("relu", dtype="float64")
    x = np.array([[-1.0, 2.0]])
    y, backprop = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, [[0.0, 2.0]])
    np.testing.assert_array_equal(backprop(np.array([[5.0, 7.0]])), [[0.0, 7.0]])
    assert layer.get_config()["activation"] == "relu"


def test_dropout_is_identity_at_inference():
    layer = layers.Dropout(0.5)
    x = np.ones((4, 4), np.float32)
    y, backprop = layer.forward(x, training=False)
    assert y is x
    assert backprop(x) is x


def test_dropout_training_scales_kept_entries():
    layer = layers.Dropout(0.25, dtype="float64")
    x = np.random.default_rng(0).uniform(1, 2, (400, 500))
    y, backprop = layer.forward(x, training=True)
    kept = y != 0
    assert kept.mean() == pytest.approx(0.75, abs=0.005)
    np.testing.assert_allclose(y[kept], x[kept] / 0.75)
    assert y.mean() == pytest.approx(x.mean(), rel=0.01)
    dx = backprop(np.ones_like(x))
    np.testing.assert_allclose(dx, kept / 0.75)


def test_dropout_is_repeatable_with_set_seed_and_honours_noise_shape():
    layer = layers.Dropout(0.5, noise_shape=(None, 1, 6))
    x = np.ones((3, 4, 6), np.float32)
    config.set_seed(5)
    a = layer.forward(x, training=True)[0].copy()
    config.set_seed(5)
    b = layer.forward(x, training=True)[0]
    np.testing.assert_array_equal(a, b)
    assert (a == a[:, :1, :]).all()  # the same mask for every step
    seeded = layers.Dropout(0.5, seed=3)
    other = layers.Dropout(0.5, seed=3)
    np.testing.assert_array_equal(seeded.forward(x, True)[0], other.forward(x, True)[0])


@pytest.mark.parametrize("rate", [-0.1, 1.0, "half", True])
def test_dropout_rate_validation(rate):
    with pytest.raises(ConfigError, match=r"rate must be a float in \[0, 1\)"):
        layers.Dropout(rate)


def test_flatten_and_reshape():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    flat = layers.Flatten()
    y, backprop = flat.forward(x)
    assert y.shape == (2, 12) and flat.compute_output_shape((None, 3, 4)) == (None, 12)
    assert backprop(y).shape == x.shape
    channels_first = layers.Flatten(data_format="channels_first")
    np.testing.assert_array_equal(channels_first.forward(x)[0], np.moveaxis(x, 1, -1).reshape(2, -1))
    dx = channels_first.forward(x)[1](channels_first.forward(x)[0])
    np.testing.assert_array_equal(dx, x)
    reshape = layers.Reshape((4, -1))
    assert reshape.compute_output_shape((None, 3, 4)) == (None, 4, 3)
    y, backprop = reshape.forward(x)
    assert y.shape == (2, 4, 3) and backprop(y).shape == x.shape
    with pytest.raises(ShapeError, match=r"Reshape 'reshape_1' expects 10 entries per sample.*\(None, 12\)"):
        layers.Reshape((2, 5)).compute_output_shape((None, 12))
    with pytest.raises(ShapeError, match="not a multiple of 5"):
        layers.Reshape((5, -1)).compute_output_shape((None, 12))
    with pytest.raises(ConfigError, match="at most one -1"):
        layers.Reshape((-1, -1))


def test_shared_layer_called_twice_before_backprop_keeps_both_workspaces():
    layer = _dense(3, 4, activation="tanh")
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    dy1, dy2 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    y1, bp1 = layer.forward(x1, training=True)
    y1_copy = y1.copy()
    y2, bp2 = layer.forward(x2, training=True)
    np.testing.assert_array_equal(y1, y1_copy)  # not overwritten by the second call
    dx2, dx1 = bp2(dy2).copy(), bp1(dy1).copy()
    w = layer.kernel.value
    np.testing.assert_allclose(dx1, (dy1 * (1 - np.tanh(x1 @ w + layer.bias.value) ** 2)) @ w.T)
    np.testing.assert_allclose(dx2, (dy2 * (1 - np.tanh(x2 @ w + layer.bias.value) ** 2)) @ w.T)


def test_inference_outputs_are_not_reused():
    layer = _dense(3, 4)
    a = layer(np.ones((2, 4)))
    b = layer(np.zeros((2, 4)))
    assert not np.shares_memory(a, b)
    assert not np.array_equal(a, b)


def test_training_workspaces_are_reused_once_backprop_is_dropped():
    layer = _dense(3, 4)
    y, bp = layer.forward(np.ones((2, 4)), training=True)
    first = y
    del y, bp
    y, bp = layer.forward(np.ones((2, 4)), training=True)
    assert y is first


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_dims = st.lists(st.integers(1, 5), min_size=1, max_size=3)


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 4), dims=_dims, units=st.integers(1, 4))
def test_shape_inference_matches_forward_for_any_shape(batch, dims, units):
    x = np.ones((batch, *dims), np.float32)
    for layer in (layers.Dense(units), layers.Flatten(), layers.Reshape((-1,)), layers.Dropout(0.5)):
        inferred = layer.ensure_built((None, *dims))
        y, backprop = layer.forward(x, training=True)
        assert inferred == (None, *y.shape[1:])
        assert backprop(np.ones_like(y)).shape == x.shape
