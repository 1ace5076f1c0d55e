"""SimpleRNN, LSTM and GRU against PyTorch: outputs and every gradient, float64
and float32, with return_sequences, return_state, go_backwards, masks and dropout."""

from __future__ import annotations

import numpy as np
import pytest

from corelib import layers
from corelib.errors import ConfigError, ShapeError

torch = pytest.importorskip("torch")

B, T, F, U = 3, 6, 4, 5


def _perm(kind: str, m: np.ndarray) -> np.ndarray:
    """Keras gate order -> PyTorch's (GRU: z, r, h -> r, z, n; others agree)."""
    if kind != "GRU":
        return m
    return np.concatenate([m[..., U:2 * U], m[..., :U], m[..., 2 * U:]], axis=-1)


def _torch_cell(kind: str, layer, dtype):
    """A step function x_t, state -> state with the layer's weights (autograd on)."""
    w = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in layer.get_weights()]
    act = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}[layer.activation.name]
    sig = torch.sigmoid

    if kind == "SimpleRNN":
        def step(x, s):
            return (act(x @ w[0] + s[0] @ w[1] + w[2]),)
    elif kind == "LSTM":
        def step(x, s):
            z = x @ w[0] + s[0] @ w[1] + w[2]
            i, f, g, o = sig(z[:, :U]), sig(z[:, U:2 * U]), act(z[:, 2 * U:3 * U]), sig(z[:, 3 * U:])
            c = f * s[1] + i * g
            return o * act(c), c
    elif layer.reset_after:
        def step(x, s):
            xi = x @ w[0] + w[2][0]
            hr = s[0] @ w[1] + w[2][1]
            z, r = sig(xi[:, :U] + hr[:, :U]), sig(xi[:, U:2 * U] + hr[:, U:2 * U])
            n = act(xi[:, 2 * U:] + r * hr[:, 2 * U:])
            return (z * s[0] + (1 - z) * n,)
    else:  # the original GRU: reset before the recurrent product (no PyTorch module does this)
        def step(x, s):
            xi = x @ w[0] + w[2]
            hr = s[0] @ w[1][:, :2 * U]
            z, r = sig(xi[:, :U] + hr[:, :U]), sig(xi[:, U:2 * U] + hr[:, U:2 * U])
            n = act(xi[:, 2 * U:] + (r * s[0]) @ w[1][:, 2 * U:])
            return (z * s[0] + (1 - z) * n,)
    return step, w


def _reference(kind, layer, x, mask, dtype):
    """Outputs of the layer computed step by step in PyTorch (masked steps keep the state)."""
    step, w = _torch_cell(kind, layer, dtype)
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    seq = xt.flip(1) if layer.go_backwards else xt
    m = None if mask is None else torch.tensor(mask[:, ::-1].copy() if layer.go_backwards else mask)
    s = tuple(torch.zeros(x.shape[0], U, dtype=dtype) for _ in range(2 if kind == "LSTM" else 1))
    outs = []
    for t in range(x.shape[1]):
        new = step(seq[:, t], s)
        if m is not None:
            keep = m[:, t:t + 1]
            new = tuple(torch.where(keep, a, b) for a, b in zip(new, s))
            outs.append(torch.where(keep, new[0], torch.zeros_like(new[0])))
        else:
            outs.append(new[0])
        s = new
    y = torch.stack(outs, 1) if layer.return_sequences else s[0]
    return xt, w, ([y, *s] if layer.return_state else [y])


def _compare(kind, kwargs, dtype=np.float64, mask=None, seed=0):
    rng = np.random.default_rng(seed)
    layer = getattr(layers, kind)(U, dtype=np.dtype(dtype).name, **kwargs)
    x = rng.standard_normal((B, T, F)).astype(dtype)
    layer(x)
    layer.set_weights([w + 0.1 * rng.standard_normal(w.shape) for w in layer.get_weights()])
    ys, backprop = layer.forward(x, True, mask=mask) if mask is not None else layer.forward(x, True)
    ys = ys if isinstance(ys, list) else [ys]
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    xt, w, refs = _reference(kind, layer, x, mask, tdt)
    dys = [rng.standard_normal(y.shape).astype(dtype) for y in ys]
    sum(((r * torch.tensor(d)).sum() for r, d in zip(refs, dys))).backward()
    for p in layer.weights:
        p.grad[...] = 0
    dx = backprop(dys if len(dys) > 1 else dys[0])
    tol = dict(rtol=1e-9, atol=1e-11) if dtype == np.float64 else dict(rtol=1e-4, atol=2e-5)
    for y, r in zip(ys, refs):
        np.testing.assert_allclose(y, r.detach().numpy(), **tol)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
    for p, wt in zip(layer.weights, w):
        np.testing.assert_allclose(p.grad, wt.grad.numpy(), **tol, err_msg=p.name)


CASES = [
    {},
    {"return_sequences": True},
    {"go_backwards": True},
    {"return_sequences": True, "go_backwards": True},
    {"return_state": True, "return_sequences": True},
    {"return_state": True},
]
KINDS = ["SimpleRNN", "LSTM", "GRU"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("kwargs", CASES, ids=lambda k: "-".join(k) or "last")
def test_matches_stepwise_torch_float64(kind, kwargs):
    _compare(kind, kwargs)


@pytest.mark.parametrize("kind", KINDS)
def test_matches_stepwise_torch_float32(kind):
    _compare(kind, {"return_sequences": True}, dtype=np.float32)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("kwargs", [{"return_sequences": True}, {}, {"go_backwards": True, "return_state": True}])
def test_masked_steps_keep_the_state_and_get_no_gradient(kind, kwargs):
    mask = np.ones((B, T), bool)
    mask[0, 4:] = False   # post-padding
    mask[1, :2] = False   # pre-padding
    mask[2, 3] = False    # a hole
    _compare(kind, kwargs, mask=mask)


def test_gru_reset_before_matches_reference():
    _compare("GRU", {"reset_after": False, "return_sequences": True})
    _compare("GRU", {"reset_after": False, "return_state": True}, dtype=np.float32)


def test_relu_activation():
    _compare("SimpleRNN", {"activation": "relu", "return_sequences": True})
    _compare("LSTM", {"activation": "relu"}, seed=3)


@pytest.mark.parametrize("kind,module", [("SimpleRNN", "RNN"), ("LSTM", "LSTM"), ("GRU", "GRU")])
def test_matches_torch_modules(kind, module):
    """The mapping to nn.RNN / nn.LSTM / nn.GRU weights (transposed, GRU gates reordered)."""
    rng = np.random.default_rng(1)
    layer = getattr(layers, kind)(U, return_sequences=True, dtype="float64")
    x = rng.standard_normal((B, T, F))
    layer(x)
    kernel, rec, bias = layer.get_weights()
    tm = getattr(torch.nn, module)(F, U, batch_first=True).double()
    with torch.no_grad():
        tm.weight_ih_l0.copy_(torch.tensor(_perm(kind, kernel).T))
        tm.weight_hh_l0.copy_(torch.tensor(_perm(kind, rec).T))
        if kind == "GRU":
            tm.bias_ih_l0.copy_(torch.tensor(_perm(kind, bias[0])))
            tm.bias_hh_l0.copy_(torch.tensor(_perm(kind, bias[1])))
        else:
            tm.bias_ih_l0.copy_(torch.tensor(bias))
            tm.bias_hh_l0.zero_()
    xt = torch.tensor(x, requires_grad=True)
    yt, _ = tm(xt)
    y, backprop = layer.forward(x, True)
    dy = rng.standard_normal(y.shape)
    (yt * torch.tensor(dy)).sum().backward()
    for p in layer.weights:
        p.grad[...] = 0
    dx = backprop(dy)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(_perm(kind, layer.kernel.grad).T, tm.weight_ih_l0.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(_perm(kind, layer.recurrent_kernel.grad).T, tm.weight_hh_l0.grad.numpy(),
                               rtol=1e-9, atol=1e-12)


def test_keras_weight_shapes_and_defaults():
    lstm = layers.LSTM(4)
    lstm(np.zeros((1, 2, 3), np.float32))
    assert [w.shape for w in lstm.get_weights()] == [(3, 16), (4, 16), (16,)]
    np.testing.assert_array_equal(lstm.bias.value, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    r = lstm.recurrent_kernel.value.astype(np.float64)
    np.testing.assert_allclose(r @ r.T, np.eye(4), atol=1e-5)  # orthogonal rows
    gru = layers.GRU(4)
    gru(np.zeros((1, 2, 3), np.float32))
    assert [w.shape for w in gru.get_weights()] == [(3, 12), (4, 12), (2, 12)]
    gru0 = layers.GRU(4, reset_after=False)
    gru0(np.zeros((1, 2, 3), np.float32))
    assert gru0.bias.shape == (12,)


def test_dropout_is_one_mask_per_sequence_and_off_in_inference():
    layer = layers.LSTM(3, dropout=0.5, recurrent_dropout=0.5, return_sequences=True)
    x = np.random.default_rng(0).standard_normal((4, 5, 2)).astype(np.float32)
    y_inf = layer(x)
    y_inf2, _ = layer.forward(x, False)
    np.testing.assert_array_equal(y_inf, y_inf2)
    y_train, _ = layer.forward(x, True)
    assert not np.allclose(y_train, y_inf)


def test_errors_name_the_layer_and_argument():
    with pytest.raises(ConfigError, match="units must be a positive int"):
        layers.LSTM(0)
    with pytest.raises(ConfigError, match="dropout"):
        layers.GRU(3, dropout=1.5)
    with pytest.raises(ConfigError, match="activation must be one of"):
        layers.SimpleRNN(3, activation="softmax")
    with pytest.raises(ShapeError, match="rank 3"):
        layers.LSTM(3, name="seq").compute_output_shape((None, 4))
