"""Pooling kernels on channels-last images (N, H, W, C); 1D pooling is H = 1.

Max pooling records, for each output entry, which input pixel won (its
index h*W + w within the sample), so the backward pass routes the gradient
there without recomputing anything. Padding (Keras's "same") never wins a
max and is not counted in an average, as in Keras. The innermost loops run
over the contiguous channel axis. Loops over samples are threaded only above
the module's work threshold (see `_set_parallel_work`).
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memset

include "_common.pxi"

__all__ = ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward"]


cdef struct Pool:
    Py_ssize_t n, h, w, c, oh, ow, ph, pw, sh, sw, pt, pl


# ---------------------------------------------------------------- max


cdef void _max_fwd(const floating* x, floating* out, int* arg, const Pool* p,
                   Py_ssize_t n0, Py_ssize_t n1) noexcept nogil:
    cdef Py_ssize_t n, oh, ow, i, j, k, ih, iw, c = p.c
    cdef const floating* src
    cdef floating* o
    cdef int* a
    cdef int idx
    cdef floating v, cur
    cdef bint first, take
    for n in range(n0, n1):
        for oh in range(p.oh):
            for ow in range(p.ow):
                o = out + ((n * p.oh + oh) * p.ow + ow) * c
                a = arg + ((n * p.oh + oh) * p.ow + ow) * c
                first = True
                for i in range(p.ph):
                    ih = oh * p.sh - p.pt + i
                    if ih < 0 or ih >= p.h:
                        continue
                    for j in range(p.pw):
                        iw = ow * p.sw - p.pl + j
                        if iw < 0 or iw >= p.w:
                            continue
                        src = x + ((n * p.h + ih) * p.w + iw) * c
                        idx = <int>(ih * p.w + iw)
                        if first:
                            for k in range(c):
                                o[k] = src[k]
                                a[k] = idx
                            first = False
                        else:
                            # Branch-free, so it vectorizes (random data would
                            # mispredict every other branch): the first maximum
                            # wins ties; NaN propagates, as in PyTorch.
                            for k in range(c):
                                v = src[k]
                                cur = o[k]
                                take = (v > cur) | (v != v)
                                o[k] = v if take else cur
                                a[k] = idx if take else a[k]


cdef int _max_bwd(const floating* dy, const int* arg, floating* dx, const Pool* p,
                  Py_ssize_t n0, Py_ssize_t n1) noexcept nogil:
    """dx[n0:n1] = dy routed to the recorded winners; -1 if an index is out of range."""
    cdef Py_ssize_t n, r, k, c = p.c, hw = p.h * p.w, rows = p.oh * p.ow
    cdef const floating* g
    cdef const int* a
    cdef floating* d
    cdef int idx, bad = 0
    memset(dx + n0 * hw * c, 0, (n1 - n0) * hw * c * sizeof(floating))
    for n in range(n0, n1):
        d = dx + n * hw * c
        for r in range(rows):
            g = dy + (n * rows + r) * c
            a = arg + (n * rows + r) * c
            for k in range(c):
                idx = a[k]
                if idx < 0 or idx >= hw:
                    bad = 1
                else:
                    d[idx * c + k] += g[k]
    return -bad


# ---------------------------------------------------------------- average


cdef inline Py_ssize_t _span(Py_ssize_t start, Py_ssize_t size, Py_ssize_t limit,
                             Py_ssize_t* lo) noexcept nogil:
    """Clip the window [start, start + size) to [0, limit): first index and length."""
    cdef Py_ssize_t a = start if start > 0 else 0
    cdef Py_ssize_t b = start + size if start + size < limit else limit
    lo[0] = a
    return b - a if b > a else 0


cdef void _avg_fwd(const floating* x, floating* out, const Pool* p,
                   Py_ssize_t n0, Py_ssize_t n1) noexcept nogil:
    cdef Py_ssize_t n, oh, ow, i, j, k, h0, w0, nh, nw, c = p.c
    cdef const floating* src
    cdef floating* o
    cdef floating inv
    for n in range(n0, n1):
        for oh in range(p.oh):
            nh = _span(oh * p.sh - p.pt, p.ph, p.h, &h0)
            for ow in range(p.ow):
                nw = _span(ow * p.sw - p.pl, p.pw, p.w, &w0)
                o = out + ((n * p.oh + oh) * p.ow + ow) * c
                for k in range(c):
                    o[k] = 0
                for i in range(h0, h0 + nh):
                    for j in range(w0, w0 + nw):
                        src = x + ((n * p.h + i) * p.w + j) * c
                        for k in range(c):
                            o[k] += src[k]
                inv = <floating>(1.0 / (nh * nw)) if nh * nw > 0 else 0
                for k in range(c):
                    o[k] *= inv


cdef void _avg_bwd(const floating* dy, floating* dx, const Pool* p,
                   Py_ssize_t n0, Py_ssize_t n1) noexcept nogil:
    cdef Py_ssize_t n, oh, ow, i, j, k, h0, w0, nh, nw, c = p.c
    cdef const floating* g
    cdef floating* d
    cdef floating inv
    memset(dx + n0 * p.h * p.w * c, 0, (n1 - n0) * p.h * p.w * c * sizeof(floating))
    for n in range(n0, n1):
        for oh in range(p.oh):
            nh = _span(oh * p.sh - p.pt, p.ph, p.h, &h0)
            for ow in range(p.ow):
                nw = _span(ow * p.sw - p.pl, p.pw, p.w, &w0)
                if nh * nw == 0:
                    continue
                g = dy + ((n * p.oh + oh) * p.ow + ow) * c
                inv = <floating>(1.0 / (nh * nw))
                for i in range(h0, h0 + nh):
                    for j in range(w0, w0 + nw):
                        d = dx + ((n * p.h + i) * p.w + j) * c
                        for k in range(c):
                            d[k] += g[k] * inv


# ---------------------------------------------------------------- drivers


cdef int _threads(const Pool* p) noexcept nogil:
    return n_threads(p.n * p.oh * p.ow * p.ph * p.pw * p.c) if p.n > 1 else 1


cdef int _run(int op, const Pool* p, const floating* a, floating* b, int* arg) noexcept nogil:
    """op 0: max forward, 1: max backward, 2: average forward, 3: average backward."""
    cdef Py_ssize_t n
    cdef int nt = _threads(p), bad = 0
    if nt > 1:
        for n in prange(p.n, num_threads=nt, schedule="static"):
            if op == 0:
                _max_fwd(a, b, arg, p, n, n + 1)
            elif op == 1:
                if _max_bwd(a, arg, b, p, n, n + 1) < 0:
                    bad += 1  # an in-place operator makes it a prange reduction
            elif op == 2:
                _avg_fwd(a, b, p, n, n + 1)
            else:
                _avg_bwd(a, b, p, n, n + 1)
    else:
        if op == 0:
            _max_fwd(a, b, arg, p, 0, p.n)
        elif op == 1:
            bad = -_max_bwd(a, arg, b, p, 0, p.n)
        elif op == 2:
            _avg_fwd(a, b, p, 0, p.n)
        else:
            _avg_bwd(a, b, p, 0, p.n)
    return -1 if bad > 0 else 0


cdef tuple _ints(object v, str fn, str name, int size, Py_ssize_t minimum):
    try:
        vals = tuple(int(e) for e in v)
    except TypeError:
        vals = None
    if vals is None or len(vals) != size or any(e < minimum for e in vals):
        raise ValueError(
            f"{fn}: {name} must be a tuple of {size} ints >= {minimum}. Received: {name}={v!r}"
        )
    return vals


cdef int _geometry(Pool* p, cnp.ndarray x, object pool_size, object strides, object padding,
                   str fn) except -1:
    cdef Py_ssize_t pt, pb, pl, pr
    ph, pw = _ints(pool_size, fn, "pool_size", 2, 1)
    sh, sw = _ints(strides, fn, "strides", 2, 1)
    pt, pb, pl, pr = _ints(padding, fn, "padding", 4, 0)
    if pt >= ph or pb >= ph or pl >= pw or pr >= pw:
        raise ValueError(
            f"{fn}: padding must be smaller than the pool on each side (a window of padding "
            f"only has no value). Received: padding={tuple(padding)}, pool_size={tuple(pool_size)}"
        )
    p.n, p.h, p.w, p.c = x.shape[0], x.shape[1], x.shape[2], x.shape[3]
    p.ph, p.pw, p.sh, p.sw, p.pt, p.pl = ph, pw, sh, sw, pt, pl
    if p.h + pt + pb < ph or p.w + pl + pr < pw:
        raise ShapeError(
            f"{fn}: the padded input ({p.h + pt + pb}, {p.w + pl + pr}) is smaller than the pool "
            f"{(ph, pw)}. Received: x.shape={shape_str(x)}, padding={tuple(padding)}"
        )
    p.oh = (p.h + pt + pb - ph) // sh + 1
    p.ow = (p.w + pl + pr - pw) // sw + 1
    if p.h * p.w >= 2**31:
        raise ValueError(f"{fn}: an image must have fewer than 2**31 pixels. Received: x.shape={shape_str(x)}")
    return 0


cdef cnp.ndarray _image(object a, str fn, str name, int typenum, str ref):
    cdef cnp.ndarray arr = as_ndarray(a, fn, name)
    check_same_dtype(arr, typenum, fn, name, ref)
    check_ndim(arr, 4, fn, name, "(batch, height, width, channels)")
    return arr


cdef cnp.ndarray _argmax_array(object a, str fn, tuple shape, bint output):
    cdef cnp.ndarray arr = as_ndarray(a, fn, "argmax")
    if cnp.PyArray_TYPE(arr) != cnp.NPY_INT32:
        raise TypeError(f"{fn}: argmax must be int32. Received: argmax.dtype={arr.dtype}")
    check_shape(arr, shape, fn, "argmax", "= out.shape")
    if output and not cnp.PyArray_ISCARRAY(arr):
        raise ValueError(f"{fn}: argmax must be C-contiguous, aligned and writeable")
    if not output and not cnp.PyArray_ISCARRAY_RO(arr):
        arr = np.ascontiguousarray(arr)
    return arr


def max_pool2d_forward(x, out, argmax, pool_size=(2, 2), strides=(2, 2), padding=(0, 0, 0, 0)):
    """out = the max over each pool window; argmax = where each max came from.

    Args:
        x: (N, H, W, C) float32 or float64; may be strided.
        out: (N, OH, OW, C) C-contiguous output, OH = (H + top + bottom - ph) // sh + 1.
        argmax: (N, OH, OW, C) C-contiguous int32 output: the winner's h * W + w.
        pool_size: (ph, pw). strides: (sh, sw).
        padding: (top, bottom, left, right), each smaller than the pool; padding never wins.

    Returns:
        out.
    """
    cdef str fn = "max_pool2d_forward"
    cdef cnp.ndarray o = output_array(out, fn, "out")
    cdef int t = cnp.PyArray_TYPE(o)
    cdef cnp.ndarray xa = _image(x, fn, "x", t, "out"), aa
    cdef Pool p
    cdef int status
    _geometry(&p, xa, pool_size, strides, padding, fn)
    check_shape(o, (p.n, p.oh, p.ow, p.c), fn, "out", "= (N, OH, OW, C)")
    aa = _argmax_array(argmax, fn, (p.n, p.oh, p.ow, p.c), True)
    if overlaps(o, xa) or overlaps(aa, xa) or overlaps(aa, o):
        raise ValueError(f"{fn}: out, argmax and x must not share memory")
    xa = contiguous_input(xa, o)
    cdef void* xp = cnp.PyArray_DATA(xa)
    cdef void* op = cnp.PyArray_DATA(o)
    cdef int* ap = <int*>cnp.PyArray_DATA(aa)
    with nogil:
        if t == cnp.NPY_FLOAT32:
            status = _run(0, &p, <float*>xp, <float*>op, ap)
        else:
            status = _run(0, &p, <double*>xp, <double*>op, ap)
    return out


def max_pool2d_backward(dy, argmax, dx):
    """dx[:] = dy routed to the pixels recorded in argmax (summed where windows overlap).

    Args:
        dy: (N, OH, OW, C) gradient of the output; may be strided.
        argmax: (N, OH, OW, C) int32 from max_pool2d_forward.
        dx: (N, H, W, C) C-contiguous output, overwritten.
    """
    cdef str fn = "max_pool2d_backward"
    cdef cnp.ndarray d = output_array(dx, fn, "dx")
    cdef int t = cnp.PyArray_TYPE(d)
    cdef cnp.ndarray ga = _image(dy, fn, "dy", t, "dx"), aa
    cdef Pool p
    cdef int status
    check_ndim(d, 4, fn, "dx", "(batch, height, width, channels)")
    if ga.shape[0] != d.shape[0] or ga.shape[3] != d.shape[3]:
        raise ShapeError(f"{fn}: dy and dx must agree in batch size and channels. "
                         f"Received: dy.shape={shape_str(ga)}, dx.shape={shape_str(d)}")
    aa = _argmax_array(argmax, fn, (ga.shape[0], ga.shape[1], ga.shape[2], ga.shape[3]), False)
    p.n, p.h, p.w, p.c = d.shape[0], d.shape[1], d.shape[2], d.shape[3]
    p.oh, p.ow, p.ph, p.pw = ga.shape[1], ga.shape[2], 1, 1
    if overlaps(d, ga) or overlaps(d, aa):
        raise ValueError(f"{fn}: dx must not share memory with dy or argmax")
    ga = contiguous_input(ga, d)
    cdef void* gp = cnp.PyArray_DATA(ga)
    cdef void* dp = cnp.PyArray_DATA(d)
    cdef int* ap = <int*>cnp.PyArray_DATA(aa)
    with nogil:
        if t == cnp.NPY_FLOAT32:
            status = _run(1, &p, <float*>gp, <float*>dp, ap)
        else:
            status = _run(1, &p, <double*>gp, <double*>dp, ap)
    if status < 0:
        raise ValueError(f"{fn}: argmax holds an index outside [0, H*W) = [0, {p.h * p.w})")


def avg_pool2d_forward(x, out, pool_size=(2, 2), strides=(2, 2), padding=(0, 0, 0, 0)):
    """out = the mean over each pool window's pixels inside the image (padding not counted).

    Args:
        x: (N, H, W, C); may be strided.
        out: (N, OH, OW, C) C-contiguous output.
        pool_size, strides, padding: as in max_pool2d_forward.

    Returns:
        out.
    """
    cdef str fn = "avg_pool2d_forward"
    cdef cnp.ndarray o = output_array(out, fn, "out")
    cdef int t = cnp.PyArray_TYPE(o)
    cdef cnp.ndarray xa = _image(x, fn, "x", t, "out")
    cdef Pool p
    _geometry(&p, xa, pool_size, strides, padding, fn)
    check_shape(o, (p.n, p.oh, p.ow, p.c), fn, "out", "= (N, OH, OW, C)")
    if overlaps(o, xa):
        raise ValueError(f"{fn}: out must not share memory with x")
    xa = contiguous_input(xa, o)
    cdef void* xp = cnp.PyArray_DATA(xa)
    cdef void* op = cnp.PyArray_DATA(o)
    with nogil:
        if t == cnp.NPY_FLOAT32:
            _run(2, &p, <float*>xp, <float*>op, NULL)
        else:
            _run(2, &p, <double*>xp, <double*>op, NULL)
    return out


def avg_pool2d_backward(dy, dx, pool_size=(2, 2), strides=(2, 2), padding=(0, 0, 0, 0)):
    """dx[:] = each output gradient spread evenly over its window's pixels.

    Args:
        dy: (N, OH, OW, C); may be strided.
        dx: (N, H, W, C) C-contiguous output, overwritten; its shape with the
            options must give dy's.
        pool_size, strides, padding: as in the forward pass.
    """
    cdef str fn = "avg_pool2d_backward"
    cdef cnp.ndarray d = output_array(dx, fn, "dx")
    cdef int t = cnp.PyArray_TYPE(d)
    cdef cnp.ndarray ga = _image(dy, fn, "dy", t, "dx")
    cdef Pool p
    check_ndim(d, 4, fn, "dx", "(batch, height, width, channels)")
    _geometry(&p, d, pool_size, strides, padding, fn)
    check_shape(ga, (p.n, p.oh, p.ow, p.c), fn, "dy", "= (N, OH, OW, C) of the forward pass")
    if overlaps(d, ga):
        raise ValueError(f"{fn}: dx must not share memory with dy")
    ga = contiguous_input(ga, d)
    cdef void* gp = cnp.PyArray_DATA(ga)
    cdef void* dp = cnp.PyArray_DATA(d)
    with nogil:
        if t == cnp.NPY_FLOAT32:
            _run(3, &p, <float*>gp, <float*>dp, NULL)
        else:
            _run(3, &p, <double*>gp, <double*>dp, NULL)
