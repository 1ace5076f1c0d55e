"""corelib.kernels.batchnorm against PyTorch's batch_norm (training and inference)."""

import numpy as np
import pytest

from corelib.errors import ShapeError
from corelib.kernels import batchnorm as bn

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float32: 1e-4, np.float64: 1e-10}


def assert_rel(actual, expected, dtype):
    scale = max(float(np.max(np.abs(expected))), 1e-30)
    err = float(np.max(np.abs(np.asarray(actual, np.float64) - expected))) / scale
    assert err <= TOL[dtype], f"relative error {err:.3g} > {TOL[dtype]:g}"


def torch_bn(x, axis, gamma, beta, dy, eps, training, mean=None, var=None):
    """PyTorch's batch_norm with the channel axis moved to 1: y, dx, dgamma, dbeta."""
    tx = torch.tensor(np.moveaxis(x, axis, 1).copy(), requires_grad=True)
    tg = None if gamma is None else torch.tensor(gamma, requires_grad=True)
    tb = None if beta is None else torch.tensor(beta, requires_grad=True)
    rm = None if mean is None else torch.tensor(mean)
    rv = None if var is None else torch.tensor(var)
    y = F.batch_norm(tx, rm, rv, tg, tb, training=training, eps=eps)
    y.backward(torch.tensor(np.moveaxis(dy, axis, 1).copy()))
    return (np.moveaxis(y.detach().numpy(), 1, axis), np.moveaxis(tx.grad.numpy(), 1, axis),
            None if tg is None else tg.grad.numpy(), None if tb is None else tb.grad.numpy())


# (shape, axis)
CASES = [((6, 5), -1), ((4, 5, 7, 3), -1), ((1, 3, 5, 4), -1), ((3, 4, 5, 2), 1), ((2, 3, 7), 1), ((5, 3, 4), 2)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_training_matches_torch(case, affine, dtype):
    shape, axis = case
    rng = np.random.default_rng(len(shape) * 10 + axis)
    x = (3.0 * rng.standard_normal(shape) + 5.0).astype(dtype)  # a large mean: the variance must not cancel
    c = shape[axis]
    gamma = rng.standard_normal(c).astype(dtype) if affine else None
    beta = rng.standard_normal(c).astype(dtype) if affine else None
    dy = rng.standard_normal(shape).astype(dtype)
    y_ref, dx_ref, dg_ref, db_ref = torch_bn(x, axis, gamma, beta, dy, 1e-3, True)
    y, mean, var = np.full_like(x, np.nan), np.empty(c, dtype), np.empty(c, dtype)
    assert bn.batch_norm_forward(x, gamma, beta, mean, var, y, 1e-3, True, axis) is y
    other = tuple(i for i in range(len(shape)) if i != axis % len(shape))
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(other), rtol=TOL[dtype])
    np.testing.assert_allclose(var, x.astype(np.float64).var(other), rtol=TOL[dtype])  # biased, as Keras
    dx = np.full_like(x, np.nan)
    dg, db = np.full(c, 0.5, dtype), np.full(c, -0.5, dtype)
    bn.batch_norm_backward(x, dy, gamma, mean, var, dx, dg, db, 1e-3, True, axis)
    assert_rel(y, y_ref, dtype)
    assert_rel(dx, dx_ref, dtype)
    if affine:
        assert_rel(dg - 0.5, dg_ref, dtype)
        assert_rel(db + 0.5, db_ref, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES[:4], ids=str)
def test_inference_matches_torch(case, dtype):
    shape, axis = case
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dtype)
    c = shape[axis]
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    mean, var = rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2.0, c).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    y_ref, dx_ref, dg_ref, db_ref = torch_bn(x, axis, gamma, beta, dy, 1e-3, False, mean, var)
    y = np.empty_like(x)
    bn.batch_norm_forward(x, gamma, beta, mean, var, y, 1e-3, False, axis)
    dx, dg, db = np.empty_like(x), np.zeros(c, dtype), np.zeros(c, dtype)
    bn.batch_norm_backward(x, dy, gamma, mean, var, dx, dg, db, 1e-3, False, axis)
    for got, want in ((y, y_ref), (dx, dx_ref), (dg, dg_ref), (db, db_ref)):
        assert_rel(got, want, dtype)


def test_in_place_and_strided():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 3, 5, 6))
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    dy = rng.standard_normal(x.shape)
    y, mean, var = np.empty_like(x), np.empty(6), np.empty(6)
    bn.batch_norm_forward(x, gamma, beta, mean, var, y)
    dx = np.empty_like(x)
    bn.batch_norm_backward(x, dy, gamma, mean, var, dx, None, None)
    inplace = x.copy()
    bn.batch_norm_forward(inplace, gamma, beta, np.empty(6), np.empty(6), inplace)  # out is x
    np.testing.assert_allclose(inplace, y, rtol=1e-14, atol=1e-14)
    g = dy.copy()
    bn.batch_norm_backward(x, g, gamma, mean, var, g, None, None)  # dx is dy
    np.testing.assert_allclose(g, dx, rtol=1e-14, atol=1e-14)
    xt = np.moveaxis(np.moveaxis(x, 3, 0).copy(), 0, 3)  # same values, channel axis not innermost in memory
    y2 = np.empty_like(x)
    bn.batch_norm_forward(xt, gamma, beta, np.empty(6), np.empty(6), y2)
    np.testing.assert_allclose(y2, y, rtol=1e-14, atol=1e-14)


@pytest.fixture
def threaded():
    previous = bn._set_parallel_work(0)
    yield
    bn._set_parallel_work(previous)


def test_threaded_channel_blocks_agree(threaded):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((7, 3, 40))  # 40 channels: three blocks of 16
    gamma, beta, dy = rng.standard_normal(40), rng.standard_normal(40), rng.standard_normal(x.shape)
    y_ref, dx_ref, dg_ref, db_ref = torch_bn(x, -1, gamma, beta, dy, 1e-3, True)
    y, mean, var = np.empty_like(x), np.empty(40), np.empty(40)
    bn.batch_norm_forward(x, gamma, beta, mean, var, y)
    dx, dg, db = np.empty_like(x), np.zeros(40), np.zeros(40)
    bn.batch_norm_backward(x, dy, gamma, mean, var, dx, dg, db)
    for got, want in ((y, y_ref), (dx, dx_ref), (dg, dg_ref), (db, db_ref)):
        assert_rel(got, want, np.float64)


def test_errors():
    x = np.zeros((4, 3))
    c = np.zeros(3)
    with pytest.raises(ShapeError, match=r"gamma must have shape \(3,\) = \(x.shape\[axis\],\). Received: gamma.shape=\(4,\)"):
        bn.batch_norm_forward(x, np.ones(4), None, np.empty(3), np.empty(3), np.empty_like(x))
    with pytest.raises(ValueError, match="axis 2 is out of range for x.shape=\\(4, 3\\)"):
        bn.batch_norm_forward(x, None, None, np.empty(3), np.empty(3), np.empty_like(x), axis=2)
    with pytest.raises(ValueError, match="batch statistics of an empty batch"):
        bn.batch_norm_forward(np.zeros((0, 3)), None, None, np.empty(3), np.empty(3), np.empty((0, 3)))
    with pytest.raises(ValueError, match="mean must be writeable"):
        ro = np.empty(3)
        ro.flags.writeable = False
        bn.batch_norm_forward(x, None, None, ro, np.empty(3), np.empty_like(x), training=True)
    with pytest.raises(TypeError, match="var must have the same dtype as x"):
        bn.batch_norm_forward(x, None, None, c, c.astype(np.float32), np.empty_like(x), training=False)
    with pytest.raises(ValueError, match="epsilon must be >= 0"):
        bn.batch_norm_forward(x, None, None, c, c, np.empty_like(x), epsilon=-1.0, training=False)
    with pytest.raises(ValueError, match="dx must not share memory with x"):
        bn.batch_norm_backward(x, np.ones_like(x), None, c, c + 1, x, None, None)
