"""A step's gradients are zeroed lazily (Parameter.zero_grad) and the first kernel to write
one overwrites it (Parameter.grad_for_write, linear_backward(accumulate=False)): check that
nothing stale survives, that shared layers still add, and that unwritten gradients read 0."""

import numpy as np
import pytest

import corelib
from corelib import layers, losses, models
from corelib.kernels import dense
from corelib.layers import Parameter


def test_zero_grad_reads_as_zeros_without_writing_until_read():
    p = Parameter(np.ones((3, 2)), "w")
    p.grad[...] = 7.0
    p.zero_grad()
    assert p._grad[0, 0] == 7.0  # nothing written yet
    np.testing.assert_array_equal(p.grad, 0.0)


def test_grad_for_write_hands_out_an_unset_gradient_once():
    p = Parameter(np.ones(4), "b")
    p.zero_grad()
    grad, accumulate = p.grad_for_write()
    assert accumulate is False and grad is p._grad
    grad[...] = 5.0  # the kernel overwrote it
    again, accumulate = p.grad_for_write()
    assert accumulate is True
    np.testing.assert_array_equal(p.grad, 5.0)


def test_settle_grad_writes_the_promised_zeros():
    p = Parameter(np.ones(4), "b")
    p.grad[...] = 2.0
    p.zero_grad()
    p.settle_grad()
    np.testing.assert_array_equal(p._grad, 0.0)


@pytest.mark.parametrize("n", [0, 5])
def test_linear_backward_overwrites_when_not_accumulating(n):
    rng = np.random.default_rng(0)
    x, w, dy = rng.standard_normal((n, 4)), rng.standard_normal((4, 3)), rng.standard_normal((n, 3))
    dw, db = np.full((4, 3), np.nan), np.full(3, np.nan)
    dense.linear_backward(x, w, dy, None, dw, db, accumulate=False)
    np.testing.assert_allclose(dw, x.T @ dy, atol=1e-12)
    np.testing.assert_allclose(db, dy.sum(0), atol=1e-12)
    dense.linear_backward(x, w, dy, None, dw, db)  # then adds
    np.testing.assert_allclose(dw, 2 * x.T @ dy, atol=1e-12)


def test_a_shared_dense_layer_adds_both_uses_and_a_second_step_starts_from_zero():
    corelib.set_floatx("float64")
    try:
        corelib.set_seed(0)
        shared = layers.Dense(3)
        a, b = layers.Input(shape=(4,)), layers.Input(shape=(4,))
        model = models.Model([a, b], layers.Add()([shared(a), shared(b)]))
        model.compile(optimizer="sgd", loss=losses.MeanSquaredError())
        rng = np.random.default_rng(1)
        x1, x2, t = rng.standard_normal((6, 4)), rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
        w, bias = shared.kernel.value, shared.bias.value
        dl_dy = 2 * ((x1 + x2) @ w + 2 * bias - t) / t.size  # MSE: mean over units, then over samples
        for _ in range(2):  # the second step must not see the first's gradients
            model.compute_gradients([x1, x2], [t])
            np.testing.assert_allclose(shared.kernel.grad, (x1 + x2).T @ dl_dy, rtol=1e-10)
            np.testing.assert_allclose(shared.bias.grad, 2 * dl_dy.sum(0), rtol=1e-10)
    finally:
        corelib.set_floatx("float32")


def test_an_update_after_zero_grad_moves_no_weight():
    """A weight the step did not write is updated from zeros, not from last step's gradient."""
    corelib.set_seed(0)
    inp = layers.Input(shape=(3,))
    model = models.Model(inp, layers.Dense(2)(inp))
    model.compile(optimizer="sgd", loss="mse")
    model.compute_gradients([np.ones((4, 3), np.float32)], [np.full((4, 2), 5.0, np.float32)])
    assert all(np.abs(p.grad).max() > 0 for p in model.weights)
    before = [p.value.copy() for p in model.weights]
    for p in model.weights:
        p.zero_grad()
    model.apply_gradients()
    for p, value in zip(model.weights, before):
        np.testing.assert_array_equal(p.value, value)
