"""corelib.kernels.activations against NumPy, finite differences and torch."""

import numpy as np
import pytest
from scipy.special import erf

from corelib.errors import ShapeError
from corelib.kernels import activations as act

from ._helpers import DTYPES, assert_close, directional_fd, layout

ALPHA = 0.3
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


def _softmax(x):
    if x.size == 0:
        return x.copy()
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def ref_forward(name, x):
    """Float64 NumPy transcription of each activation (Keras 3 definitions)."""
    x = x.astype(np.float64)
    return {
        "linear": lambda: x,
        "relu": lambda: np.maximum(x, 0),
        "leaky_relu": lambda: np.where(x > 0, x, ALPHA * x),
        "elu": lambda: np.where(x > 0, x, ALPHA * np.expm1(x)),
        "selu": lambda: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
        "sigmoid": lambda: _sigmoid(x),
        "hard_sigmoid": lambda: np.clip(x / 6 + 0.5, 0, 1),
        "tanh": lambda: np.tanh(x),
        "softmax": lambda: _softmax(x),
        "softplus": lambda: np.logaddexp(0, x),
        "swish": lambda: x * _sigmoid(x),
        "gelu": lambda: 0.5 * x * (1 + erf(x / np.sqrt(2))),
    }[name]()


def ref_backward(name, x, y, dy):
    """Float64 dL/dx; y is the kernel's own output, as the kernel sees it."""
    x, y, dy = (a.astype(np.float64) for a in (x, y, dy))
    s = _sigmoid(x)
    return {
        "linear": lambda: dy,
        "relu": lambda: np.where(y > 0, dy, 0),
        "leaky_relu": lambda: np.where(x > 0, dy, ALPHA * dy),
        "elu": lambda: np.where(x > 0, dy, dy * ALPHA * np.exp(x)),
        "selu": lambda: dy * SELU_SCALE * np.where(x > 0, 1, SELU_ALPHA * np.exp(x)),
        "sigmoid": lambda: dy * y * (1 - y),
        "hard_sigmoid": lambda: np.where((y > 0) & (y < 1), dy / 6, 0),
        "tanh": lambda: dy * (1 - y * y),
        "softmax": lambda: y * (dy - (dy * y).sum(axis=-1, keepdims=True)),
        "softplus": lambda: dy * s,
        "swish": lambda: dy * s * (1 + x * (1 - s)),
        "gelu": lambda: dy * (0.5 * (1 + erf(x / np.sqrt(2))) + x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)),
    }[name]()


def _inputs(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.standard_normal(shape) * 3, dtype=dtype)
    x[np.abs(x) < 1e-3] = 0.5  # stay off the kinks at 0
    dy = np.asarray(rng.standard_normal(shape), dtype=dtype)
    return x, dy


@pytest.mark.parametrize("name", act.NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["c", "strided", "rows"])
def test_forward_and_backward_match_numpy(name, dtype, kind):
    x, dy = _inputs((9, 13), dtype)
    y = np.full_like(x, np.nan)
    assert act.forward(name, layout(x, kind), y, alpha=ALPHA) is y
    assert_close(y, ref_forward(name, x), dtype, scale=np.abs(x), rtol_factor=2)
    dx = np.full_like(x, np.nan)
    assert act.backward(name, layout(x, kind), layout(y, kind), layout(dy, kind), dx, alpha=ALPHA) is dx
    assert_close(dx, ref_backward(name, x, y, dy), dtype, scale=np.abs(dy), rtol_factor=4)


@pytest.mark.parametrize("name", act.NAMES)
@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 5), (4, 1), (0, 3)])
def test_any_ndim(name, shape):
    x, dy = _inputs(shape, np.float64, seed=1)
    y = np.empty_like(x)
    act.forward(name, x, y, alpha=ALPHA)
    np.testing.assert_allclose(y, ref_forward(name, x), rtol=1e-12, atol=1e-15)
    dx = np.empty_like(x)
    act.backward(name, x, y, dy, dx, alpha=ALPHA)
    np.testing.assert_allclose(dx, ref_backward(name, x, y, dy), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", act.NAMES)
@pytest.mark.parametrize("shape", [(), (0, 3), (3, 0), (1,), (5,), (33,)])
def test_threaded_path_on_tiny_and_empty_arrays(name, shape, threaded):
    x, dy = _inputs(shape, np.float64, seed=1)
    y, dx = np.empty_like(x), np.empty_like(x)
    act.forward(name, x, y, alpha=ALPHA)
    act.backward(name, x, y, dy, dx, alpha=ALPHA)
    np.testing.assert_allclose(y, ref_forward(name, x), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dx, ref_backward(name, x, y, dy), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", act.NAMES)
def test_in_place(name):
    x, dy = _inputs((6, 8), np.float64, seed=2)
    y = np.empty_like(x)
    act.forward(name, x, y, alpha=ALPHA)
    x_inplace = x.copy()
    act.forward(name, x_inplace, x_inplace, alpha=ALPHA)
    np.testing.assert_array_equal(x_inplace, y)
    dx = np.empty_like(x)
    act.backward(name, x, y, dy, dx, alpha=ALPHA)
    dy_inplace = dy.copy()
    act.backward(name, x, y, dy_inplace, dy_inplace, alpha=ALPHA)
    np.testing.assert_array_equal(dy_inplace, dx)


@pytest.mark.parametrize("name", act.NAMES)
def test_backward_matches_finite_differences(name):
    x, dy = _inputs((5, 7), np.float64, seed=3)
    if name == "hard_sigmoid":
        x[np.abs(np.abs(x) - 3) < 1e-3] = 1.0  # off the clip corners
    y = np.empty_like(x)
    act.forward(name, x, y, alpha=ALPHA)
    dx = np.empty_like(x)
    act.backward(name, x, y, dy, dx, alpha=ALPHA)

    def loss(z):
        out = np.empty_like(z)
        return float((act.forward(name, z, out, alpha=ALPHA) * dy).sum())

    for seed in range(3):
        v = np.random.default_rng(seed).standard_normal(x.shape)
        fd = directional_fd(loss, x, v)
        np.testing.assert_allclose((dx * v).sum(), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", act.NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_threaded_path(name, dtype, threaded):
    x, dy = _inputs((160, 37), dtype, seed=4)
    y = np.empty_like(x)
    act.forward(name, x, y, alpha=ALPHA)
    assert_close(y, ref_forward(name, x), dtype, scale=np.abs(x), rtol_factor=2)
    dx = np.empty_like(x)
    act.backward(name, x, y, dy, dx, alpha=ALPHA)
    assert_close(dx, ref_backward(name, x, y, dy), dtype, scale=np.abs(dy), rtol_factor=4)
    # the serial loops give the same values (up to the vectorized libm calls
    # landing on other elements, as chunk boundaries move)
    previous = act._set_parallel_work(-1)
    serial_y, serial_dx = np.empty_like(x), np.empty_like(x)
    act.forward(name, x, serial_y, alpha=ALPHA)
    act.backward(name, x, y, dy, serial_dx, alpha=ALPHA)
    act._set_parallel_work(previous)
    assert_close(serial_y, y, dtype, rtol_factor=0.5)
    assert_close(serial_dx, dx, dtype, rtol_factor=0.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_inputs_stay_finite(dtype):
    x = np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]], dtype)
    dy = np.ones_like(x)
    for name in act.NAMES:
        y = np.empty_like(x)
        act.forward(name, x, y, alpha=ALPHA)
        dx = np.empty_like(x)
        act.backward(name, x, y, dy, dx, alpha=ALPHA)
        assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx)), name
    y = np.empty_like(x)
    act.forward("softmax", x, y)
    np.testing.assert_allclose(y, [[0, 0, 0, 0, 1]], atol=1e-30)


def test_needs_input_lists_exactly_the_x_readers():
    x, dy = _inputs((3, 4), np.float64, seed=5)
    for name in act.NAMES:
        y = np.empty_like(x)
        act.forward(name, x, y, alpha=ALPHA)
        dx = np.empty_like(x)
        if name in act.NEEDS_INPUT:
            act.backward(name, x, None, dy, dx, alpha=ALPHA)
            with pytest.raises(ValueError, match="needs the forward input x"):
                act.backward(name, None, y, dy, dx, alpha=ALPHA)
        else:
            act.backward(name, None, y, dy, dx, alpha=ALPHA)
            if name != "linear":
                with pytest.raises(ValueError, match="needs the forward output y"):
                    act.backward(name, x, None, dy, dx, alpha=ALPHA)
        np.testing.assert_allclose(dx, ref_backward(name, x, y, dy), rtol=1e-12)
    assert act.NEEDS_INPUT <= set(act.NAMES)


def test_errors():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="unknown activation.*'relu'.*Received: name='rleu'"):
        act.forward("rleu", x, np.empty_like(x))
    with pytest.raises(ShapeError, match=r"x must have the same shape as out.*x.shape=\(2, 3\), out.shape=\(3, 2\)"):
        act.forward("relu", x, np.empty((3, 2), np.float32))
    with pytest.raises(TypeError, match="x must have the same dtype as out"):
        act.forward("relu", x, np.empty((2, 3), np.float64))
    with pytest.raises(TypeError, match="out must be float32 or float64"):
        act.forward("relu", x, np.empty((2, 3), np.int32))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        act.forward("relu", x, np.empty((3, 2), np.float32).T)
    with pytest.raises(ShapeError, match="dy must have the same shape as dx"):
        act.backward("tanh", None, x, np.zeros((2, 2), np.float32), np.empty_like(x))


@pytest.mark.parametrize("name", act.NAMES)
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    fn = torch.nn.functional
    ops = {
        "linear": lambda t: t, "relu": fn.relu, "leaky_relu": lambda t: fn.leaky_relu(t, ALPHA),
        "elu": lambda t: fn.elu(t, ALPHA), "selu": fn.selu, "sigmoid": torch.sigmoid,
        "hard_sigmoid": fn.hardsigmoid, "tanh": torch.tanh, "softmax": lambda t: torch.softmax(t, -1),
        "softplus": lambda t: fn.softplus(t, threshold=1e9), "swish": fn.silu, "gelu": fn.gelu,
    }
    x, dy = _inputs((4, 6), np.float64, seed=6)
    xt = torch.tensor(x, requires_grad=True)
    yt = ops[name](xt)
    yt.backward(torch.tensor(dy))
    y, dx = np.empty_like(x), np.empty_like(x)
    act.forward(name, x, y, alpha=ALPHA)
    act.backward(name, x, y, dy, dx, alpha=ALPHA)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-15)
    # torch's float64 hardsigmoid backward multiplies by a float32 1/6
    grad_rtol = 1e-7 if name == "hard_sigmoid" else 1e-12
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=grad_rtol, atol=1e-15)


hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@hypothesis.settings(max_examples=80, deadline=None)
@hypothesis.given(
    name=st.sampled_from(act.NAMES), shape=st.lists(st.integers(0, 6), max_size=3).map(tuple),
    kind=st.sampled_from(["c", "strided", "rows"]), dtype=st.sampled_from(DTYPES),
)
def test_any_shape_and_layout(name, shape, kind, dtype):
    x, dy = _inputs(shape, dtype, seed=len(shape))
    if kind != "c" and x.ndim == 0:
        kind = "c"
    y, dx = np.empty_like(x), np.empty_like(x)
    act.forward(name, layout(x, kind), y, alpha=ALPHA)
    assert_close(y, ref_forward(name, x), dtype, scale=np.abs(x), rtol_factor=2)
    act.backward(name, layout(x, kind), layout(y, kind), layout(dy, kind), dx, alpha=ALPHA)
    assert_close(dx, ref_backward(name, x, y, dy), dtype, scale=np.abs(dy), rtol_factor=4)
