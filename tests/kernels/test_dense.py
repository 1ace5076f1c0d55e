"""corelib.kernels.dense against NumPy: layouts, accumulation, errors."""

import numpy as np
import pytest

from corelib.errors import ShapeError
from corelib.kernels import dense

from ._helpers import DTYPES, assert_close, layout

LAYOUTS = ("c", "strided", "rows", "fortran")


def _data(n, k, m, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, k)).astype(dtype)
    w = rng.standard_normal((k, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    dy = rng.standard_normal((n, m)).astype(dtype)
    return x, w, b, dy


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_layout", LAYOUTS)
@pytest.mark.parametrize("w_layout", LAYOUTS)
@pytest.mark.parametrize("bias", [True, False])
def test_forward_matches_numpy(dtype, x_layout, w_layout, bias):
    x, w, b, _ = _data(7, 5, 3, dtype)
    out = np.full((7, 3), np.nan, dtype)
    result = dense.linear_forward(layout(x, x_layout), layout(w, w_layout), b if bias else None, out)
    assert result is out
    expected = x.astype(np.float64) @ w + (b if bias else 0)
    assert_close(out, expected, dtype, scale=np.abs(x) @ np.abs(w) + np.abs(b))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_layout", LAYOUTS)
@pytest.mark.parametrize("w_layout", ("c", "fortran", "strided"))
@pytest.mark.parametrize("dy_layout", LAYOUTS)
def test_backward_matches_numpy(dtype, x_layout, w_layout, dy_layout):
    x, w, b, dy = _data(6, 4, 5, dtype, seed=1)
    dx = np.full_like(x, np.nan)  # must be overwritten, never read
    dw = np.full_like(w, 0.5)
    db = np.full_like(b, -0.25)
    dense.linear_backward(layout(x, x_layout), layout(w, w_layout), layout(dy, dy_layout), dx, dw, db)
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    assert_close(dx, dy64 @ w64.T, dtype, scale=np.abs(dy) @ np.abs(w).T)
    assert_close(dw, 0.5 + x64.T @ dy64, dtype, scale=np.abs(x).T @ np.abs(dy) + 0.5)
    assert_close(db, -0.25 + dy64.sum(0), dtype, scale=np.abs(dy).sum(0) + 0.25)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 3, 70])
def test_threaded_paths(dtype, n, threaded):
    # Bias fill over rows, bias-gradient sum over column blocks of 64 (several
    # blocks and a ragged last one): same results as the serial loops.
    x, w, b, dy = _data(n, 20, 64 * 3 + 7, dtype, seed=2)
    out = np.empty_like(dy)
    dense.linear_forward(x, w, b, out)
    assert_close(out, x.astype(np.float64) @ w + b, dtype, scale=np.abs(x) @ np.abs(w) + np.abs(b))
    db = np.zeros(199, dtype)
    dense.linear_backward(x, w, layout(dy, "strided"), None, None, db)
    assert_close(db, dy.astype(np.float64).sum(0), dtype, scale=np.abs(dy).sum(0))
    serial_db = np.zeros_like(db)
    previous = dense._set_parallel_work(-1)
    dense.linear_backward(x, w, dy, None, None, serial_db)
    dense._set_parallel_work(previous)
    np.testing.assert_array_equal(db, serial_db)


def test_backward_is_bit_for_bit_repeatable():
    x, w, _, dy = _data(257, 33, 300, np.float32, seed=4)
    results = []
    for _ in range(3):
        dx, dw, db = np.empty_like(x), np.zeros_like(w), np.zeros(300, np.float32)
        dense.linear_backward(x, w, dy, dx, dw, db)
        results.append((dx, dw, db))
    for dx, dw, db in results[1:]:
        assert np.array_equal(dx, results[0][0])
        assert np.array_equal(dw, results[0][1])
        assert np.array_equal(db, results[0][2])


def test_backward_optional_outputs():
    x, w, b, dy = _data(5, 4, 3, np.float64, seed=5)
    dw = np.zeros_like(w)
    dense.linear_backward(x, w, dy, None, dw, None)
    np.testing.assert_allclose(dw, x.T @ dy, rtol=1e-12)
    dx = np.empty_like(x)
    dense.linear_backward(None, w, dy, dx, None, None)  # x may be None without dw
    np.testing.assert_allclose(dx, dy @ w.T, rtol=1e-12)
    with pytest.raises(ValueError, match="x is needed to compute dw"):
        dense.linear_backward(None, w, dy, dx, dw, None)


@pytest.mark.parametrize("n,k,m", [(0, 4, 3), (5, 0, 3), (5, 4, 0)])
def test_empty_dimensions(n, k, m):
    x, w, b, dy = _data(n, k, m, np.float64)
    out = np.full((n, m), np.nan)
    dense.linear_forward(x, w, b, out)
    np.testing.assert_array_equal(out, np.broadcast_to(b, (n, m)) + x @ w)
    dx, dw, db = np.full((n, k), np.nan), np.ones((k, m)), np.ones(m)
    dense.linear_backward(x, w, dy, dx, dw, db)
    np.testing.assert_array_equal(dx, dy @ w.T)
    np.testing.assert_array_equal(dw, 1 + x.T @ dy)
    np.testing.assert_array_equal(db, 1 + dy.sum(0))


def test_read_only_and_byte_swapped_inputs_are_accepted():
    x, w, b, dy = _data(4, 3, 2, np.float64)
    x.flags.writeable = False
    out = np.empty((4, 2))
    dense.linear_forward(x, w.astype(">f8"), b, out)
    np.testing.assert_allclose(out, x @ w + b, rtol=1e-12)


def test_dtype_errors():
    x, w, b, dy = _data(4, 3, 2, np.float32)
    out = np.empty((4, 2), np.float32)
    with pytest.raises(TypeError, match=r"x must have the same dtype as out \(float32\).*float64"):
        dense.linear_forward(x.astype(np.float64), w, b, out)
    with pytest.raises(TypeError, match="out must be float32 or float64.*int64"):
        dense.linear_forward(x, w, b, out.astype(np.int64))
    with pytest.raises(TypeError, match="b must have the same dtype"):
        dense.linear_forward(x, w, b.astype(np.float64), out)
    with pytest.raises(TypeError, match="w must be a numpy.ndarray.*list"):
        dense.linear_forward(x, w.tolist(), b, out)
    with pytest.raises(TypeError, match="dw must have the same dtype as dy"):
        dense.linear_backward(x, w, dy, None, w.astype(np.float64), None)


def test_shape_errors_name_the_shapes():
    x, w, b, dy = _data(4, 3, 2, np.float32)
    out = np.empty((4, 2), np.float32)
    with pytest.raises(ShapeError, match=r"x.shape\[1\] must equal w.shape\[0\].*x.shape=\(4, 3\), w.shape=\(2, 2\)"):
        dense.linear_forward(x, w[:2], b, out)
    with pytest.raises(ValueError, match=r"out must have shape \(4, 2\).*out.shape=\(4, 3\)"):
        dense.linear_forward(x, w, b, np.empty((4, 3), np.float32))
    with pytest.raises(ShapeError, match=r"b must have shape \(2,\).*b.shape=\(3,\)"):
        dense.linear_forward(x, w, np.zeros(3, np.float32), out)
    with pytest.raises(ShapeError, match=r"x must be 2D.*x.shape=\(12,\)"):
        dense.linear_forward(x.ravel(), w, b, out)
    with pytest.raises(ShapeError, match=r"dx must have shape \(4, 3\).*dx.shape=\(3, 4\)"):
        dense.linear_backward(x, w, dy, np.empty((3, 4), np.float32), None, None)
    with pytest.raises(ShapeError, match=r"x must have shape \(4, 3\).*x.shape=\(5, 3\)"):
        dense.linear_backward(np.zeros((5, 3), np.float32), w, dy, None, np.zeros_like(w), None)


def test_output_layout_errors():
    x, w, b, dy = _data(4, 3, 2, np.float32)
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        dense.linear_forward(x, w, b, np.empty((2, 4), np.float32).T)
    readonly = np.empty((4, 2), np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writeable"):
        dense.linear_forward(x, w, b, readonly)
    with pytest.raises(ValueError, match="dw must be C-contiguous"):
        dense.linear_backward(x, w, dy, None, np.zeros((6, 2), np.float32)[::2], None)


def test_outputs_must_not_alias_inputs():
    x, w, b, dy = _data(3, 3, 3, np.float64)
    with pytest.raises(ValueError, match="out must not share memory with x"):
        dense.linear_forward(x, w, b, x)
    with pytest.raises(ValueError, match="dx must not share memory with dy"):
        dense.linear_backward(x, w, dy, dy, None, None)
    with pytest.raises(ValueError, match="dw must not share memory with w"):
        dense.linear_backward(x, w, dy, None, w, None)


hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(
    n=st.integers(0, 9), k=st.integers(0, 9), m=st.integers(0, 9),
    x_layout=st.sampled_from(LAYOUTS), w_layout=st.sampled_from(LAYOUTS),
    dy_layout=st.sampled_from(LAYOUTS), bias=st.booleans(), dtype=st.sampled_from(DTYPES),
)
def test_any_shape_and_layout(n, k, m, x_layout, w_layout, dy_layout, bias, dtype):
    x, w, b, dy = _data(n, k, m, dtype, seed=n * 100 + k * 10 + m)
    out = np.full((n, m), np.nan, dtype)
    dense.linear_forward(layout(x, x_layout), layout(w, w_layout), b if bias else None, out)
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    assert_close(out, x64 @ w64 + (b if bias else 0), dtype, scale=np.abs(x) @ np.abs(w) + np.abs(b))
    dx, dw, db = np.full_like(x, np.nan), np.ones_like(w), np.ones_like(b)
    dense.linear_backward(layout(x, x_layout), layout(w, w_layout), layout(dy, dy_layout), dx, dw, db)
    assert_close(dx, dy64 @ w64.T, dtype, scale=np.abs(dy) @ np.abs(w).T)
    assert_close(dw, 1 + x64.T @ dy64, dtype, scale=np.abs(x).T @ np.abs(dy) + 1)
    assert_close(db, 1 + dy64.sum(0), dtype, scale=np.abs(dy).sum(0) + 1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n", [0, 1, 7, 300])
def test_forward_with_fused_relu_matches_numpy(dtype, bias, n, threaded):
    x, w, b, _ = _data(n, 9, 70, dtype)
    out = np.full((n, 70), np.nan, dtype)
    assert dense.linear_forward(x, w, b if bias else None, out, relu=True) is out
    assert_close(out, np.maximum(x.astype(np.float64) @ w + (b if bias else 0), 0), dtype, scale=3.0)
