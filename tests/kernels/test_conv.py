"""corelib.kernels.conv against PyTorch's conv1d / conv2d: forward, data and filter gradients.

float64 to 1e-10 and float32 to 1e-4 (relative to the largest reference
entry); odd sizes, strides 1 and 2, "valid" and "same" padding (Keras's,
which puts the odd pad after), dilation, groups, batch of 1, strided inputs.
"""

import math

import numpy as np
import pytest

from corelib.errors import ShapeError
from corelib.kernels import conv

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float32: 1e-4, np.float64: 1e-10}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def same_pads(length, k, stride, dilation):
    """Keras/TensorFlow "same": enough zeros for ceil(length / stride) outputs, the odd one after."""
    span = (k - 1) * dilation + 1
    total = max((math.ceil(length / stride) - 1) * stride + span - length, 0)
    return total // 2, total - total // 2


def assert_rel(actual, expected, dtype):
    scale = max(float(np.max(np.abs(expected))), 1e-30)
    err = float(np.max(np.abs(np.asarray(actual, np.float64) - expected))) / scale
    assert err <= TOL[dtype], f"relative error {err:.3g} > {TOL[dtype]:g}"


def torch_conv2d(x, w, b, dy, strides, pads, dilation, groups=1):
    """PyTorch's conv2d on NHWC data with a Keras (KH, KW, C/groups, F) kernel:
    (y, dx, dw, db) back in dl's layouts."""
    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    tw = torch.tensor(w.transpose(3, 2, 0, 1), requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    top, bottom, left, right = pads
    y = F.conv2d(F.pad(tx, (left, right, top, bottom)), tw, tb, stride=strides, dilation=dilation, groups=groups)
    y.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
    return (y.detach().numpy().transpose(0, 2, 3, 1), tx.grad.numpy().transpose(0, 2, 3, 1),
            tw.grad.numpy().transpose(2, 3, 1, 0), None if tb is None else tb.grad.numpy())


def run_conv2d(x, w, b, dy, strides, pads, dilation, groups=1, use_col=True):
    n, h, wd, _ = x.shape
    kh, kw = w.shape[:2]
    oh = (h + pads[0] + pads[1] - (kh - 1) * dilation[0] - 1) // strides[0] + 1
    ow = (wd + pads[2] + pads[3] - (kw - 1) * dilation[1] - 1) // strides[1] + 1
    out = np.full((n, oh, ow, w.shape[3]), np.nan, x.dtype)
    col = np.empty((n * oh * ow, kh * kw * x.shape[3]), x.dtype) if use_col else None
    assert conv.conv2d_forward(x, w, b, out, strides, pads, dilation, col=col, groups=groups) is out
    dx = np.full(x.shape, np.nan, x.dtype)
    dw = np.full(w.shape, 0.5, x.dtype)
    db = None if b is None else np.full(b.shape, -0.25, x.dtype)
    conv.conv2d_backward(x, w, dy, dx, dw, db, strides, pads, dilation, col=col, col_ready=use_col, groups=groups)
    return out, dx, dw - 0.5, None if b is None else db + 0.25


# (N, H, W, C, KH, KW, F, strides, padding, dilation, groups)
CASES_2D = [
    (2, 7, 9, 3, 3, 3, 4, (1, 1), "valid", (1, 1), 1),
    (2, 7, 9, 3, 3, 2, 5, (2, 2), "valid", (1, 1), 1),
    (1, 8, 7, 2, 3, 3, 4, (1, 1), "same", (1, 1), 1),  # batch of 1
    (3, 9, 6, 4, 2, 3, 3, (2, 2), "same", (1, 1), 1),  # asymmetric "same" pads
    (2, 9, 11, 2, 3, 3, 3, (1, 1), "valid", (2, 3), 1),  # dilation
    (2, 10, 9, 3, 3, 2, 2, (2, 1), "same", (2, 1), 1),
    (2, 5, 5, 6, 3, 3, 4, (1, 1), "same", (1, 1), 2),  # groups
    (3, 9, 8, 1, 3, 3, 5, (1, 1), "same", (1, 1), 1),  # the first layer of an image model: K = 9
    (2, 9, 8, 1, 3, 3, 5, (2, 2), "valid", (2, 1), 1),
    (2, 5, 7, 4, 1, 1, 6, (1, 1), "valid", (1, 1), 1),  # 1x1: x is the column matrix
    (1, 5, 7, 4, 1, 1, 6, (1, 1), "valid", (1, 1), 2),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES_2D, ids=lambda c: "x".join(map(str, c[:7])) + f"-s{c[7]}-{c[8]}-d{c[9]}-g{c[10]}")
def test_conv2d_matches_torch(case, dtype):
    n, h, w_, c, kh, kw, f, strides, padding, dilation, groups = case
    rng = np.random.default_rng(hash(case) % 2**32)
    x = rng.standard_normal((n, h, w_, c)).astype(dtype)
    w = rng.standard_normal((kh, kw, c // groups, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    if padding == "same":
        pads = same_pads(h, kh, strides[0], dilation[0]) + same_pads(w_, kw, strides[1], dilation[1])
    else:
        pads = (0, 0, 0, 0)
    y_ref = F.conv2d(F.pad(torch.tensor(x.transpose(0, 3, 1, 2)), (pads[2], pads[3], pads[0], pads[1])),
                     torch.tensor(w.transpose(3, 2, 0, 1)), stride=strides, dilation=dilation, groups=groups)
    dy = rng.standard_normal((n, y_ref.shape[2], y_ref.shape[3], f)).astype(dtype)
    want = torch_conv2d(x, w, b, dy, strides, pads, dilation, groups)
    got = run_conv2d(x, w, b, dy, strides, pads, dilation, groups)
    for name, a, e in zip(("y", "dx", "dw", "db"), got, want):
        assert a.shape == e.shape, name
        assert_rel(a, e, dtype)
    if padding == "same":
        assert want[0].shape[1:3] == (math.ceil(h / strides[0]), math.ceil(w_ / strides[1]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_strided_inputs_and_recomputed_columns(dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 7, 12, 3)).astype(dtype)
    w = rng.standard_normal((3, 3, 3, 4)).astype(dtype)
    dy = rng.standard_normal((2, 3, 6, 4)).astype(dtype)
    pads, strides = (1, 0, 0, 1), (2, 2)
    want = run_conv2d(x, w, None, dy, strides, pads, (1, 1))
    wide = np.zeros((2, 7, 24, 3), dtype)
    wide[:, :, ::2] = x
    got = run_conv2d(wide[:, :, ::2], np.asfortranarray(w), None, np.moveaxis(np.moveaxis(dy, 3, 0).copy(), 0, 3),
                     strides, pads, (1, 1), use_col=False)
    for a, e in zip(got[:3], want[:3]):
        np.testing.assert_allclose(a, e, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k,stride,padding,dilation", [(3, 1, "valid", 1), (5, 2, "same", 1), (3, 1, "causal", 2),
                                                       (4, 2, "valid", 2)])
def test_conv1d_matches_torch(dtype, k, stride, padding, dilation):
    rng = np.random.default_rng(k * 10 + stride)
    n, length, c, f = 3, 17, 4, 5
    x = rng.standard_normal((n, length, c)).astype(dtype)
    w = rng.standard_normal((k, c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    if padding == "same":
        pads = same_pads(length, k, stride, dilation)
    elif padding == "causal":
        pads = ((k - 1) * dilation, 0)
    else:
        pads = (0, 0)
    tx = torch.tensor(x.transpose(0, 2, 1), requires_grad=True)
    tw = torch.tensor(w.transpose(2, 1, 0), requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    ty = F.conv1d(F.pad(tx, pads), tw, tb, stride=stride, dilation=dilation)
    dy = rng.standard_normal((n, ty.shape[2], f)).astype(dtype)
    ty.backward(torch.tensor(dy.transpose(0, 2, 1)))
    out = np.empty((n, ty.shape[2], f), dtype)
    conv.conv1d_forward(x, w, b, out, stride, pads, dilation)
    dx, dw, db = np.empty_like(x), np.zeros_like(w), np.zeros_like(b)
    conv.conv1d_backward(x, w, dy, dx, dw, db, stride, pads, dilation)
    assert_rel(out, ty.detach().numpy().transpose(0, 2, 1), dtype)
    assert_rel(dx, tx.grad.numpy().transpose(0, 2, 1), dtype)
    assert_rel(dw, tw.grad.numpy().transpose(2, 1, 0), dtype)
    assert_rel(db, tb.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("groups,chunk_rows", [(1, 1), (1, 7), (2, 5), (2, 40)])
def test_chunked_column_matrix_matches_torch(dtype, groups, chunk_rows):
    # A col smaller than the whole column matrix: rows are built and multiplied
    # in chunks (ragged last chunk included), and rebuilt in the backward pass.
    rng = np.random.default_rng(chunk_rows)
    x = rng.standard_normal((3, 5, 6, 4)).astype(dtype)
    w = rng.standard_normal((3, 2, 4 // groups, 6)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    dy = rng.standard_normal((3, 3, 3, 6)).astype(dtype)
    pads, strides = (1, 1, 1, 0), (2, 2)
    kg = 3 * 2 * 4 // groups
    col, dcol = np.empty(chunk_rows * kg, dtype), np.empty((chunk_rows, kg), dtype)
    out = np.empty((3, 3, 3, 6), dtype)
    conv.conv2d_forward(x, w, b, out, strides, pads, col=col, groups=groups)
    dx, dw, db = np.empty_like(x), np.zeros_like(w), np.zeros_like(b)
    conv.conv2d_backward(x, w, dy, dx, dw, db, strides, pads, col=col, dcol=dcol, groups=groups)
    want = torch_conv2d(x, w, b, dy, strides, pads, (1, 1), groups)
    for got, e in zip((out, dx, dw, db), want):
        assert_rel(got, e, dtype)


def test_column_workspace_keeps_the_whole_matrix_up_to_a_limit():
    assert conv.column_workspace(1000, 288) == (288_000, True)
    assert conv.column_workspace(1000, 288, groups=2, itemsize=8) == (576_000, True)
    elements, whole = conv.column_workspace(100_000, 288, full_limit=1 << 20)
    assert not whole and elements % 288 == 0 and 128 * 288 <= elements < 100_000 * 288
    assert conv.column_workspace(50, 288, full_limit=0) == (50 * 288, False)  # a chunk never exceeds the rows


def test_backward_parts_are_independent_and_accumulate():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 6, 3))
    w = rng.standard_normal((3, 3, 3, 2))
    dy = rng.standard_normal((2, 6, 6, 2))
    pads = (1, 1, 1, 1)
    _, dx_ref, dw_ref, db_ref = torch_conv2d(x, w, np.zeros(2), dy, (1, 1), pads, (1, 1))
    dx = np.empty_like(x)
    conv.conv2d_backward(x, w, dy, dx, None, None, padding=pads)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    dw, db = np.zeros_like(w), np.zeros(2)
    for _ in range(2):  # dw and db accumulate
        conv.conv2d_backward(x, w, dy, None, dw, db, padding=pads)
    np.testing.assert_allclose(dw, 2 * dw_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, 2 * db_ref, rtol=1e-12, atol=1e-12)


def test_bias_gradient_alone_returns():
    # Regression: with neither dx nor dw no column chunk is sized, and the
    # row loop used to step by 0 rows forever.
    rng = np.random.default_rng(7)
    x, w, dy = rng.standard_normal((2, 5, 5, 3)), rng.standard_normal((3, 3, 3, 4)), rng.standard_normal((2, 3, 3, 4))
    db = np.zeros(4)
    conv.conv2d_backward(x, w, dy, None, None, db)
    conv.conv1d_backward(x[:, 0], w[0], dy[:, 0], None, None, db)
    np.testing.assert_allclose(db, dy.sum((0, 1, 2)) + dy[:, 0].sum((0, 1)), rtol=1e-12)
    conv.conv2d_backward(x, w, dy, None, None, None)  # nothing at all


@pytest.fixture
def threaded():
    previous = conv._set_parallel_work(0)
    yield
    conv._set_parallel_work(previous)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_threaded_paths_agree(dtype, threaded):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 7, 8, 3)).astype(dtype)
    w = rng.standard_normal((3, 2, 3, 4)).astype(dtype)
    dy = rng.standard_normal((5, 4, 4, 4)).astype(dtype)
    pads, strides = (1, 1, 0, 1), (2, 2)
    got = run_conv2d(x, w, None, dy, strides, pads, (1, 1))
    want = torch_conv2d(x, w, None, dy, strides, pads, (1, 1))
    for a, e in zip(got[:3], want[:3]):
        assert_rel(a, e, dtype)


def test_empty_batch_is_a_no_op():
    x = np.zeros((0, 5, 5, 2))
    w = np.ones((3, 3, 2, 4))
    out = np.empty((0, 3, 3, 4))
    conv.conv2d_forward(x, w, None, out)
    dw = np.zeros_like(w)
    conv.conv2d_backward(x, w, out, np.empty_like(x), dw, None)
    assert not dw.any()


def test_errors_name_the_argument_and_shapes():
    x = np.zeros((2, 5, 5, 3))
    w = np.zeros((3, 3, 3, 4))
    with pytest.raises(TypeError, match=r"w must have the same dtype as out \(float64\).*float32"):
        conv.conv2d_forward(x, w.astype(np.float32), None, np.empty((2, 3, 3, 4)))
    with pytest.raises(TypeError, match="out must be float32 or float64"):
        conv.conv2d_forward(x, w, None, np.empty((2, 3, 3, 4), np.int64))
    with pytest.raises(ShapeError, match=r"out must have shape \(2, 3, 3, 4\).*Received: out.shape=\(2, 5, 5, 4\)"):
        conv.conv2d_forward(x, w, None, np.empty((2, 5, 5, 4)))
    with pytest.raises(ShapeError, match=r"w.shape\[2\] \* groups must equal x.shape\[3\]"):
        conv.conv2d_forward(x, np.zeros((3, 3, 2, 4)), None, np.empty((2, 3, 3, 4)))
    with pytest.raises(ShapeError, match=r"padded input \(5, 5\) is smaller than the dilated kernel \(5, 7\)"):
        conv.conv2d_forward(x, w, None, np.empty((2, 1, 1, 4)), dilation=(2, 3))
    with pytest.raises(ValueError, match=r"padding must be a tuple of 4 ints >= 0. Received: padding=\(1, -1, 0, 0\)"):
        conv.conv2d_forward(x, w, None, np.empty((2, 3, 3, 4)), padding=(1, -1, 0, 0))
    with pytest.raises(ValueError, match="strides must be a tuple of 2 ints >= 1"):
        conv.conv2d_forward(x, w, None, np.empty((2, 3, 3, 4)), strides=(0, 1))
    with pytest.raises(ShapeError, match=r"x must be 4D \(batch, height, width, channels\)"):
        conv.conv2d_forward(x[0], w, None, np.empty((2, 3, 3, 4)))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        conv.conv2d_forward(x, w, None, np.empty((2, 3, 3, 8))[..., ::2])
    with pytest.raises(ValueError, match="col_ready=True needs the col"):
        conv.conv2d_backward(x, w, np.zeros((2, 3, 3, 4)), None, np.zeros_like(w), None, col_ready=True)
    with pytest.raises(ShapeError, match=r"col must hold at least one row of KH\*KW\*C/groups = 27 entries"):
        conv.conv2d_forward(x, w, None, np.empty((2, 3, 3, 4)), col=np.empty(26))
    with pytest.raises(ValueError, match="col_ready=True needs the whole column matrix in col; it holds 2 of 18"):
        conv.conv2d_backward(x, w, np.zeros((2, 3, 3, 4)), None, np.zeros_like(w), None, col=np.empty((2, 27)),
                             col_ready=True)
    with pytest.raises(ShapeError, match=r"dy must have shape \(2, 3, 3, 4\)"):
        conv.conv2d_backward(x, w, np.zeros((2, 3, 4, 4)), None, np.zeros_like(w), None)
    buf = np.zeros(2 * 5 * 5 * 3)
    with pytest.raises(ValueError, match="out must not share memory with x"):
        conv.conv2d_forward(buf.reshape(2, 5, 5, 3), w, None, buf[: 2 * 3 * 3 * 4].reshape(2, 3, 3, 4))
    with pytest.raises(ShapeError, match=r"w must be 3D \(kernel_w, in_channels / groups, filters\)"):
        conv.conv1d_forward(np.zeros((2, 5, 3)), w, None, np.empty((2, 3, 4)))
