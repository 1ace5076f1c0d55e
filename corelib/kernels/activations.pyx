"""Activation kernels: forward and backward of the named activations.

Elementwise activations run over the flattened array; softmax runs over the
last axis. Any ndim. The output may be the input itself (in place).
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy

include "_common.pxi"
include "_fmath.pxi"

__all__ = ["NAMES", "NEEDS_INPUT", "forward", "backward"]

NAMES = ("linear", "relu", "leaky_relu", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh",
         "softmax", "softplus", "swish", "gelu")

#: Activations whose backward reads x (the pre-activation). The others
#: compute the gradient from the output y alone and accept x=None.
NEEDS_INPUT = frozenset({"leaky_relu", "elu", "selu", "softplus", "swish", "gelu"})

cdef enum:
    LINEAR, RELU, LEAKY_RELU, ELU, SELU, SIGMOID, HARD_SIGMOID, TANH, SOFTMAX, SOFTPLUS, \
        SWISH, GELU

cdef dict _CODES = {name: i for i, name in enumerate(NAMES)}

# Rough cost of one element relative to a compare (libm calls dominate);
# decides when a loop is worth more than one thread.
cdef int[12] _COST = [1, 1, 1, 8, 8, 8, 1, 8, 8, 12, 8, 12]

cdef double SELU_ALPHA = 1.6732632423543772848170429916717
cdef double SELU_SCALE = 1.0507009873554804934193349852946
cdef double INV_SQRT2 = 0.70710678118654752440084436210485
cdef double INV_SQRT_2PI = 0.39894228040143267793994605993438


cdef int _code(object name, str fn) except -1:
    code = _CODES.get(name)
    if code is None:
        raise ValueError(
            f"{fn}: unknown activation. Expected one of {NAMES}. Received: name={name!r}"
        )
    return code


# ---------------------------------------------------------------- elementwise


cdef void _fwd_chunk(int code, const floating[::1] x, floating[::1] y,
                     Py_ssize_t lo, Py_ssize_t hi, floating alpha) noexcept nogil:
    # Loops are written branch-free around the libm calls, with constants of
    # the element type (a bare 1 would be a C double), so that they vectorize.
    cdef Py_ssize_t i
    cdef floating v, e
    cdef floating zero = 0, one = 1, half = 0.5, sixth = <floating>(1.0 / 6.0)
    cdef floating selu_a = <floating>(SELU_SCALE * SELU_ALPHA), selu_s = <floating>SELU_SCALE
    cdef floating inv_sqrt2 = <floating>INV_SQRT2
    if code == LINEAR:
        if &y[lo] != &x[lo]:
            memcpy(&y[lo], &x[lo], (hi - lo) * sizeof(floating))
    elif code == RELU:
        for i in range(lo, hi):
            v = x[i]
            y[i] = zero if v < zero else v  # keeps NaN
    elif code == LEAKY_RELU:
        for i in range(lo, hi):
            v = x[i]
            y[i] = v if v > zero else alpha * v
    elif code == ELU:
        for i in range(lo, hi):
            v = x[i]
            e = alpha * f_expm1(f_min(v, zero))
            y[i] = v if v > zero else e
    elif code == SELU:
        for i in range(lo, hi):
            v = x[i]
            e = selu_a * f_expm1(f_min(v, zero))
            y[i] = selu_s * v if v > zero else e
    elif code == SIGMOID:
        for i in range(lo, hi):
            y[i] = f_sigmoid(x[i])
    elif code == HARD_SIGMOID:
        for i in range(lo, hi):
            v = x[i] * sixth + half
            y[i] = zero if v < zero else (one if v > one else v)
    elif code == TANH:
        for i in range(lo, hi):
            y[i] = f_tanh(x[i])
    elif code == SOFTPLUS:
        for i in range(lo, hi):
            v = x[i]
            y[i] = f_max(v, zero) + f_log1p(f_exp(-f_abs(v)))
    elif code == SWISH:
        for i in range(lo, hi):
            v = x[i]
            y[i] = v * f_sigmoid(v)
    elif code == GELU:
        for i in range(lo, hi):
            v = x[i]
            y[i] = half * v * (one + f_erf(v * inv_sqrt2))


cdef void _bwd_chunk(int code, const floating[::1] x, const floating[::1] y,
                     const floating[::1] dy, floating[::1] dx,
                     Py_ssize_t lo, Py_ssize_t hi, floating alpha) noexcept nogil:
    """dx = dy * f'(x); arrays not used by `code` are dummies (dy)."""
    cdef Py_ssize_t i
    cdef floating v, s, g, e
    cdef floating zero = 0, one = 1, half = 0.5, sixth = <floating>(1.0 / 6.0)
    cdef floating selu_a = <floating>(SELU_SCALE * SELU_ALPHA), selu_s = <floating>SELU_SCALE
    cdef floating inv_sqrt2 = <floating>INV_SQRT2, inv_sqrt_2pi = <floating>INV_SQRT_2PI
    if code == LINEAR:
        if &dx[lo] != &dy[lo]:
            memcpy(&dx[lo], &dy[lo], (hi - lo) * sizeof(floating))
    elif code == RELU:
        for i in range(lo, hi):
            g = dy[i]
            dx[i] = g if y[i] > zero else zero
    elif code == LEAKY_RELU:
        for i in range(lo, hi):
            g = dy[i]
            dx[i] = g if x[i] > zero else alpha * g
    elif code == ELU:
        for i in range(lo, hi):
            v, g = x[i], dy[i]
            e = g * alpha * f_exp(f_min(v, zero))
            dx[i] = g if v > zero else e
    elif code == SELU:
        for i in range(lo, hi):
            v, g = x[i], dy[i]
            e = g * selu_a * f_exp(f_min(v, zero))
            dx[i] = g * selu_s if v > zero else e
    elif code == SIGMOID:
        for i in range(lo, hi):
            v = y[i]
            dx[i] = dy[i] * v * (one - v)
    elif code == HARD_SIGMOID:
        for i in range(lo, hi):
            v, g = y[i], dy[i]
            dx[i] = g * sixth if (v > zero and v < one) else zero
    elif code == TANH:
        for i in range(lo, hi):
            v = y[i]
            dx[i] = dy[i] * (one - v * v)
    elif code == SOFTPLUS:
        for i in range(lo, hi):
            dx[i] = dy[i] * f_sigmoid(x[i])
    elif code == SWISH:
        for i in range(lo, hi):
            v = x[i]
            s = f_sigmoid(v)
            dx[i] = dy[i] * s * (one + v * (one - s))
    elif code == GELU:
        for i in range(lo, hi):
            v = x[i]
            s = half * (one + f_erf(v * inv_sqrt2))
            dx[i] = dy[i] * (s + v * inv_sqrt_2pi * f_exp(-half * v * v))


cdef int _forward_flat(int code, const floating[::1] x, floating[::1] y, floating alpha) except -1:
    cdef Py_ssize_t n = x.shape[0], step, c, nchunks
    cdef int nt = n_threads(n * _COST[code])
    with nogil:
        if nt > 1:
            step = chunk_step(n, nt)
            nchunks = (n + step - 1) // step
            for c in prange(nchunks, num_threads=nt, schedule="static"):
                _fwd_chunk(code, x, y, c * step, min(n, (c + 1) * step), alpha)
        elif n > 0:
            _fwd_chunk(code, x, y, 0, n, alpha)
    return 0


cdef int _backward_flat(int code, const floating[::1] x, const floating[::1] y,
                        const floating[::1] dy, floating[::1] dx, floating alpha) except -1:
    cdef Py_ssize_t n = dy.shape[0], step, c, nchunks
    cdef int nt = n_threads(n * _COST[code])
    with nogil:
        if nt > 1:
            step = chunk_step(n, nt)
            nchunks = (n + step - 1) // step
            for c in prange(nchunks, num_threads=nt, schedule="static"):
                _bwd_chunk(code, x, y, dy, dx, c * step, min(n, (c + 1) * step), alpha)
        elif n > 0:
            _bwd_chunk(code, x, y, dy, dx, 0, n, alpha)
    return 0


# ---------------------------------------------------------------- softmax


cdef void _softmax_rows(const floating[:, ::1] x, floating[:, ::1] y,
                        Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """y = exp(x - max) / sum, row by row; sums in double. The exp loop has
    no reduction in it, so it vectorizes."""
    cdef Py_ssize_t r, j, d = x.shape[1]
    cdef floating m, inv
    for r in range(lo, hi):
        m = row_max(x, r)
        for j in range(d):
            y[r, j] = f_exp(x[r, j] - m)
        inv = <floating>(1.0 / row_sum(y, r))
        for j in range(d):
            y[r, j] = y[r, j] * inv


cdef void _softmax_bwd_rows(const floating[:, ::1] y, const floating[:, ::1] dy,
                            floating[:, ::1] dx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """dx = y * (dy - sum(dy * y)), row by row; sums in double."""
    cdef Py_ssize_t r, j, d = y.shape[1]
    cdef floating s
    for r in range(lo, hi):
        s = <floating>row_dot(dy, y, r)
        for j in range(d):
            dx[r, j] = y[r, j] * (dy[r, j] - s)


cdef int _softmax(const floating[:, ::1] x, floating[:, ::1] y) except -1:
    cdef Py_ssize_t r, rows = x.shape[0]
    cdef int nt = n_threads(rows * x.shape[1] * _COST[<int>SOFTMAX])
    if x.shape[1] == 0:
        return 0
    with nogil:
        if nt > 1:
            for r in prange(rows, num_threads=nt, schedule="static"):
                _softmax_rows(x, y, r, r + 1)
        else:
            _softmax_rows(x, y, 0, rows)
    return 0


cdef int _softmax_backward(const floating[:, ::1] y, const floating[:, ::1] dy,
                           floating[:, ::1] dx) except -1:
    cdef Py_ssize_t r, rows = y.shape[0]
    cdef int nt = n_threads(rows * y.shape[1] * 2)
    with nogil:
        if nt > 1:
            for r in prange(rows, num_threads=nt, schedule="static"):
                _softmax_bwd_rows(y, dy, dx, r, r + 1)
        else:
            _softmax_bwd_rows(y, dy, dx, 0, rows)
    return 0


cdef object _rows(cnp.ndarray a):
    """C-contiguous `a` as a 2D (rows, last axis) view; a scalar is (1, 1)."""
    cdef int nd = cnp.PyArray_NDIM(a)
    if nd == 2:
        return a
    cols = cnp.PyArray_DIM(a, nd - 1) if nd > 0 else 1
    return a.reshape(cnp.PyArray_SIZE(a) // cols if cols > 0 else 0, cols)


# ---------------------------------------------------------------- Python API


def forward(name, x, out, alpha=0.0):
    """out = activation(x), elementwise (softmax: over the last axis).

    Args:
        name: one of NAMES.
        x: input array, float32 or float64, any shape; may be strided.
        out: C-contiguous writeable array of x's shape and dtype; may be x.
        alpha: negative slope for leaky_relu, alpha for elu; ignored otherwise.

    Returns:
        out.
    """
    cdef str fn = "activations.forward"
    cdef int code = _code(name, fn)
    cdef cnp.ndarray o = output_array(out, fn, "out")
    cdef cnp.ndarray xa = same_input(x, o, fn, "x", "out")
    cdef double a = alpha
    if code == SOFTMAX:
        if cnp.PyArray_TYPE(o) == cnp.NPY_FLOAT32:
            _softmax[float](_rows(xa), _rows(o))
        else:
            _softmax[double](_rows(xa), _rows(o))
    elif cnp.PyArray_TYPE(o) == cnp.NPY_FLOAT32:
        _forward_flat[float](code, flat(xa), flat(o), <float>a)
    else:
        _forward_flat[double](code, flat(xa), flat(o), a)
    return out


def backward(name, x, y, dy, dx, alpha=0.0):
    """dx = dL/dx of the activation, given its input x, output y and dL/dy.

    Args:
        name: one of NAMES.
        x: the forward input; may be None unless name is in NEEDS_INPUT.
        y: the forward output; may be None when name is in NEEDS_INPUT
            or is "linear".
        dy: gradient of the loss with respect to y; may be strided.
        dx: C-contiguous writeable array of dy's shape and dtype; may be dy
            (or x or y) itself.
        alpha: as in `forward`.

    Returns:
        dx.
    """
    cdef str fn = "activations.backward"
    cdef int code = _code(name, fn)
    cdef cnp.ndarray o = output_array(dx, fn, "dx")
    cdef cnp.ndarray dya = same_input(dy, o, fn, "dy", "dx")
    cdef cnp.ndarray xa = dya, ya = dya
    cdef double a = alpha
    cdef bint f32 = cnp.PyArray_TYPE(o) == cnp.NPY_FLOAT32
    if name in NEEDS_INPUT:
        if x is None:
            raise ValueError(f"{fn}: {name} needs the forward input x. Received: x=None")
        xa = same_input(x, o, fn, "x", "dx")
    elif code != LINEAR:
        if y is None:
            raise ValueError(f"{fn}: {name} needs the forward output y. Received: y=None")
        ya = same_input(y, o, fn, "y", "dx")
    if code == SOFTMAX:
        if f32:
            _softmax_backward[float](_rows(ya), _rows(dya), _rows(o))
        else:
            _softmax_backward[double](_rows(ya), _rows(dya), _rows(o))
    elif f32:
        _backward_flat[float](code, flat(xa), flat(ya), flat(dya), flat(o), <float>a)
    else:
        _backward_flat[double](code, flat(xa), flat(ya), flat(dya), flat(o), a)
    return dx
