"""Keras's activation layers (ReLU, LeakyReLU, PReLU, ELU, Softmax) and LayerNormalization:
forward and backward against PyTorch, Keras's documented examples, arguments and configs."""

import numpy as np
import pytest

from corelib import layers, models, optimizers
from corelib.errors import ConfigError, ShapeError
from corelib.registry import get_registry
from corelib.testing import check_layer

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _run(layer, x, dy):
    """Our (y, dx, weight grads) for input x and upstream gradient dy (training mode)."""
    layer.ensure_built((None,) + x.shape[1:])
    for p in layer.weights:
        p.grad[...] = 0
    y, backprop = layer.forward(x, True)
    return np.array(y), backprop(dy), [p.grad.copy() for p in layer.weights]


def _torch(fn, x, dy, *params):
    """torch's (y, dx, param grads) of fn(x, *params) for the upstream gradient dy."""
    tx = torch.tensor(x, requires_grad=True)
    tps = [torch.tensor(p, requires_grad=True) for p in params]
    ty = fn(tx, *tps)
    ty.backward(torch.tensor(dy))
    return ty.detach().numpy(), tx.grad.numpy(), [p.grad.numpy() for p in tps]


def _data(shape, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 2
    return x.astype(dtype), rng.standard_normal(shape).astype(dtype)


# -- activation layers against torch ---------------------------------------------------------

RELU_CASES = [
    ({}, F.relu),
    ({"max_value": 6.0}, F.relu6),
    ({"max_value": 1.5}, lambda x: F.hardtanh(x, 0.0, 1.5)),
    ({"threshold": 0.7}, lambda x: F.threshold(x, 0.7, 0.0)),
    ({"negative_slope": 0.2}, lambda x: F.leaky_relu(x, 0.2)),
    # the general case, composed of torch's own pieces
    ({"max_value": 2.0, "negative_slope": 0.1, "threshold": 0.5},
     lambda x: torch.where(x > 0.5, F.hardtanh(x, 0.5, 2.0), 0.1 * (x - 0.5))),
]


@pytest.mark.parametrize("kwargs,reference", RELU_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_relu_matches_torch(kwargs, reference, dtype):
    x, dy = _data((4, 3, 5), dtype=dtype)
    x[np.abs(x - kwargs.get("threshold", 0.0)) < 1e-3] += 0.01  # away from the kinks
    y, dx, _ = _run(layers.ReLU(**kwargs, dtype=np.dtype(dtype).name), x, dy)
    ty, tdx, _ = _torch(reference, x.astype(np.float64), dy.astype(np.float64))
    assert y.dtype == dtype and dx.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(y, ty, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, tdx, rtol=tol, atol=tol)


def test_relu_follows_keras_documented_examples():
    x = np.array([[-10.0, -5.0, 0.0, 5.0, 10.0]])
    np.testing.assert_array_equal(layers.ReLU(max_value=10, negative_slope=0.5, threshold=0)(x),
                                  [[-5.0, -2.5, 0.0, 5.0, 10.0]])
    x = np.array([[-3.0, -1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(layers.ReLU()(x), [[0.0, 0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(layers.ReLU(max_value=1.0)(x), [[0.0, 0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(layers.ReLU(negative_slope=1.0)(x), [[-3.0, -1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(layers.ReLU(threshold=1.5)(np.array([[-3.0, -1.0, 1.0, 2.0]])),
                                  [[0.0, 0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(layers.LeakyReLU(negative_slope=0.5)(np.array([[-10.0, -5.0, 0.0, 5.0, 10.0]])),
                                  [[-5.0, -2.5, 0.0, 5.0, 10.0]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_leaky_relu_and_elu_match_torch(dtype):
    x, dy = _data((3, 4, 5), seed=1, dtype=dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    name = np.dtype(dtype).name
    for layer, reference in ((layers.LeakyReLU(dtype=name), lambda t: F.leaky_relu(t, 0.3)),
                             (layers.LeakyReLU(0.01, dtype=name), lambda t: F.leaky_relu(t, 0.01)),
                             (layers.ELU(dtype=name), F.elu),
                             (layers.ELU(alpha=0.4, dtype=name), lambda t: F.elu(t, 0.4))):
        y, dx, _ = _run(layer, x, dy)
        ty, tdx, _ = _torch(reference, x.astype(np.float64), dy.astype(np.float64))
        np.testing.assert_allclose(y, ty, rtol=tol, atol=tol, err_msg=layer.name)
        np.testing.assert_allclose(dx, tdx, rtol=tol, atol=tol, err_msg=layer.name)


@pytest.mark.parametrize("axis", [-1, 1, 2, [1, 2], [-1, 1]])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_matches_torch(axis, dtype):
    x, dy = _data((2, 3, 4), seed=2, dtype=dtype)
    layer = layers.Softmax(axis=axis, dtype=np.dtype(dtype).name)
    dims = tuple(axis) if isinstance(axis, list) else (axis,)
    y, dx, _ = _run(layer, x, dy)
    ty, tdx, _ = _torch(lambda t: torch.exp(t - torch.logsumexp(t, dim=dims, keepdim=True)),
                        x.astype(np.float64), dy.astype(np.float64))
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(y, ty, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, tdx, rtol=tol, atol=tol)
    assert np.array_equal(x, _data((2, 3, 4), seed=2, dtype=dtype)[0])  # the input is left alone


def test_softmax_non_contiguous_input_and_torch_softmax():
    x, dy = _data((2, 5, 3), seed=3)
    x_t = np.swapaxes(x, 1, 2)  # a strided view
    y, dx, _ = _run(layers.Softmax(axis=1, dtype="float64"), x_t, np.swapaxes(dy, 1, 2))
    ty, tdx, _ = _torch(lambda t: torch.softmax(t, dim=1), np.ascontiguousarray(x_t),
                        np.ascontiguousarray(np.swapaxes(dy, 1, 2)))
    np.testing.assert_allclose(y, ty, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, tdx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_prelu_matches_torch_with_per_entry_alpha(dtype):
    x, dy = _data((3, 4, 2), seed=4, dtype=dtype)
    layer = layers.PReLU(alpha_initializer="random_normal", dtype=np.dtype(dtype).name)
    y, dx, (dalpha,) = _run(layer, x, dy)
    alpha = layer.alpha.value.astype(np.float64)
    assert alpha.shape == (4, 2)
    ty, tdx, (tdalpha,) = _torch(lambda t, a: torch.where(t >= 0, t, a * t), x.astype(np.float64),
                                 dy.astype(np.float64), alpha)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(y, ty, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, tdx, rtol=tol, atol=tol)
    np.testing.assert_allclose(dalpha, tdalpha, rtol=tol, atol=tol)


def test_prelu_shared_axes_match_torch_prelu_per_channel():
    x, dy = _data((2, 3, 4, 5), seed=5)  # (batch, rows, cols, channels): one alpha per channel
    layer = layers.PReLU(alpha_initializer="random_uniform", shared_axes=[1, 2], dtype="float64")
    y, dx, (dalpha,) = _run(layer, x, dy)
    assert layer.alpha.shape == (1, 1, 5)
    ty, tdx, (tdalpha,) = _torch(lambda t, a: F.prelu(t.permute(0, 3, 1, 2), a).permute(0, 2, 3, 1),
                                 x, dy, layer.alpha.value.reshape(5))
    np.testing.assert_allclose(y, ty, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, tdx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dalpha.reshape(5), tdalpha, rtol=1e-12, atol=1e-12)
    one = layers.PReLU(shared_axes=2)  # an int works too, as in Keras
    one.ensure_built((None, 3, 4))
    assert one.alpha.shape == (3, 1) and one.get_config()["shared_axes"] == [2]


def test_prelu_alpha_learns_in_a_model():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = np.where(x > 0, x, 0.25 * x)  # a leaky relu with slope 0.25 to recover
    model = models.Sequential([layers.PReLU(input_shape=(3,))])
    model.compile(optimizer=optimizers.SGD(learning_rate=1.0), loss="mse")
    model.fit(x, y, epochs=100, batch_size=64, verbose=0)
    np.testing.assert_allclose(model.layers[0].alpha.value, 0.25, atol=0.02)


# -- arguments and configs -------------------------------------------------------------------


def test_keras_defaults_names_and_configs():
    assert layers.LeakyReLU().negative_slope == 0.3
    relu = layers.ReLU()
    assert relu.name == "re_lu"
    cfg = relu.get_config()
    assert {k: cfg[k] for k in ("max_value", "negative_slope", "threshold")} == {
        "max_value": None, "negative_slope": 0.0, "threshold": 0.0}
    prelu = layers.PReLU()
    cfg = prelu.get_config()
    assert cfg["alpha_initializer"] == {"class_name": "Zeros", "config": {}} and cfg["alpha_constraint"] is None
    assert cfg["shared_axes"] is None and cfg["alpha_regularizer"] is None
    assert layers.ELU().get_config()["alpha"] == 1.0
    assert layers.Softmax().get_config()["axis"] == -1 and layers.Softmax([1, 2]).get_config()["axis"] == [1, 2]
    for name in ("ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "LayerNormalization", "Conv2DTranspose"):
        assert get_registry().entry("layers", name).plugin == "dl"


def test_leaky_relu_takes_the_deprecated_alpha_with_a_warning():
    with pytest.warns(UserWarning, match="alpha.*deprecated"):
        layer = layers.LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1


def test_bad_arguments_are_refused_with_keras_style_messages():
    with pytest.raises(ConfigError, match=r"ReLU 're_lu': max_value must be a non-negative float or None\. "
                                          r"Received: max_value=-1"):
        layers.ReLU(max_value=-1)
    with pytest.raises(ConfigError, match=r"negative_slope must be a non-negative float\. Received: negative_slope=None"):
        layers.ReLU(negative_slope=None)
    with pytest.raises(ConfigError, match=r"threshold must be a non-negative float\. Received: threshold=-0\.5"):
        layers.ReLU(threshold=-0.5)
    with pytest.raises(ConfigError, match=r"negative_slope must be a non-negative float\. Received: negative_slope=-0\.1"):
        layers.LeakyReLU(-0.1)
    with pytest.raises(ConfigError, match=r"alpha must be a float\. Received: alpha='big'"):
        layers.ELU(alpha="big")
    with pytest.raises(ConfigError, match=r"axis must be an int or a list of ints\. Received: axis='last'"):
        layers.Softmax(axis="last")
    with pytest.raises(ShapeError, match=r"axis=0 does not fit an input of rank 3 \(axis 0 is the batch axis"):
        layers.Softmax(axis=0).compute_output_shape((None, 3, 4))
    with pytest.raises(ShapeError, match=r"axis=\[1, -2\] does not fit"):
        layers.Softmax(axis=[1, -2]).compute_output_shape((None, 3, 4))
    with pytest.raises(ConfigError, match=r"alpha_constraint must be None\. Received: alpha_constraint='non_neg'"):
        layers.PReLU(alpha_constraint="non_neg")
    with pytest.raises(ConfigError, match=r"shared_axes must be None, an int >= 1 or a list of such ints"):
        layers.PReLU(shared_axes=[0])
    with pytest.raises(ShapeError, match=r"shared_axes=\[3\] expects an input of rank >= 4"):
        layers.PReLU(shared_axes=[3]).compute_output_shape((None, 3, 4))
    prelu = layers.PReLU()
    prelu.ensure_built((None, 4))
    with pytest.raises(ShapeError, match=r"was built for alpha of shape \(4,\), received shape \(None, 5\)"):
        prelu.compute_output_shape((None, 5))


# -- LayerNormalization (moved into the core library from dl-transformer) ---------------------


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((3, 5), {}),
        ((2, 3, 4), {"axis": [1, 2], "gamma_initializer": "random_normal", "beta_initializer": "random_normal"}),
        ((2, 3, 4), {"axis": 1, "epsilon": 1e-5, "beta_regularizer": "l2"}),
        ((2, 3, 4), {"rms_scaling": True, "gamma_initializer": "random_normal"}),
        ((2, 3, 4), {"center": False, "scale": False}),
    ],
)
def test_layer_normalization_conformance(shape, kwargs):
    check_layer(layers.LayerNormalization, shape, **kwargs)


@pytest.mark.parametrize("axes", [-1, [-2, -1]])
def test_layer_normalization_matches_torch_forward_and_backward(axes):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 5)) * 3 + 1
    dy = rng.standard_normal(x.shape)
    layer = layers.LayerNormalization(axis=axes, epsilon=1e-3, dtype="float64")
    layer.ensure_built((None, 3, 5))
    normalized = (5,) if axes == -1 else (3, 5)
    gamma, beta = rng.standard_normal(normalized), rng.standard_normal(normalized)
    layer.set_weights([gamma, beta])
    y, backprop = layer.forward(x, training=True)
    dx = backprop(dy)

    ref = torch.nn.LayerNorm(normalized, eps=1e-3, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(gamma))
        ref.bias.copy_(torch.from_numpy(beta))
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = ref(xt)
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.gamma.grad, ref.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.beta.grad, ref.bias.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_layer_normalization_rms_scaling_matches_torch_rms_norm():
    rng = np.random.default_rng(1)
    x, dy = rng.standard_normal((4, 6)) + 0.5, rng.standard_normal((4, 6))
    layer = layers.LayerNormalization(rms_scaling=True, epsilon=1e-4, gamma_initializer="random_normal",
                                      dtype="float64")
    y, dx, (dgamma,) = _run(layer, x, dy)
    ty, tdx, (tdgamma,) = _torch(lambda t, g: F.rms_norm(t, (6,), g, eps=1e-4), x, dy, layer.gamma.value)
    np.testing.assert_allclose(y, ty, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, tdx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dgamma, tdgamma, rtol=1e-10, atol=1e-12)


def test_layer_normalization_float32_matches_torch():
    x = np.random.default_rng(1).standard_normal((8, 16)).astype(np.float32)
    y = layers.LayerNormalization(epsilon=1e-5)(x)
    assert y.dtype == np.float32
    expected = F.layer_norm(torch.from_numpy(x), (16,), eps=1e-5).numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_layer_normalization_refuses_bad_arguments_with_keras_style_messages():
    with pytest.raises(ConfigError, match=r"axis must be an int or a list of ints\. Received: axis='last'"):
        layers.LayerNormalization(axis="last")
    with pytest.raises(ConfigError, match=r"epsilon must be positive\. Received: epsilon=0"):
        layers.LayerNormalization(epsilon=0)
    with pytest.raises(ShapeError, match=r"axis=0 does not fit an input of rank 2 \(axis 0 is the batch axis\)"):
        layers.LayerNormalization(axis=0).compute_output_shape((None, 4))
    layer = layers.LayerNormalization()
    layer.ensure_built((None, 4))
    with pytest.raises(ShapeError, match=r"was built for normalized dimensions \(4,\), received shape \(None, 5\)"):
        layer.compute_output_shape((None, 5))
