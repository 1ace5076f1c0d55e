"""Loss kernels: per-sample losses and the gradient of each sample's loss.

Every function takes a 2D prediction (N, D), a target of the same shape (or
integer labels (N,) for the sparse ones), writes the per-sample loss into
loss_out (N,) and d(loss_i)/d(pred_i) into grad_out (N, D), NOT divided by N.
Elementwise losses average over D (Keras: mean over the last axis).
grad_out may be None (loss only); it may also be pred or target itself.
Rows are independent, so results do not depend on the thread count.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int64_t

include "_common.pxi"
include "_fmath.pxi"
include "_loss_rows.pxi"

__all__ = [
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "sigmoid_binary_crossentropy",
    "binary_crossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "huber",
]

cdef int[9] _COST = [12, 12, 4, 4, 16, 8, 1, 1, 2]


# ---------------------------------------------------------------- drivers


cdef int _dense(int code, const floating[:, ::1] p, const floating[:, ::1] t,
                floating[::1] loss, floating[:, ::1] grad, bint has_grad,
                double param) except -1:
    cdef Py_ssize_t n = p.shape[0], step, c, nchunks
    cdef int nt = n_threads(n * p.shape[1] * _COST[code])
    cdef floating prm = <floating>param
    with nogil:
        if nt > 1:
            step = (n + nt - 1) // nt
            nchunks = (n + step - 1) // step
            for c in prange(nchunks, num_threads=nt, schedule="static"):
                _dense_rows(code, p, t, loss, grad, has_grad, prm, c * step, min(n, (c + 1) * step))
        elif n > 0:
            _dense_rows(code, p, t, loss, grad, has_grad, prm, 0, n)
    return 0


cdef int _sparse(int code, const floating[:, ::1] p, const int64_t[::1] labels,
                 floating[::1] loss, floating[:, ::1] grad, bint has_grad,
                 double param) except -1:
    cdef Py_ssize_t n = p.shape[0], step, c, nchunks
    cdef int nt = n_threads(n * p.shape[1] * _COST[code])
    cdef floating prm = <floating>param
    with nogil:
        if nt > 1:
            step = (n + nt - 1) // nt
            nchunks = (n + step - 1) // step
            for c in prange(nchunks, num_threads=nt, schedule="static"):
                _sparse_rows(code, p, labels, loss, grad, has_grad, prm, c * step,
                             min(n, (c + 1) * step))
        elif n > 0:
            _sparse_rows(code, p, labels, loss, grad, has_grad, prm, 0, n)
    return 0


cdef Py_ssize_t _first_bad_label(const int64_t[::1] labels, int64_t d) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(labels.shape[0]):
        if labels[i] < 0 or labels[i] >= d:
            return i
    return -1


# ---------------------------------------------------------------- checks


cdef tuple _outputs(object pred, object loss_out, object grad_out, str fn, str pname):
    """Check pred (2D, D >= 1) and the outputs; returns (pred, loss, grad)."""
    cdef cnp.ndarray p = as_ndarray(pred, fn, pname)
    cdef int t = float_typenum(p, fn, pname)
    cdef cnp.ndarray lo = output_array(loss_out, fn, "loss_out"), go = None
    check_ndim(p, 2, fn, pname, "(batch, classes or features)")
    if cnp.PyArray_DIM(p, 1) == 0:
        raise ShapeError(
            f"{fn}: {pname} needs at least one column. Received: {pname}.shape={shape_str(p)}"
        )
    check_same_dtype(lo, t, fn, "loss_out", pname)
    check_shape(lo, (cnp.PyArray_DIM(p, 0),), fn, "loss_out", f"= ({pname}.shape[0],)")
    if grad_out is not None:
        go = output_array(grad_out, fn, "grad_out")
        check_same_dtype(go, t, fn, "grad_out", pname)
        check_same_shape(go, p, fn, "grad_out", pname)
        if overlaps(go, lo):
            raise ValueError(f"{fn}: loss_out must not share memory with grad_out")
    return p, lo, go


cdef cnp.ndarray _ready(cnp.ndarray a, cnp.ndarray lo, cnp.ndarray go):
    """Input `a` made C-contiguous and safe to read while lo/go are written."""
    if go is not None:
        a = contiguous_input(a, go)
    else:
        a = contiguous_input(a, lo)
    if overlaps(a, lo):
        a = fresh_copy(a)
    return a


cdef object _dense_loss(int code, str fn, str pname, object pred, object target,
                        object loss_out, object grad_out, double param):
    p, lo, go = _outputs(pred, loss_out, grad_out, fn, pname)
    cdef cnp.ndarray t = as_ndarray(target, fn, "target")
    check_same_dtype(t, cnp.PyArray_TYPE(p), fn, "target", pname)
    check_same_shape(t, p, fn, "target", pname)
    p, t = _ready(p, lo, go), _ready(t, lo, go)
    g = go if go is not None else p  # never written when has_grad is False
    if cnp.PyArray_TYPE(p) == cnp.NPY_FLOAT32:
        _dense[float](code, p, t, lo, g, go is not None, param)
    else:
        _dense[double](code, p, t, lo, g, go is not None, param)
    return loss_out


cdef object _sparse_loss(int code, str fn, str pname, object pred, object labels,
                         object loss_out, object grad_out, double param):
    p, lo, go = _outputs(pred, loss_out, grad_out, fn, pname)
    cdef cnp.ndarray lab = as_ndarray(labels, fn, "labels")
    cdef Py_ssize_t bad, n = cnp.PyArray_DIM(p, 0)
    if lab.dtype.kind not in "iu":
        raise TypeError(
            f"{fn}: labels must be an integer array. Received: labels.dtype={lab.dtype}"
        )
    if cnp.PyArray_NDIM(lab) == 2 and cnp.PyArray_DIM(lab, 1) == 1:
        lab = lab.reshape(-1)
    check_shape(lab, (n,), fn, "labels", f"= ({pname}.shape[0],)")
    if cnp.PyArray_TYPE(lab) != cnp.NPY_INT64 or not cnp.PyArray_ISCARRAY_RO(lab):
        lab = np.ascontiguousarray(lab, dtype=np.int64)
    bad = _first_bad_label(lab, cnp.PyArray_DIM(p, 1))
    if bad >= 0:
        raise ValueError(
            f"{fn}: labels must be in [0, {cnp.PyArray_DIM(p, 1)}) for {pname}.shape="
            f"{shape_str(p)}. Received: labels[{bad}]={lab[bad]}"
        )
    p = _ready(p, lo, go)
    g = go if go is not None else p
    if cnp.PyArray_TYPE(p) == cnp.NPY_FLOAT32:
        _sparse[float](code, p, lab, lo, g, go is not None, param)
    else:
        _sparse[double](code, p, lab, lo, g, go is not None, param)
    return loss_out


cdef double _positive(object value, str fn, str name, bint below_one) except -1:
    cdef double v = value
    if not v > 0 or (below_one and not v < 0.5):
        raise ValueError(
            f"{fn}: {name} must be {'in (0, 0.5)' if below_one else 'positive'}. "
            f"Received: {name}={value!r}"
        )
    return v


# ---------------------------------------------------------------- Python API


def softmax_cross_entropy(logits, target, loss_out, grad_out):
    """-sum(target * log_softmax(logits)) per row; grad = softmax * sum(target) - target.

    Args:
        logits: (N, D) float32/float64. target: (N, D) probabilities or one-hot.
        loss_out: (N,) output. grad_out: (N, D) output or None.

    Returns:
        loss_out.
    """
    return _dense_loss(SOFTMAX_CE, "softmax_cross_entropy", "logits", logits, target,
                       loss_out, grad_out, 0.0)


def sparse_softmax_cross_entropy(logits, labels, loss_out, grad_out):
    """logsumexp(logits) - logits[label] per row; grad = softmax - one_hot(label).

    Args:
        logits: (N, D). labels: (N,) or (N, 1) integers in [0, D) (int64 is
            used as is; other integer dtypes are converted).
        loss_out: (N,) output. grad_out: (N, D) output or None.

    Returns:
        loss_out.
    """
    return _sparse_loss(SPARSE_SOFTMAX_CE, "sparse_softmax_cross_entropy", "logits", logits,
                        labels, loss_out, grad_out, 0.0)


def categorical_crossentropy(probs, target, loss_out, grad_out, epsilon=1e-7):
    """Keras categorical crossentropy on probabilities: p / sum(p), clipped to
    [epsilon, 1 - epsilon], then -sum(target * log(p)). The gradient is taken
    through the normalisation; it is zero where the clip is active.

    Args:
        probs: (N, D). target: (N, D). loss_out: (N,). grad_out: (N, D) or None.
        epsilon: clip bound, in (0, 0.5).

    Returns:
        loss_out.
    """
    fn = "categorical_crossentropy"
    return _dense_loss(CAT_CE, fn, "probs", probs, target, loss_out, grad_out,
                       _positive(epsilon, fn, "epsilon", True))


def sparse_categorical_crossentropy(probs, labels, loss_out, grad_out, epsilon=1e-7):
    """`categorical_crossentropy` with integer labels (N,) in [0, D).

    Returns:
        loss_out.
    """
    fn = "sparse_categorical_crossentropy"
    return _sparse_loss(SPARSE_CAT_CE, fn, "probs", probs, labels, loss_out, grad_out,
                        _positive(epsilon, fn, "epsilon", True))


def sigmoid_binary_crossentropy(logits, target, loss_out, grad_out):
    """Binary crossentropy from logits, stable for any |z|:
    mean over D of max(z, 0) - z * t + log1p(exp(-|z|)); grad = (sigmoid(z) - t) / D.

    Returns:
        loss_out.
    """
    return _dense_loss(SIG_BCE, "sigmoid_binary_crossentropy", "logits", logits, target,
                       loss_out, grad_out, 0.0)


def binary_crossentropy(probs, target, loss_out, grad_out, epsilon=1e-7):
    """Keras binary crossentropy on probabilities clipped to [epsilon, 1 - epsilon]:
    mean over D of -(t * log(p) + (1 - t) * log(1 - p)).

    Returns:
        loss_out.
    """
    fn = "binary_crossentropy"
    return _dense_loss(BCE, fn, "probs", probs, target, loss_out, grad_out,
                       _positive(epsilon, fn, "epsilon", True))


def mean_squared_error(pred, target, loss_out, grad_out):
    """mean over D of (pred - target)**2; grad = 2 (pred - target) / D.

    Returns:
        loss_out.
    """
    return _dense_loss(MSE, "mean_squared_error", "pred", pred, target, loss_out, grad_out, 0.0)


def mean_absolute_error(pred, target, loss_out, grad_out):
    """mean over D of |pred - target|; grad = sign(pred - target) / D (0 where equal).

    Returns:
        loss_out.
    """
    return _dense_loss(MAE, "mean_absolute_error", "pred", pred, target, loss_out, grad_out, 0.0)


def huber(pred, target, loss_out, grad_out, delta=1.0):
    """Keras Huber loss, mean over D of 0.5 e**2 where |e| <= delta, else
    delta * |e| - 0.5 * delta**2, with e = pred - target.

    Returns:
        loss_out.
    """
    return _dense_loss(HUBER, "huber", "pred", pred, target, loss_out, grad_out,
                       _positive(delta, "huber", "delta", False))
