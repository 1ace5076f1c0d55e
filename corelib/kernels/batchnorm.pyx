"""Batch normalization, fused: statistics, normalization and affine map in
one kernel, and the whole backward pass in another.

x is normalized over every axis but `axis`: viewed as (A, C, B) with C the
normalized channel axis (B = 1 for channels last). Per channel c, with
M = A * B entries,

    forward   y = (x - mean) * inv * gamma + beta,   inv = 1 / sqrt(var + eps)
              training: mean, var = the batch's mean and biased variance
              (Keras's moments), written out; inference: given (moving) stats
    backward  dbeta += sum(dy); dgamma += sum(dy * (x - mean)) * inv
              training: dx = gamma*inv * (dy - sum(dy)/M - (x - mean)*inv^2 * sum(dy*(x - mean))/M)
              inference: dx = gamma * inv * dy

Sums run in double, over entries in a fixed order; the variance is a second
pass over the centred data, which stays accurate for large means. The
per-channel coefficients turn the last pass into y = x * k1 + k0 (and dx
into k1*dy + k2*x + k0), loops that vectorize. Blocks of channels are
threaded only above the module's work threshold (`_set_parallel_work`).
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt
from libc.stdlib cimport free, malloc

include "_common.pxi"

__all__ = ["batch_norm_forward", "batch_norm_backward"]

cdef enum:
    CH_BLOCK = 16  # channels per thread's block when threaded


cdef struct Dims:
    Py_ssize_t a, c, b     # x viewed as (A, C, B)


include "_batchnorm_loops.pxi"


cdef int _forward_block(const floating* x, floating* y, const floating* gamma,
                        const floating* beta, floating* mean, floating* var, double eps,
                        bint training, const Dims* d, Py_ssize_t c0, Py_ssize_t c1) noexcept nogil:
    cdef Py_ssize_t k, nc = c1 - c0
    cdef double count = <double>(d.a * d.b)
    cdef double* buf = <double*>malloc(3 * nc * sizeof(double))
    cdef double* mu
    cdef double* k1
    cdef double* k0
    cdef double inv, v
    if buf == NULL:
        return -1
    mu, k1, k0 = buf, buf + nc, buf + 2 * nc
    if training:
        _channel_sums(x, d, c0, c1, mu)
        for k in range(nc):
            mu[k] = mu[k] / count
        _centred_squares(x, d, c0, c1, mu, k1)
        for k in range(nc):
            mean[c0 + k] = <floating>mu[k]
            var[c0 + k] = <floating>(k1[k] / count)
            k1[k] = k1[k] / count
    else:
        for k in range(nc):
            mu[k] = mean[c0 + k]
            k1[k] = var[c0 + k]
    for k in range(nc):
        inv = 1.0 / sqrt(k1[k] + eps)
        v = inv * (gamma[c0 + k] if gamma != NULL else 1.0)
        k1[k] = v
        k0[k] = (beta[c0 + k] if beta != NULL else 0.0) - mu[k] * v
    _affine(x, <floating*>NULL, y, d, c0, c1, k1, NULL, k0)
    free(buf)
    return 0


cdef int _backward_block(const floating* x, const floating* dy, const floating* gamma,
                         const floating* mean, const floating* var, double eps, bint training,
                         floating* dx, floating* dgamma, floating* dbeta, const Dims* d,
                         Py_ssize_t c0, Py_ssize_t c1) noexcept nogil:
    cdef Py_ssize_t k, nc = c1 - c0
    cdef double count = <double>(d.a * d.b)
    cdef double* buf = <double*>malloc(6 * nc * sizeof(double))
    cdef double* mu
    cdef double* sdy
    cdef double* sdyx
    cdef double* k1
    cdef double* k2
    cdef double* k0
    cdef double inv, gi
    if buf == NULL:
        return -1
    mu, sdy, sdyx, k1, k2, k0 = buf, buf + nc, buf + 2 * nc, buf + 3 * nc, buf + 4 * nc, buf + 5 * nc
    for k in range(nc):
        mu[k] = mean[c0 + k]
    _centred_dot(x, dy, d, c0, c1, mu, sdy, sdyx)
    for k in range(nc):
        inv = 1.0 / sqrt(<double>var[c0 + k] + eps)
        if dbeta != NULL:
            dbeta[c0 + k] = <floating>(dbeta[c0 + k] + sdy[k])
        if dgamma != NULL:
            dgamma[c0 + k] = <floating>(dgamma[c0 + k] + sdyx[k] * inv)
        gi = inv * (gamma[c0 + k] if gamma != NULL else 1.0)
        k1[k] = gi
        if training:
            k2[k] = -gi * inv * inv * sdyx[k] / count
            k0[k] = -gi * sdy[k] / count - k2[k] * mu[k]
        else:
            k2[k] = 0.0
            k0[k] = 0.0
    if dx != NULL:
        _affine(x, dy, dx, d, c0, c1, k1, k2, k0)
    free(buf)
    return 0


# ---------------------------------------------------------------- drivers


cdef int _blocks(const Dims* d, Py_ssize_t cost) noexcept nogil:
    """Threads for a pass over all channels (1 unless the work is enormous)."""
    if d.c <= CH_BLOCK:
        return 1
    return n_threads(d.a * d.b * d.c * cost)


cdef int _forward_all(const floating* x, floating* y, const floating* gamma, const floating* beta,
                      floating* mean, floating* var, double eps, bint training,
                      const Dims* d) noexcept nogil:
    cdef Py_ssize_t blk, nblocks = (d.c + CH_BLOCK - 1) // CH_BLOCK
    cdef int nt = _blocks(d, 3), bad = 0
    if nt > 1:
        for blk in prange(nblocks, num_threads=nt, schedule="static"):
            if _forward_block(x, y, gamma, beta, mean, var, eps, training, d, blk * CH_BLOCK,
                              min((blk + 1) * CH_BLOCK, d.c)) < 0:
                bad += 1
    elif _forward_block(x, y, gamma, beta, mean, var, eps, training, d, 0, d.c) < 0:
        bad = 1
    return -1 if bad > 0 else 0


cdef int _backward_all(const floating* x, const floating* dy, const floating* gamma,
                       const floating* mean, const floating* var, double eps, bint training,
                       floating* dx, floating* dgamma, floating* dbeta, const Dims* d) noexcept nogil:
    cdef Py_ssize_t blk, nblocks = (d.c + CH_BLOCK - 1) // CH_BLOCK
    cdef int nt = _blocks(d, 2), bad = 0
    if nt > 1:
        for blk in prange(nblocks, num_threads=nt, schedule="static"):
            if _backward_block(x, dy, gamma, mean, var, eps, training, dx, dgamma, dbeta, d,
                               blk * CH_BLOCK, min((blk + 1) * CH_BLOCK, d.c)) < 0:
                bad += 1
    elif _backward_block(x, dy, gamma, mean, var, eps, training, dx, dgamma, dbeta, d, 0, d.c) < 0:
        bad = 1
    return -1 if bad > 0 else 0


# ---------------------------------------------------------------- Python API


cdef int _dims(Dims* d, cnp.ndarray x, object axis, str fn) except -1:
    cdef int nd = cnp.PyArray_NDIM(x), i, ax
    if nd < 1:
        raise ShapeError(f"{fn}: x must have at least one axis. Received: x.shape={shape_str(x)}")
    try:
        ax = int(axis)
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: axis must be an int. Received: axis={axis!r}") from None
    if not -nd <= ax < nd:
        raise ValueError(f"{fn}: axis {ax} is out of range for x.shape={shape_str(x)}")
    if ax < 0:  # cdivision: C's % keeps the sign
        ax += nd
    d.a, d.c, d.b = 1, cnp.PyArray_DIM(x, ax), 1
    for i in range(ax):
        d.a *= cnp.PyArray_DIM(x, i)
    for i in range(ax + 1, nd):
        d.b *= cnp.PyArray_DIM(x, i)
    return 0


cdef cnp.ndarray _vector(object a, str fn, str name, int typenum, Py_ssize_t c, bint output):
    """A (C,) parameter or statistics vector; outputs are checked, inputs made contiguous."""
    cdef cnp.ndarray arr
    if output:
        arr = output_array(a, fn, name)
    else:
        arr = as_ndarray(a, fn, name)
    check_same_dtype(arr, typenum, fn, name, "x")
    check_shape(arr, (c,), fn, name, "= (x.shape[axis],)")
    if not output and not cnp.PyArray_ISCARRAY_RO(arr):
        arr = fresh_copy(arr)
    return arr


cdef inline void* _ptr(cnp.ndarray a):
    return NULL if a is None else cnp.PyArray_DATA(a)


def batch_norm_forward(x, gamma, beta, mean, var, out, epsilon=1e-3, training=True, axis=-1):
    """out = (x - mean) / sqrt(var + epsilon) * gamma + beta, per entry of `axis`.

    Args:
        x: input of any ndim, float32 or float64; may be strided.
        gamma, beta: (C,) scale and offset, or None (1 and 0), C = x.shape[axis].
        mean, var: (C,). training=True: C-contiguous outputs that receive the
            batch mean and biased variance over every other axis. training=False:
            inputs, the statistics to normalize with (the moving ones).
        out: C-contiguous, x's shape; may be x itself.
        epsilon: added to the variance.
        training: batch statistics (True) or the given ones (False).
        axis: the channel axis.

    Returns:
        out.
    """
    cdef str fn = "batch_norm_forward"
    cdef cnp.ndarray o = output_array(out, fn, "out")
    cdef int t = cnp.PyArray_TYPE(o), status
    cdef cnp.ndarray xa = same_input(x, o, fn, "x", "out"), ga = None, ba = None, ma, va
    cdef Dims d
    cdef bint train = bool(training)
    cdef double eps = float(epsilon)
    if not eps >= 0.0:
        raise ValueError(f"{fn}: epsilon must be >= 0. Received: epsilon={epsilon!r}")
    _dims(&d, o, axis, fn)
    if gamma is not None:
        ga = _vector(gamma, fn, "gamma", t, d.c, False)
    if beta is not None:
        ba = _vector(beta, fn, "beta", t, d.c, False)
    ma = _vector(mean, fn, "mean", t, d.c, train)
    va = _vector(var, fn, "var", t, d.c, train)
    if train:
        for a, name in ((xa, "x"), (o, "out"), (ga, "gamma"), (ba, "beta")):
            if a is not None and (overlaps(ma, a) or overlaps(va, a)):
                raise ValueError(f"{fn}: mean and var must not share memory with {name}")
        if overlaps(ma, va):
            raise ValueError(f"{fn}: mean and var must not share memory")
    if d.a * d.b == 0:
        if train:
            raise ValueError(f"{fn}: batch statistics of an empty batch. Received: x.shape={shape_str(xa)}")
        return out
    cdef void* xp = _ptr(xa)
    cdef void* op = _ptr(o)
    cdef void* gp = _ptr(ga)
    cdef void* bp = _ptr(ba)
    cdef void* mp = _ptr(ma)
    cdef void* vp = _ptr(va)
    with nogil:
        if t == cnp.NPY_FLOAT32:
            status = _forward_all(<float*>xp, <float*>op, <float*>gp, <float*>bp, <float*>mp,
                                  <float*>vp, eps, train, &d)
        else:
            status = _forward_all(<double*>xp, <double*>op, <double*>gp, <double*>bp, <double*>mp,
                                  <double*>vp, eps, train, &d)
    if status < 0:
        raise MemoryError(f"{fn}: out of memory for the per-channel accumulators")
    return out


def batch_norm_backward(x, dy, gamma, mean, var, dx, dgamma, dbeta, epsilon=1e-3, training=True,
                        axis=-1):
    """Gradients of batch_norm_forward. dgamma and dbeta ACCUMULATE; dx is OVERWRITTEN.

    Args:
        x: the forward input; may be strided.
        dy: gradient of the output, x's shape; may be strided.
        gamma: (C,) or None (scale 1).
        mean, var: (C,) the statistics the forward pass normalized with (the
            batch's when training, the moving ones otherwise).
        dx: C-contiguous, x's shape, or None; may be dy itself.
        dgamma, dbeta: (C,) C-contiguous accumulators, or None.
        epsilon, training, axis: as in the forward pass. training=True
            differentiates through the batch statistics too.
    """
    cdef str fn = "batch_norm_backward"
    cdef cnp.ndarray ga_dy = as_ndarray(dy, fn, "dy")
    cdef int t = float_typenum(ga_dy, fn, "dy"), status
    cdef cnp.ndarray xa, gm = None, ma, va, dxa = None, dga = None, dba = None
    cdef Dims d
    cdef bint train = bool(training)
    cdef double eps = float(epsilon)
    if not eps >= 0.0:
        raise ValueError(f"{fn}: epsilon must be >= 0. Received: epsilon={epsilon!r}")
    xa = as_ndarray(x, fn, "x")
    check_same_dtype(xa, t, fn, "x", "dy")
    check_same_shape(xa, ga_dy, fn, "x", "dy")
    _dims(&d, xa, axis, fn)
    if gamma is not None:
        gm = _vector(gamma, fn, "gamma", t, d.c, False)
    ma = _vector(mean, fn, "mean", t, d.c, False)
    va = _vector(var, fn, "var", t, d.c, False)
    if dgamma is not None:
        dga = _vector(dgamma, fn, "dgamma", t, d.c, True)
    if dbeta is not None:
        dba = _vector(dbeta, fn, "dbeta", t, d.c, True)
    if dx is not None:
        dxa = output_array(dx, fn, "dx")
        check_same_dtype(dxa, t, fn, "dx", "dy")
        check_same_shape(dxa, xa, fn, "dx", "x")
        if overlaps(dxa, xa) or (overlaps(dxa, ga_dy) and not same_view(dxa, ga_dy)):
            raise ValueError(f"{fn}: dx must not share memory with x (it may be dy itself)")
        ga_dy = contiguous_input(ga_dy, dxa)
    elif not cnp.PyArray_ISCARRAY_RO(ga_dy):
        ga_dy = fresh_copy(ga_dy)
    for a, name in ((dga, "dgamma"), (dba, "dbeta")):
        if a is not None:
            for q, qname in ((xa, "x"), (ga_dy, "dy"), (gm, "gamma"), (ma, "mean"), (va, "var"), (dxa, "dx")):
                if q is not None and overlaps(a, q):
                    raise ValueError(f"{fn}: {name} must not share memory with {qname}")
    if dga is not None and dba is not None and overlaps(dga, dba):
        raise ValueError(f"{fn}: dgamma must not share memory with dbeta")
    if not cnp.PyArray_ISCARRAY_RO(xa):
        xa = fresh_copy(xa)
    if d.a * d.b * d.c == 0:
        return None
    cdef void* xp = _ptr(xa)
    cdef void* gp = _ptr(ga_dy)
    cdef void* gmp = _ptr(gm)
    cdef void* mp = _ptr(ma)
    cdef void* vp = _ptr(va)
    cdef void* dxp = _ptr(dxa)
    cdef void* dgp = _ptr(dga)
    cdef void* dbp = _ptr(dba)
    with nogil:
        if t == cnp.NPY_FLOAT32:
            status = _backward_all(<float*>xp, <float*>gp, <float*>gmp, <float*>mp, <float*>vp, eps,
                                   train, <float*>dxp, <float*>dgp, <float*>dbp, &d)
        else:
            status = _backward_all(<double*>xp, <double*>gp, <double*>gmp, <double*>mp, <double*>vp,
                                   eps, train, <double*>dxp, <double*>dgp, <double*>dbp, &d)
    if status < 0:
        raise MemoryError(f"{fn}: out of memory for the per-channel accumulators")
    return None
