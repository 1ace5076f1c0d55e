"""LayerNormalization: the conformance kit, and forward/backward against torch.nn.LayerNorm."""

import numpy as np
import pytest

from corelib import ConfigError, ShapeError
from corelib.testing import check_layer
from dl_transformer import LayerNormalization


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
def test_conformance(shape, kwargs):
    check_layer(LayerNormalization, shape, **kwargs)


@pytest.mark.parametrize("axes", [-1, [-2, -1]])
def test_matches_torch_layer_norm_forward_and_backward(axes):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 5)) * 3 + 1
    dy = rng.standard_normal(x.shape)
    layer = LayerNormalization(axis=axes, epsilon=1e-3, dtype="float64")
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


def test_float32_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((8, 16)).astype(np.float32)
    y = LayerNormalization(epsilon=1e-5)(x)
    assert y.dtype == np.float32
    expected = torch.nn.functional.layer_norm(torch.from_numpy(x), (16,), eps=1e-5).numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_bad_arguments_are_refused_with_keras_style_messages():
    with pytest.raises(ConfigError, match=r"axis must be an int or a list of ints\. Received: axis='last'"):
        LayerNormalization(axis="last")
    with pytest.raises(ConfigError, match=r"epsilon must be positive\. Received: epsilon=0"):
        LayerNormalization(epsilon=0)
    with pytest.raises(ShapeError, match=r"axis=0 does not fit an input of rank 2 \(axis 0 is the batch axis\)"):
        LayerNormalization(axis=0).compute_output_shape((None, 4))
    layer = LayerNormalization()
    layer.ensure_built((None, 4))
    with pytest.raises(ShapeError, match=r"was built for normalized dimensions \(4,\), received shape \(None, 5\)"):
        layer.compute_output_shape((None, 5))
