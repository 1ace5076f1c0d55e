"""Global pooling kernels: the mean or max over all positions, per channel.

x is viewed as (N, S, C) for channels last (S = steps or rows * cols), or
(N, C, S) for channels first. The max records the winning position s of each
(sample, channel), so the backward pass needs no recomputation. Channels-last
loops run along the contiguous channel axis; sums are in double. (NumPy's
mean over the middle axis of a (64, 96, 64) array took 4x longer than this.)
Loops over samples are threaded only above the module's work threshold.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport free, malloc

include "_common.pxi"

__all__ = ["global_avg_pool_forward", "global_avg_pool_backward", "global_max_pool_forward",
           "global_max_pool_backward"]


cdef struct Dims:
    Py_ssize_t n, s, c
    bint first  # channels first: (N, C, S)


cdef int _avg_fwd(const floating* x, floating* out, const Dims* d, Py_ssize_t n0, Py_ssize_t n1) noexcept nogil:
    cdef Py_ssize_t n, s, k
    cdef double* acc
    cdef double t
    cdef const floating* row
    if not d.first:
        acc = <double*>malloc(d.c * sizeof(double))
        if acc == NULL:
            return -1
        for n in range(n0, n1):
            for k in range(d.c):
                acc[k] = 0.0
            for s in range(d.s):
                row = x + (n * d.s + s) * d.c
                for k in range(d.c):
                    acc[k] += row[k]
            for k in range(d.c):
                out[n * d.c + k] = <floating>(acc[k] / d.s)
        free(acc)
    else:
        for n in range(n0, n1):
            for k in range(d.c):
                row = x + (n * d.c + k) * d.s
                t = 0.0
                for s in range(d.s):
                    t += row[s]
                out[n * d.c + k] = <floating>(t / d.s)
    return 0


cdef void _avg_bwd(const floating* dy, floating* dx, const Dims* d, Py_ssize_t n0, Py_ssize_t n1) noexcept nogil:
    cdef Py_ssize_t n, s, k
    cdef floating inv = <floating>(1.0 / d.s), v
    cdef floating* row
    for n in range(n0, n1):
        if not d.first:
            for s in range(d.s):
                row = dx + (n * d.s + s) * d.c
                for k in range(d.c):
                    row[k] = dy[n * d.c + k] * inv
        else:
            for k in range(d.c):
                row = dx + (n * d.c + k) * d.s
                v = dy[n * d.c + k] * inv
                for s in range(d.s):
                    row[s] = v


cdef void _max_fwd(const floating* x, floating* out, int* arg, const Dims* d,
                   Py_ssize_t n0, Py_ssize_t n1) noexcept nogil:
    cdef Py_ssize_t n, s, k
    cdef const floating* row
    cdef floating* o
    cdef int* a
    cdef floating v, cur
    cdef bint take
    cdef int best
    for n in range(n0, n1):
        o = out + n * d.c
        a = arg + n * d.c
        if not d.first:
            row = x + n * d.s * d.c
            for k in range(d.c):
                o[k] = row[k]
                a[k] = 0
            for s in range(1, d.s):
                row = x + (n * d.s + s) * d.c
                for k in range(d.c):  # branch-free so it vectorizes; first max wins, NaN propagates
                    v = row[k]
                    cur = o[k]
                    take = (v > cur) | (v != v)
                    o[k] = v if take else cur
                    a[k] = <int>s if take else a[k]
        else:
            for k in range(d.c):
                row = x + (n * d.c + k) * d.s
                cur = row[0]
                best = 0
                for s in range(1, d.s):
                    v = row[s]
                    if v > cur or v != v:
                        cur = v
                        best = <int>s
                o[k] = cur
                a[k] = best


cdef int _max_bwd(const floating* dy, const int* arg, floating* dx, const Dims* d,
                  Py_ssize_t n0, Py_ssize_t n1) noexcept nogil:
    cdef Py_ssize_t n, s, k
    cdef int idx, bad = 0
    for n in range(n0, n1):
        for k in range(d.s * d.c):
            dx[n * d.s * d.c + k] = 0
        for k in range(d.c):
            idx = arg[n * d.c + k]
            if idx < 0 or idx >= d.s:
                bad = 1
            elif d.first:
                dx[(n * d.c + k) * d.s + idx] = dy[n * d.c + k]
            else:
                dx[(n * d.s + idx) * d.c + k] = dy[n * d.c + k]
    return -bad


cdef int _run(int op, const Dims* d, const floating* a, floating* b, int* arg) noexcept nogil:
    """op 0: average forward, 1: average backward, 2: max forward, 3: max backward."""
    cdef Py_ssize_t n
    cdef int nt = n_threads(d.n * d.s * d.c) if d.n > 1 else 1, bad = 0
    if nt > 1:
        for n in prange(d.n, num_threads=nt, schedule="static"):
            if op == 0:
                if _avg_fwd(a, b, d, n, n + 1) < 0:
                    bad += 1
            elif op == 1:
                _avg_bwd(a, b, d, n, n + 1)
            elif op == 2:
                _max_fwd(a, b, arg, d, n, n + 1)
            elif _max_bwd(a, arg, b, d, n, n + 1) < 0:
                bad += 1
    elif op == 0:
        bad = -_avg_fwd(a, b, d, 0, d.n)
    elif op == 1:
        _avg_bwd(a, b, d, 0, d.n)
    elif op == 2:
        _max_fwd(a, b, arg, d, 0, d.n)
    else:
        bad = -_max_bwd(a, arg, b, d, 0, d.n)
    return -1 if bad > 0 else 0


# ---------------------------------------------------------------- Python API


cdef int _dims(Dims* d, cnp.ndarray x, bint first, str fn, str name) except -1:
    check_ndim(x, 3, fn, name, "(batch, positions, channels) or, channels first, (batch, channels, positions)")
    d.n, d.first = x.shape[0], first
    d.c, d.s = (x.shape[1], x.shape[2]) if first else (x.shape[2], x.shape[1])
    if d.s < 1:
        raise ShapeError(f"{fn}: {name} has no positions to pool. Received: {name}.shape={shape_str(x)}")
    if d.s >= 2**31:
        raise ValueError(f"{fn}: at most 2**31 - 1 positions. Received: {name}.shape={shape_str(x)}")
    return 0


cdef cnp.ndarray _argmax(object a, str fn, tuple shape, bint output):
    cdef cnp.ndarray arr = as_ndarray(a, fn, "argmax")
    if cnp.PyArray_TYPE(arr) != cnp.NPY_INT32:
        raise TypeError(f"{fn}: argmax must be int32. Received: argmax.dtype={arr.dtype}")
    check_shape(arr, shape, fn, "argmax", "= (batch, channels)")
    if output and not cnp.PyArray_ISCARRAY(arr):
        raise ValueError(f"{fn}: argmax must be C-contiguous, aligned and writeable")
    return arr if cnp.PyArray_ISCARRAY_RO(arr) else np.ascontiguousarray(arr)


cdef int _call(int op, cnp.ndarray a, cnp.ndarray b, cnp.ndarray arg, const Dims* d, str fn) except -1:
    cdef void* ap = cnp.PyArray_DATA(a)
    cdef void* bp = cnp.PyArray_DATA(b)
    cdef int* gp = NULL if arg is None else <int*>cnp.PyArray_DATA(arg)
    cdef int status
    with nogil:
        if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32:
            status = _run(op, d, <float*>ap, <float*>bp, gp)
        else:
            status = _run(op, d, <double*>ap, <double*>bp, gp)
    if status < 0:
        if op == 0:
            raise MemoryError(f"{fn}: out of memory for the channel accumulators")
        raise ValueError(f"{fn}: argmax holds a position outside [0, {d.s})")
    return 0


def global_avg_pool_forward(x, out, channels_first=False):
    """out[n, c] = the mean of x over positions.

    Args:
        x: (N, S, C), or (N, C, S) with channels_first; float32 or float64; may be strided.
        out: (N, C) C-contiguous output.
        channels_first: the layout of x.

    Returns:
        out.
    """
    cdef str fn = "global_avg_pool_forward"
    cdef cnp.ndarray o = output_array(out, fn, "out")
    cdef cnp.ndarray xa = as_ndarray(x, fn, "x")
    cdef Dims d
    check_same_dtype(xa, cnp.PyArray_TYPE(o), fn, "x", "out")
    _dims(&d, xa, bool(channels_first), fn, "x")
    check_shape(o, (d.n, d.c), fn, "out", "= (batch, channels)")
    if overlaps(o, xa):
        raise ValueError(f"{fn}: out must not share memory with x")
    _call(0, contiguous_input(xa, o), o, None, &d, fn)
    return out


def global_avg_pool_backward(dy, dx, channels_first=False):
    """dx[n, s, c] = dy[n, c] / S (dx is overwritten).

    Args:
        dy: (N, C); may be strided.
        dx: (N, S, C) (or (N, C, S)) C-contiguous output.
        channels_first: the layout of dx.
    """
    cdef str fn = "global_avg_pool_backward"
    cdef cnp.ndarray o = output_array(dx, fn, "dx")
    cdef cnp.ndarray g = as_ndarray(dy, fn, "dy")
    cdef Dims d
    check_same_dtype(g, cnp.PyArray_TYPE(o), fn, "dy", "dx")
    _dims(&d, o, bool(channels_first), fn, "dx")
    check_shape(g, (d.n, d.c), fn, "dy", "= (batch, channels)")
    if overlaps(o, g):
        raise ValueError(f"{fn}: dx must not share memory with dy")
    _call(1, contiguous_input(g, o), o, None, &d, fn)


def global_max_pool_forward(x, out, argmax, channels_first=False):
    """out[n, c] = the max of x over positions; argmax[n, c] = its position
    (the first on ties; NaN propagates).

    Args:
        x: (N, S, C), or (N, C, S) with channels_first; may be strided.
        out: (N, C) C-contiguous output.
        argmax: (N, C) C-contiguous int32 output.
        channels_first: the layout of x.

    Returns:
        out.
    """
    cdef str fn = "global_max_pool_forward"
    cdef cnp.ndarray o = output_array(out, fn, "out")
    cdef cnp.ndarray xa = as_ndarray(x, fn, "x")
    cdef Dims d
    check_same_dtype(xa, cnp.PyArray_TYPE(o), fn, "x", "out")
    _dims(&d, xa, bool(channels_first), fn, "x")
    check_shape(o, (d.n, d.c), fn, "out", "= (batch, channels)")
    arg = _argmax(argmax, fn, (d.n, d.c), True)
    if overlaps(o, xa) or overlaps(arg, xa) or overlaps(arg, o):
        raise ValueError(f"{fn}: out, argmax and x must not share memory")
    _call(2, contiguous_input(xa, o), o, arg, &d, fn)
    return out


def global_max_pool_backward(dy, argmax, dx, channels_first=False):
    """dx = dy at each recorded maximum, 0 elsewhere (dx is overwritten).

    Args:
        dy: (N, C); may be strided.
        argmax: (N, C) int32 from global_max_pool_forward.
        dx: (N, S, C) (or (N, C, S)) C-contiguous output.
        channels_first: the layout of dx.
    """
    cdef str fn = "global_max_pool_backward"
    cdef cnp.ndarray o = output_array(dx, fn, "dx")
    cdef cnp.ndarray g = as_ndarray(dy, fn, "dy")
    cdef Dims d
    check_same_dtype(g, cnp.PyArray_TYPE(o), fn, "dy", "dx")
    _dims(&d, o, bool(channels_first), fn, "dx")
    check_shape(g, (d.n, d.c), fn, "dy", "= (batch, channels)")
    arg = _argmax(argmax, fn, (d.n, d.c), False)
    if overlaps(o, g) or overlaps(o, arg):
        raise ValueError(f"{fn}: dx must not share memory with dy or argmax")
    _call(3, contiguous_input(g, o), o, arg, &d, fn)
