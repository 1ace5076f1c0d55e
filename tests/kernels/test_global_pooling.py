"""corelib.kernels.global_pooling against NumPy: both layouts, both dtypes, argmax semantics."""

import numpy as np
import pytest

from corelib.errors import ShapeError
from corelib.kernels import global_pooling as gp

from ._helpers import DTYPES, assert_close


@pytest.fixture(params=[False, True], ids=["serial", "threaded"])
def threads(request):
    previous = gp._set_parallel_work(0 if request.param else -1)
    yield
    gp._set_parallel_work(previous)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("first", [False, True], ids=["channels_last", "channels_first"])
def test_average_matches_numpy(dtype, first, threads):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 7, 5)).astype(dtype)  # (N, S, C) or (N, C, S)
    axis = 2 if first else 1
    out = np.full((3, 5 if not first else 7), np.nan, dtype)
    assert gp.global_avg_pool_forward(x, out, first) is out
    assert_close(out, x.astype(np.float64).mean(axis), dtype, scale=np.abs(x).max())
    dy = rng.standard_normal(out.shape).astype(dtype)
    dx = np.full_like(x, np.nan)
    gp.global_avg_pool_backward(dy, dx, first)
    assert_close(dx, np.broadcast_to(np.expand_dims(dy.astype(np.float64) / x.shape[axis], axis), x.shape), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("first", [False, True], ids=["channels_last", "channels_first"])
def test_max_matches_numpy_and_routes_the_gradient(dtype, first, threads):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 4)).astype(dtype)
    axis = 2 if first else 1
    shape = (3, 6) if first else (3, 4)
    out, argmax = np.empty(shape, dtype), np.empty(shape, np.int32)
    gp.global_max_pool_forward(x[:, :, ::1], out, argmax, first)
    np.testing.assert_array_equal(out, x.max(axis))
    np.testing.assert_array_equal(argmax, x.argmax(axis))
    dy = rng.standard_normal(shape).astype(dtype)
    dx = np.full_like(x, np.nan)
    gp.global_max_pool_backward(dy, argmax, dx, first)
    expected = np.zeros_like(x)
    np.put_along_axis(expected, np.expand_dims(x.argmax(axis), axis), np.expand_dims(dy, axis), axis)
    np.testing.assert_array_equal(dx, expected)


def test_max_ties_take_the_first_position_and_nan_propagates():
    x = np.zeros((1, 3, 2))
    x[0, 2, 1] = np.nan
    out, argmax = np.empty((1, 2)), np.empty((1, 2), np.int32)
    gp.global_max_pool_forward(x, out, argmax)
    assert out[0, 0] == 0 and argmax[0, 0] == 0
    assert np.isnan(out[0, 1]) and argmax[0, 1] == 2


def test_strided_input():
    x = np.random.default_rng(2).standard_normal((2, 5, 6))
    a, b = np.empty((2, 3)), np.empty((2, 3))
    gp.global_avg_pool_forward(np.ascontiguousarray(x[:, :, ::2]), a)
    gp.global_avg_pool_forward(x[:, :, ::2], b)
    np.testing.assert_array_equal(a, b)


def test_errors():
    x = np.zeros((2, 4, 3))
    with pytest.raises(ShapeError, match=r"out must have shape \(2, 3\) = \(batch, channels\)"):
        gp.global_avg_pool_forward(x, np.empty((2, 4)))
    with pytest.raises(ShapeError, match="x has no positions to pool"):
        gp.global_avg_pool_forward(np.zeros((2, 0, 3)), np.empty((2, 3)))
    with pytest.raises(TypeError, match="argmax must be int32"):
        gp.global_max_pool_forward(x, np.empty((2, 3)), np.empty((2, 3)))
    with pytest.raises(ValueError, match=r"argmax holds a position outside \[0, 4\)"):
        gp.global_max_pool_backward(np.ones((2, 3)), np.full((2, 3), 4, np.int32), np.empty_like(x))
    with pytest.raises(TypeError, match="x must have the same dtype as out"):
        gp.global_avg_pool_forward(x.astype(np.float32), np.empty((2, 3)))
