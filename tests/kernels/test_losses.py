"""corelib.kernels.losses against NumPy, finite differences and torch."""

import numpy as np
import pytest
from scipy.special import log_softmax, softmax

from corelib.errors import ShapeError
from corelib.kernels import losses

from ._helpers import DTYPES, assert_close, directional_fd, layout

EPS = 1e-7
DELTA = 0.7
DENSE = ("softmax_cross_entropy", "categorical_crossentropy", "sigmoid_binary_crossentropy",
         "binary_crossentropy", "mean_squared_error", "mean_absolute_error", "huber")
SPARSE = ("sparse_softmax_cross_entropy", "sparse_categorical_crossentropy")
PARAM = {"categorical_crossentropy": EPS, "sparse_categorical_crossentropy": EPS,
         "binary_crossentropy": EPS, "huber": DELTA}


def call(name, pred, target, loss_out, grad_out):
    args = (pred, target, loss_out, grad_out)
    return getattr(losses, name)(*args, PARAM[name]) if name in PARAM else getattr(losses, name)(*args)


def _bounds(dtype):
    """The clip bounds as the kernel holds them: rounded to the input dtype
    (in float32, 1 - 1e-7 is 1 - 2**-23)."""
    return float(np.asarray(EPS, dtype)), float(np.asarray(1 - EPS, dtype))


def _categorical_ref(p, t, dtype):
    lo, hi = _bounds(dtype)
    s = p.sum(1, keepdims=True)
    q = p / s
    c = np.clip(q, lo, hi)
    g = np.where((q >= lo) & (q <= hi), -t / c, 0.0)
    return -(t * np.log(c)).sum(1), (g - (g * q).sum(1, keepdims=True)) / s


def reference(name, pred, target):
    """Float64 (per-sample loss, per-sample gradient), transcribed from Keras 3."""
    p = pred.astype(np.float64)
    d = p.shape[1]
    if name in SPARSE:
        t = np.eye(d)[target]
    else:
        t = target.astype(np.float64)
    e = p - t
    if name in ("softmax_cross_entropy", "sparse_softmax_cross_entropy"):
        return -(t * log_softmax(p, axis=1)).sum(1), softmax(p, axis=1) * t.sum(1, keepdims=True) - t
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        return _categorical_ref(p, t, pred.dtype)
    if name == "sigmoid_binary_crossentropy":
        loss = np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p)))
        return loss.mean(1), (0.5 * (1 + np.tanh(0.5 * p)) - t) / d
    if name == "binary_crossentropy":
        lo, hi = _bounds(pred.dtype)
        c = np.clip(p, lo, hi)
        inside = (p >= lo) & (p <= hi)
        one_minus_c = (1 - c.astype(pred.dtype)).astype(np.float64)  # rounded as the kernel does
        loss = -(t * np.log(c) + (1 - t) * np.log(one_minus_c))
        return loss.mean(1), np.where(inside, -t / c + (1 - t) / one_minus_c, 0) / d
    if name == "mean_squared_error":
        return (e * e).mean(1), 2 * e / d
    if name == "mean_absolute_error":
        return np.abs(e).mean(1), np.sign(e) / d
    if name == "huber":
        a = np.abs(e)
        loss = np.where(a <= DELTA, 0.5 * e * e, DELTA * a - 0.5 * DELTA**2)
        return loss.mean(1), np.where(a <= DELTA, e, DELTA * np.sign(e)) / d
    raise ValueError(name)


def make(name, n, d, dtype, seed=0):
    """Inputs in each loss's domain, away from clip bounds and kinks."""
    rng = np.random.default_rng(seed)
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        pred = rng.uniform(0.1, 1.0, (n, d)) * 3  # unnormalised on purpose
    elif name == "binary_crossentropy":
        pred = rng.uniform(0.02, 0.98, (n, d))
    else:
        pred = rng.standard_normal((n, d)) * 2
    if name in SPARSE:
        target = rng.integers(0, d, n)
    elif name in ("softmax_cross_entropy", "categorical_crossentropy"):
        target = rng.dirichlet(np.ones(d), n)
    elif name in ("sigmoid_binary_crossentropy", "binary_crossentropy"):
        target = rng.uniform(0, 1, (n, d))
    else:
        target = pred + rng.choice([-1, 1], (n, d)) * rng.uniform(0.05, 1.5, (n, d))
    target = target if name in SPARSE else target.astype(dtype)
    return pred.astype(dtype), target


@pytest.mark.parametrize("name", DENSE + SPARSE)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["c", "strided", "fortran"])
def test_matches_numpy(name, dtype, kind):
    pred, target = make(name, 6, 5, dtype)
    loss, grad = np.full(6, np.nan, dtype), np.full((6, 5), np.nan, dtype)
    t_in = target if name in SPARSE else layout(target, kind)
    assert call(name, layout(pred, kind), t_in, loss, grad) is loss
    ref_loss, ref_grad = reference(name, pred, target)
    assert_close(loss, ref_loss, dtype, scale=np.abs(ref_loss), rtol_factor=2)
    assert_close(grad, ref_grad, dtype, scale=np.abs(ref_grad), rtol_factor=4)


@pytest.mark.parametrize("name", DENSE + SPARSE)
def test_gradient_matches_finite_differences(name):
    pred, target = make(name, 4, 6, np.float64, seed=1)
    weights = np.random.default_rng(2).uniform(0.5, 1.5, 4)
    loss, grad = np.empty(4), np.empty((4, 6))
    call(name, pred, target, loss, grad)

    def total(p):
        out = np.empty(4)
        return float(weights @ call(name, p, target, out, None))

    for seed in range(3):
        v = np.random.default_rng(seed).standard_normal(pred.shape)
        fd = directional_fd(total, pred, v, h=1e-6)
        np.testing.assert_allclose(((weights[:, None] * grad) * v).sum(), fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", DENSE + SPARSE)
@pytest.mark.parametrize("dtype", DTYPES)
def test_threaded_path(name, dtype, threaded):
    pred, target = make(name, 300, 257, dtype, seed=3)
    loss, grad = np.empty(300, dtype), np.empty((300, 257), dtype)
    call(name, pred, target, loss, grad)
    ref_loss, ref_grad = reference(name, pred, target)
    assert_close(loss, ref_loss, dtype, scale=np.abs(ref_loss), rtol_factor=4)
    assert_close(grad, ref_grad, dtype, scale=np.abs(ref_grad), rtol_factor=4)
    # the same rows computed by separate calls give the same bits (rows are
    # independent, and row chunks keep each row's loops whole)
    part_loss, part_grad = np.empty_like(loss), np.empty_like(grad)
    for r in range(0, 300, 100):
        call(name, pred[r:r + 100], target[r:r + 100], part_loss[r:r + 100], part_grad[r:r + 100])
    np.testing.assert_array_equal(part_loss, loss)
    np.testing.assert_array_equal(part_grad, grad)


@pytest.mark.parametrize("name", DENSE + SPARSE)
@pytest.mark.parametrize("n", [0, 1, 3])
def test_threaded_path_on_tiny_batches(name, n, threaded):
    pred, target = make(name, n, 4, np.float64, seed=8)
    loss, grad = np.empty(n), np.empty((n, 4))
    call(name, pred, target, loss, grad)
    ref_loss, ref_grad = reference(name, pred, target)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", DENSE + SPARSE)
def test_grad_out_none_and_in_place(name):
    pred, target = make(name, 5, 4, np.float64, seed=4)
    loss, grad = np.empty(5), np.empty((5, 4))
    call(name, pred, target, loss, grad)
    loss_only = np.empty(5)
    call(name, pred, target, loss_only, None)
    # The loss-only loop is compiled separately, and there the libm calls may
    # be vectorized differently: equal up to the last bit or two.
    np.testing.assert_allclose(loss_only, loss, rtol=1e-15)
    in_place, loss2 = pred.copy(), np.empty(5)
    call(name, in_place, target, loss2, in_place)  # grad overwrites pred
    np.testing.assert_array_equal(loss2, loss)
    np.testing.assert_array_equal(in_place, grad)
    if name in DENSE:
        t2 = target.copy()
        call(name, pred, t2, loss2, t2)  # grad overwrites target
        np.testing.assert_array_equal(t2, grad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax_cross_entropy", "sparse_softmax_cross_entropy",
                                  "sigmoid_binary_crossentropy"])
def test_huge_logits_are_stable(name, dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [5.0, 5.0, 5.0]], dtype)
    labels = np.array([1, 2, 0])
    target = labels if name in SPARSE else np.eye(3, dtype=dtype)[labels]
    loss, grad = np.empty(3, dtype), np.empty((3, 3), dtype)
    call(name, z, target, loss, grad)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    ref_loss, ref_grad = reference(name, z, target)
    assert_close(loss, ref_loss, dtype, scale=np.abs(ref_loss))
    assert_close(grad, ref_grad, dtype, scale=1.0)
    if name != "sigmoid_binary_crossentropy":
        np.testing.assert_allclose(loss, [2e4, 0.0, np.log(3)], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy",
                                  "binary_crossentropy"])
def test_probabilities_of_exactly_zero_and_one(name, dtype):
    probs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype)
    labels = np.array([0, 2, 1])
    target = labels if name in SPARSE else np.eye(3, dtype=dtype)[labels]
    loss, grad = np.empty(3, dtype), np.empty((3, 3), dtype)
    call(name, probs, target, loss, grad)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    ref_loss, ref_grad = reference(name, probs, target)
    assert_close(loss, ref_loss, dtype, rtol_factor=10)
    assert loss[0] < 1e-5 and loss[1] > 10  # right answer ~0, wrong answer -log(eps)


def test_label_errors():
    z = np.zeros((3, 4), np.float32)
    loss, grad = np.empty(3, np.float32), np.empty((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\).*labels\[1\]=4"):
        losses.sparse_softmax_cross_entropy(z, np.array([0, 4, 1]), loss, grad)
    with pytest.raises(ValueError, match=r"labels\[2\]=-1"):
        losses.sparse_categorical_crossentropy(z + 0.25, np.array([0, 1, -1]), loss, grad)
    with pytest.raises(TypeError, match="labels must be an integer array.*float64"):
        losses.sparse_softmax_cross_entropy(z, np.array([0.0, 1.0, 2.0]), loss, grad)
    with pytest.raises(ShapeError, match=r"labels must have shape \(3,\).*labels.shape=\(2,\)"):
        losses.sparse_softmax_cross_entropy(z, np.array([0, 1]), loss, grad)


def test_label_dtypes_and_column_labels_are_accepted():
    z = np.random.default_rng(5).standard_normal((3, 4))
    expected = np.empty(3)
    losses.sparse_softmax_cross_entropy(z, np.array([0, 3, 1]), expected, None)
    for labels in (np.array([0, 3, 1], np.int32), np.array([[0], [3], [1]]), np.array([0, 3, 1], np.uint8)):
        loss = np.empty(3)
        losses.sparse_softmax_cross_entropy(z, labels, loss, None)
        np.testing.assert_array_equal(loss, expected)


def test_argument_errors():
    p, t = np.full((3, 4), 0.25, np.float32), np.full((3, 4), 0.25, np.float32)
    loss, grad = np.empty(3, np.float32), np.empty((3, 4), np.float32)
    with pytest.raises(ShapeError, match=r"target must have the same shape as probs.*\(3, 5\)"):
        losses.categorical_crossentropy(p, np.zeros((3, 5), np.float32), loss, grad)
    with pytest.raises(ShapeError, match=r"loss_out must have shape \(3,\).*\(4,\)"):
        losses.mean_squared_error(p, t, np.empty(4, np.float32), grad)
    with pytest.raises(ShapeError, match=r"grad_out must have the same shape as pred"):
        losses.mean_squared_error(p, t, loss, np.empty((4, 3), np.float32))
    with pytest.raises(TypeError, match="target must have the same dtype as pred"):
        losses.mean_squared_error(p, t.astype(np.float64), loss, grad)
    with pytest.raises(TypeError, match="loss_out must have the same dtype"):
        losses.mean_squared_error(p, t, loss.astype(np.float64), grad)
    with pytest.raises(ShapeError, match="at least one column"):
        losses.mean_squared_error(p[:, :0], t[:, :0], loss, None)
    with pytest.raises(ShapeError, match=r"logits must be 2D.*\(12,\)"):
        losses.softmax_cross_entropy(p.ravel(), t.ravel(), loss, None)
    with pytest.raises(ValueError, match="epsilon must be in"):
        losses.binary_crossentropy(p, t, loss, grad, 0.0)
    with pytest.raises(ValueError, match="delta must be positive.*-1"):
        losses.huber(p, t, loss, grad, -1.0)
    with pytest.raises(ValueError, match="loss_out must not share memory with grad_out"):
        losses.mean_squared_error(p, t, grad.reshape(-1)[:3], grad)
    with pytest.raises(ValueError, match="grad_out must be C-contiguous"):
        losses.mean_squared_error(p, t, loss, np.empty((4, 3), np.float32).T)


def _torch_loss(torch, name, pred, target):
    fn = torch.nn.functional
    if name == "softmax_cross_entropy":
        return fn.cross_entropy(pred, target, reduction="none")
    if name == "sparse_softmax_cross_entropy":
        return fn.cross_entropy(pred, target, reduction="none")
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        t = fn.one_hot(target, pred.shape[1]).double() if name in SPARSE else target
        q = torch.clamp(pred / pred.sum(1, keepdim=True), EPS, 1 - EPS)
        return -(t * torch.log(q)).sum(1)
    if name == "sigmoid_binary_crossentropy":
        return fn.binary_cross_entropy_with_logits(pred, target, reduction="none").mean(1)
    if name == "binary_crossentropy":
        return fn.binary_cross_entropy(torch.clamp(pred, EPS, 1 - EPS), target, reduction="none").mean(1)
    if name == "mean_squared_error":
        return fn.mse_loss(pred, target, reduction="none").mean(1)
    if name == "mean_absolute_error":
        return fn.l1_loss(pred, target, reduction="none").mean(1)
    return fn.huber_loss(pred, target, reduction="none", delta=DELTA).mean(1)


@pytest.mark.parametrize("name", DENSE + SPARSE)
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    pred, target = make(name, 5, 6, np.float64, seed=6)
    weights = np.random.default_rng(7).uniform(0.5, 1.5, 5)
    pt = torch.tensor(pred, requires_grad=True)
    tt = torch.tensor(target)
    lt = _torch_loss(torch, name, pt, tt)
    (lt * torch.tensor(weights)).sum().backward()
    loss, grad = np.empty(5), np.empty((5, 6))
    call(name, pred, target, loss, grad)
    np.testing.assert_allclose(loss, lt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(weights[:, None] * grad, pt.grad.numpy(), rtol=1e-10, atol=1e-15)
