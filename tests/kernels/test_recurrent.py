"""The recurrent kernels: layouts, argument checks, accumulation (PyTorch checks
of the math are in tests/test_recurrent*.py)."""

from __future__ import annotations

import numpy as np
import pytest

from corelib.errors import ShapeError
from corelib.kernels import recurrent as k

from ._helpers import DTYPES, layout

B, T, F, U = 2, 4, 3, 5


def _lstm(x, w, r, b, dtype):
    gates = np.empty((B, T, 4 * U), dtype)
    states = np.empty((B, T + 1, U), dtype)
    cells = np.empty((B, T + 1, U), dtype)
    k.lstm_forward(x, w, r, b, 0.0, 0.0, None, None, "tanh", "sigmoid", gates, states, cells)
    return gates, states, cells


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["strided", "rows", "fortran"])
def test_strided_inputs_give_the_contiguous_result(dtype, kind):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, F)).astype(dtype)
    w = rng.standard_normal((F, 4 * U)).astype(dtype)
    r = rng.standard_normal((U, 4 * U)).astype(dtype)
    b = rng.standard_normal(4 * U).astype(dtype)
    ref = _lstm(x, w, r, b, dtype)
    got = _lstm(layout(x, kind if kind != "fortran" else "strided"), layout(w, kind), layout(r, kind), b, dtype)
    for a, e in zip(got, ref):
        np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_accumulates_weight_gradients(dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, F)).astype(dtype)
    w = rng.standard_normal((F, 3 * U)).astype(dtype)
    r = rng.standard_normal((U, 3 * U)).astype(dtype)
    g, rg = np.empty((B, T, 3 * U), dtype), np.empty((B, T, 3 * U), dtype)
    hr, s = np.empty((B, T, U), dtype), np.empty((B, T + 1, U), dtype)
    k.gru_forward(x, w, r, None, None, 0.0, None, None, "tanh", "sigmoid", True, g, rg, hr, s)
    ds = rng.standard_normal((B, T, U)).astype(dtype)

    def grads(dw, dr):
        k.gru_backward(x, w, r, None, None, "tanh", "sigmoid", True, g, rg, hr, s, ds, np.empty_like(g),
                       np.empty_like(rg), None, dw, dr, None, None, None)
        return dw, dr

    once = grads(np.zeros_like(w), np.zeros_like(r))
    twice = grads(*[a.copy() for a in once])
    for a, b in zip(once, twice):
        np.testing.assert_allclose(b, 2 * a, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_arguments_are_checked_with_the_real_shapes():
    x = np.zeros((B, T, F))
    gates, states = np.empty((B, T, U)), np.empty((B, T + 1, U))
    with pytest.raises(ShapeError, match="kernel"):
        k.rnn_forward(x, np.zeros((F + 1, U)), np.zeros((U, U)), None, 0.0, None, None, "tanh", gates, states)
    with pytest.raises(TypeError, match="dtype"):
        k.rnn_forward(x, np.zeros((F, U), np.float32), np.zeros((U, U)), None, 0.0, None, None, "tanh", gates,
                      states)
    with pytest.raises(ValueError, match="activation must be one of"):
        k.rnn_forward(x, np.zeros((F, U)), np.zeros((U, U)), None, 0.0, None, None, "softmax", gates, states)
    with pytest.raises(ValueError, match="C-contiguous"):
        k.rnn_forward(x, np.zeros((F, U)), np.zeros((U, U)), None, 0.0, None, None, "tanh",
                      np.empty((B, T, 2 * U))[..., ::2], states)
    with pytest.raises(ShapeError, match="mask"):
        k.rnn_forward(x, np.zeros((F, U)), np.zeros((U, U)), None, 0.0, np.ones((B, T + 1)), None, "tanh",
                      gates, states)


def test_fully_masked_sequence_keeps_the_initial_state():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((B, T, F))
    gates, states = np.empty((B, T, U)), np.empty((B, T + 1, U))
    h0 = rng.standard_normal((B, U))
    mask = np.zeros((B, T), bool)
    k.rnn_forward(x, rng.standard_normal((F, U)), rng.standard_normal((U, U)), None, h0, mask, None, "tanh",
                  gates, states)
    np.testing.assert_array_equal(states, np.repeat(h0[:, None], T + 1, axis=1))
