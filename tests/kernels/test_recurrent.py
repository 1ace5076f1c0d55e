"""The recurrent kernels: layouts, argument checks, accumulation (PyTorch checks
of the math are in tests/test_recurrent*.py)."""

from __future__ import annotations

import numpy as np
import pytest

from corelib.errors import ShapeError
from corelib.kernels import recurrent as k

from ._helpers import DTYPES, layout, rtol

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
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(once, twice):  # float32 rounding is relative to the gradient's scale (gemm's beta = 1 path)
        np.testing.assert_allclose(b, 2 * a, rtol=tol, atol=tol * float(np.abs(a).max()))


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


# -- layouts and batch slices ---------------------------------------------------

GATES = {"rnn": 1, "lstm": 4, "gru": 3, "gru_before": 3}


def _tm(a):
    return np.ascontiguousarray(np.swapaxes(a, 0, 1))


def _run(kind, dtype, time_major=False, slices=0, mask=None, rdrop=None, Bn=B, act="tanh", ract="sigmoid",
         last_only=False, serial=0):
    """Forward and backward of one cell with fixed random data; every result
    batch-major. last_only: only the last state gets a gradient (given alone)."""
    rng = np.random.default_rng(7)
    G = GATES[kind]
    x = rng.standard_normal((Bn, T, F)).astype(dtype)
    w = (0.5 * rng.standard_normal((F, G * U))).astype(dtype)
    r = (0.5 * rng.standard_normal((U, G * U))).astype(dtype)
    b = rng.standard_normal(G * U).astype(dtype)
    rb = rng.standard_normal(G * U).astype(dtype)
    ds = rng.standard_normal((Bn, T, U)).astype(dtype)
    h0 = rng.standard_normal((Bn, U)).astype(dtype)
    lay = _tm if time_major else (lambda a: a)
    if last_only == "alone":
        ds, lay_ds = ds[:, -1].copy(), (lambda a: a)
    else:
        if last_only:
            ds[:, :-1] = 0
        lay_ds = lay
    m = None if mask is None else (mask.T.copy() if time_major else mask)
    seq = (lambda n: (T + n, Bn)) if time_major else (lambda n: (Bn, T + n))
    gates, states = np.empty(seq(0) + (G * U,), dtype), np.empty(seq(1) + (U,), dtype)
    grads = [np.zeros_like(w), np.zeros_like(r), np.zeros_like(b)]
    dx, dh0 = np.empty(seq(0) + (F,), dtype), np.empty((Bn, U), dtype)
    prev = k._set_batch_threads(slices, serial)
    try:
        if kind == "rnn":
            k.rnn_forward(lay(x), w, r, b, h0, m, rdrop, act, gates, states, time_major=time_major)
            k.rnn_backward(lay(x), w, r, m, rdrop, act, states, lay_ds(ds), np.empty_like(gates), dx, *grads, dh0,
                           time_major=time_major)
            extra = []
        elif kind == "lstm":
            cells = np.empty_like(states)
            dc0, dcT = np.empty_like(dh0), rng.standard_normal((Bn, U)).astype(dtype)
            k.lstm_forward(lay(x), w, r, b, h0, 0.5 * h0, m, rdrop, act, ract, gates, states, cells,
                           time_major=time_major)
            k.lstm_backward(lay(x), w, r, m, rdrop, act, ract, gates, states, cells, lay_ds(ds), dcT,
                            np.empty_like(gates), dx, *grads, dh0, dc0, time_major=time_major)
            extra = [_tm(cells) if time_major else cells, dc0]
        else:
            after = kind == "gru"
            rg, hr = np.empty_like(gates), np.empty(seq(0) + (U,), dtype)
            grads.append(np.zeros_like(rb))
            k.gru_forward(lay(x), w, r, b, rb if after else None, h0, m, rdrop, act, ract, after, gates, rg, hr,
                          states, time_major=time_major)
            k.gru_backward(lay(x), w, r, m, rdrop, act, ract, after, gates, rg, hr, states, lay_ds(ds),
                           np.empty_like(gates), np.empty_like(rg), dx, *grads[:3],
                           grads[3] if after else None, dh0, time_major=time_major)
            extra = []
    finally:
        k._set_batch_threads(prev, 0)
    back = _tm if time_major else (lambda a: a)
    return [back(states), back(dx), dh0, *grads, *extra]


def _mask_and_dropout(dtype, Bn=B):
    rng = np.random.default_rng(3)
    mask = rng.random((Bn, T)) > 0.3
    rdrop = ((rng.random((Bn, U)) > 0.4) / 0.6).astype(dtype)
    return mask, rdrop


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", list(GATES))
@pytest.mark.parametrize("extras", [False, True], ids=["plain", "mask-rdrop"])
def test_time_major_layout_gives_the_batch_major_results(dtype, kind, extras):
    mask, rdrop = _mask_and_dropout(dtype) if extras else (None, None)
    ref = _run(kind, dtype, mask=mask, rdrop=rdrop, slices=1)
    got = _run(kind, dtype, time_major=True, mask=mask, rdrop=rdrop, slices=1)
    for a, e in zip(got, ref):
        np.testing.assert_allclose(a, e, rtol=10 * rtol(dtype), atol=10 * rtol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", list(GATES))
@pytest.mark.parametrize("slices,serial", [(2, 0), (3, 0), (3, 1)])
@pytest.mark.parametrize("time_major", [False, True])
def test_batch_slices_give_the_one_slice_results(dtype, kind, slices, serial, time_major):
    """Threads take slices of the batch (or one thread all of them, serial);
    each slice's rows must get their one-slice values, and the weight
    gradients the same sums."""
    Bn = 7
    mask, rdrop = _mask_and_dropout(dtype, Bn)
    ref = _run(kind, dtype, time_major=time_major, mask=mask, rdrop=rdrop, slices=1, Bn=Bn)
    got = _run(kind, dtype, time_major=time_major, mask=mask, rdrop=rdrop, slices=slices, Bn=Bn, serial=serial)
    for a, e in zip(got, ref):
        np.testing.assert_allclose(a, e, rtol=10 * rtol(dtype), atol=10 * rtol(dtype))


@pytest.mark.parametrize("kind", list(GATES))
@pytest.mark.parametrize("slices", [1, 2])
@pytest.mark.parametrize("time_major", [False, True])
def test_last_state_gradient_alone_equals_zero_padded_d_states(kind, slices, time_major):
    """d_states as (B, U): the gradient reaches the last state only."""
    mask, rdrop = _mask_and_dropout(np.float64)
    ref = _run(kind, np.float64, time_major, slices, mask, rdrop, last_only=True)
    got = _run(kind, np.float64, time_major, slices, mask, rdrop, last_only="alone")
    for a, e in zip(got, ref):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", list(GATES))
@pytest.mark.parametrize("acts", [("tanh", "sigmoid"), ("relu", "hard_sigmoid")], ids=["fused", "generic"])
@pytest.mark.parametrize("extras", [False, True], ids=["plain", "mask-rdrop"])
def test_float32_gate_loops_match_float64(kind, acts, extras):
    """tanh/sigmoid LSTM and GRU cells take fused float32 loops (own exp
    polynomial); other activations and float64 take the generic ones."""
    mask, rdrop = _mask_and_dropout(np.float64) if extras else (None, None)
    act, ract = acts
    ref = _run(kind, np.float64, time_major=True, mask=mask, rdrop=rdrop, act=act, ract=ract)
    got = _run(kind, np.float32, time_major=True, mask=mask, rdrop=None if rdrop is None else rdrop.astype(np.float32),
               act=act, ract=ract)
    for a, e in zip(got, ref):
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5)


def test_time_major_shapes_are_checked():
    x = np.zeros((T, B, F))
    with pytest.raises(ShapeError, match="states"):
        k.rnn_forward(x, np.zeros((F, U)), np.zeros((U, U)), None, 0.0, None, None, "tanh", np.empty((T, B, U)),
                      np.empty((B, T + 1, U)), time_major=True)
    with pytest.raises(ShapeError, match=r"mask must have shape \(4, 2\) \(time, batch\)"):
        k.rnn_forward(x, np.zeros((F, U)), np.zeros((U, U)), None, 0.0, np.ones((B, T)), None, "tanh",
                      np.empty((T, B, U)), np.empty((T + 1, B, U)), time_major=True)
