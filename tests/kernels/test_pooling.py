"""corelib.kernels.pooling against PyTorch's max_pool2d / avg_pool2d, forward and backward.

Keras's "same" padding can be asymmetric and never counts in a window (a
padded pixel never wins a max and is left out of a mean), so the torch
reference pads explicitly: with -inf for the max, and for the mean divides a
zero-padded window sum by the padded count of ones.
"""

import math

import numpy as np
import pytest

from corelib.errors import ShapeError
from corelib.kernels import pooling

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float32: 1e-4, np.float64: 1e-10}


def same_pads(length, p, stride):
    total = max((math.ceil(length / stride) - 1) * stride + p - length, 0)
    return total // 2, total - total // 2


def assert_rel(actual, expected, dtype):
    scale = max(float(np.max(np.abs(expected))), 1e-30)
    err = float(np.max(np.abs(np.asarray(actual, np.float64) - expected))) / scale
    assert err <= TOL[dtype], f"relative error {err:.3g} > {TOL[dtype]:g}"


def torch_pool(kind, x, dy_fn, pool, strides, pads):
    """(y, dx) of PyTorch's pooling on NHWC data with explicit (top, bottom, left, right) pads."""
    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    order = (pads[2], pads[3], pads[0], pads[1])
    if kind == "max":
        y = F.max_pool2d(F.pad(tx, order, value=-math.inf), pool, strides)
    else:
        sums = F.avg_pool2d(F.pad(tx, order), pool, strides)
        counts = F.avg_pool2d(F.pad(torch.ones_like(tx), order), pool, strides)
        y = sums / counts
    dy = dy_fn(tuple(y.shape[i] for i in (0, 2, 3, 1)))
    y.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
    return y.detach().numpy().transpose(0, 2, 3, 1), tx.grad.numpy().transpose(0, 2, 3, 1), dy


# (N, H, W, C, pool, strides, padding)
CASES = [
    (2, 7, 9, 3, (2, 2), (2, 2), "valid"),
    (1, 7, 9, 3, (3, 3), (2, 2), "valid"),  # overlapping windows, batch of 1
    (2, 8, 7, 2, (3, 2), (1, 1), "valid"),
    (2, 7, 9, 3, (2, 2), (2, 2), "same"),
    (3, 5, 6, 4, (3, 3), (2, 2), "same"),  # asymmetric pads
    (1, 9, 5, 2, (3, 2), (1, 2), "same"),
    (2, 1, 11, 3, (1, 3), (1, 2), "valid"),  # a 1D pool
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}x{c[1]}x{c[2]}x{c[3]}-p{c[4]}-s{c[5]}-{c[6]}")
def test_pooling_matches_torch(case, kind, dtype):
    n, h, w, c, pool, strides, padding = case
    rng = np.random.default_rng(sum(case[:4]))
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    pads = same_pads(h, pool[0], strides[0]) + same_pads(w, pool[1], strides[1]) if padding == "same" else (0,) * 4
    y_ref, dx_ref, dy = torch_pool(kind, x, lambda s: rng.standard_normal(s).astype(dtype), pool, strides, pads)
    y = np.full(y_ref.shape, np.nan, dtype)
    dx = np.full(x.shape, np.nan, dtype)
    if kind == "max":
        argmax = np.full(y.shape, -1, np.int32)
        assert pooling.max_pool2d_forward(x, y, argmax, pool, strides, pads) is y
        pooling.max_pool2d_backward(dy, argmax, dx)
        # argmax names the pixel (h * W + w) each maximum came from
        winners = np.take_along_axis(x.reshape(n, h * w, c), argmax.reshape(n, -1, c), axis=1)
        np.testing.assert_array_equal(winners.reshape(y.shape), y)
    else:
        assert pooling.avg_pool2d_forward(x, y, pool, strides, pads) is y
        pooling.avg_pool2d_backward(dy, dx, pool, strides, pads)
    assert_rel(y, y_ref, dtype)
    assert_rel(dx, dx_ref, dtype)


def test_max_ties_go_to_the_first_pixel_and_nan_propagates():
    x = np.zeros((1, 2, 2, 2))
    x[0, 1, 0, 1] = np.nan
    y, argmax = np.empty((1, 1, 1, 2)), np.empty((1, 1, 1, 2), np.int32)
    pooling.max_pool2d_forward(x, y, argmax, (2, 2), (2, 2))
    assert y[0, 0, 0, 0] == 0 and argmax[0, 0, 0, 0] == 0
    assert np.isnan(y[0, 0, 0, 1]) and argmax[0, 0, 0, 1] == 2


@pytest.fixture
def threaded():
    previous = pooling._set_parallel_work(0)
    yield
    pooling._set_parallel_work(previous)


@pytest.mark.parametrize("kind", ["max", "average"])
def test_threaded_paths_agree(kind, threaded):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 6, 7, 3))
    pads = (0, 1, 1, 1)
    y_ref, dx_ref, dy = torch_pool(kind, x, lambda s: rng.standard_normal(s), (2, 3), (2, 2), pads)
    y, dx = np.empty(y_ref.shape), np.empty_like(x)
    if kind == "max":
        argmax = np.empty(y.shape, np.int32)
        pooling.max_pool2d_forward(x[:, :, ::1], y, argmax, (2, 3), (2, 2), pads)
        pooling.max_pool2d_backward(dy, argmax, dx)
    else:
        pooling.avg_pool2d_forward(x, y, (2, 3), (2, 2), pads)
        pooling.avg_pool2d_backward(dy, dx, (2, 3), (2, 2), pads)
    assert_rel(y, y_ref, np.float64)
    assert_rel(dx, dx_ref, np.float64)


def test_strided_inputs():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 6, 3))
    wide = np.zeros((2, 6, 12, 3))
    wide[:, :, ::2] = x
    y1, y2 = np.empty((2, 3, 3, 3)), np.empty((2, 3, 3, 3))
    pooling.avg_pool2d_forward(x, y1)
    pooling.avg_pool2d_forward(wide[:, :, ::2], y2)
    np.testing.assert_array_equal(y1, y2)
    dy = rng.standard_normal((3, 3, 3, 2)).transpose(3, 0, 1, 2)  # not C-contiguous
    d1, d2 = np.empty_like(x), np.empty_like(x)
    pooling.avg_pool2d_backward(np.ascontiguousarray(dy), d1)
    pooling.avg_pool2d_backward(dy, d2)
    np.testing.assert_array_equal(d1, d2)


def test_errors():
    x = np.zeros((2, 4, 4, 3))
    y = np.empty((2, 2, 2, 3))
    with pytest.raises(TypeError, match="argmax must be int32. Received: argmax.dtype=int64"):
        pooling.max_pool2d_forward(x, y, np.empty(y.shape, np.int64))
    with pytest.raises(ShapeError, match=r"out must have shape \(2, 2, 2, 3\)"):
        pooling.max_pool2d_forward(x, np.empty((2, 3, 3, 3)), np.empty((2, 3, 3, 3), np.int32))
    with pytest.raises(ValueError, match="padding must be smaller than the pool"):
        pooling.avg_pool2d_forward(x, np.empty((2, 3, 3, 3)), padding=(2, 0, 0, 0))
    with pytest.raises(ShapeError, match=r"padded input \(4, 4\) is smaller than the pool \(5, 5\)"):
        pooling.avg_pool2d_forward(x, y, (5, 5), (1, 1))
    with pytest.raises(TypeError, match="x must have the same dtype as out"):
        pooling.avg_pool2d_forward(x.astype(np.float32), y)
    argmax = np.full(y.shape, 16, np.int32)  # out of range for a 4x4 image
    with pytest.raises(ValueError, match=r"argmax holds an index outside \[0, H\*W\) = \[0, 16\)"):
        pooling.max_pool2d_backward(np.ones_like(y), argmax, np.empty_like(x))
    with pytest.raises(ShapeError, match=r"dy must have shape \(2, 2, 2, 3\)"):
        pooling.avg_pool2d_backward(np.ones((2, 3, 2, 3)), np.empty_like(x))
