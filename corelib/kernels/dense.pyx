"""Fully connected layer kernels: y = x @ w + b and its gradients.

Matrix products go through BLAS gemm (`_blas.pxi`: SciPy's OpenBLAS or MKL). NumPy
arrays are row-major and BLAS is column-major; a row-major matrix with
leading dimension ld *is* its transpose in column-major, so C = A @ B is
computed as C^T = B^T @ A^T by swapping the operands, with no copies.
Inputs whose inner stride is 1 (row slices) or whose outer stride is 1
(transposed arrays) are passed as they are with the right ld and trans flag.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy, memset
include "_common.pxi"
include "_blas.pxi"

__all__ = ["linear_forward", "linear_backward"]

# Column block of the bias-gradient sum: one stack accumulator per block,
# rows summed in order, so the result does not depend on the thread count.
cdef enum:
    DB_BLOCK = 64


cdef class _Operand:
    """A 2D input as BLAS sees it: data, row-major trans flag, leading dim."""
    cdef cnp.ndarray array  # keeps a copy alive when one was needed
    cdef bint trans
    cdef int ld


cdef _Operand _blas_operand(cnp.ndarray a):
    """Describe 2D `a` for gemm without copying when its strides allow it."""
    cdef _Operand op = _Operand.__new__(_Operand)
    cdef Py_ssize_t r = cnp.PyArray_DIM(a, 0), c = cnp.PyArray_DIM(a, 1)
    cdef Py_ssize_t isz = cnp.PyArray_ITEMSIZE(a)
    cdef Py_ssize_t s0 = cnp.PyArray_STRIDE(a, 0), s1 = cnp.PyArray_STRIDE(a, 1)
    if r >= 2**31 or c >= 2**31:
        raise ValueError(
            f"dense kernels: dimensions must be below 2**31. Received: shape=({r}, {c})"
        )
    op.array = a
    op.trans = False
    op.ld = max(c, 1)
    if r == 0 or c == 0:
        return op
    if cnp.PyArray_ISBEHAVED_RO(a):
        # row-major: contiguous rows, row stride a multiple of the item size >= c
        if (c == 1 or s1 == isz) and (r == 1 or (s0 % isz == 0 and c <= s0 // isz < 2**31)):
            op.ld = c if r == 1 else s0 // isz
            return op
        # column-major (a transposed array): it is op(.) = T of a row-major (c, r)
        if (r == 1 or s0 == isz) and (c == 1 or (s1 % isz == 0 and r <= s1 // isz < 2**31)):
            op.trans = True
            op.ld = r if c == 1 else s1 // isz
            return op
    op.array = fresh_copy(a)
    return op


cdef inline cnp.ndarray _input_matrix(object a, str fn, str name, int typenum, str ref):
    cdef cnp.ndarray arr = as_ndarray(a, fn, name)
    check_same_dtype(arr, typenum, fn, name, ref)
    check_ndim(arr, 2, fn, name, "(rows, columns)")
    return arr


cdef inline int _no_overlap(cnp.ndarray out, str oname, cnp.ndarray a, str aname, str fn) except -1:
    if overlaps(out, a):
        raise ValueError(f"{fn}: {oname} must not share memory with {aname}")
    return 0


# ---------------------------------------------------------------- forward


cdef void _fill_rows(floating[:, ::1] out, const floating[::1] b) noexcept nogil:
    """out[i, :] = b for every row i (the bias, before gemm adds x @ w)."""
    cdef Py_ssize_t i, n = out.shape[0], m = out.shape[1]
    cdef int nt = n_threads(n * m)
    if m == 0:
        return
    if nt > 1:
        for i in prange(n, num_threads=nt, schedule="static"):
            memcpy(&out[i, 0], &b[0], m * sizeof(floating))
    else:
        for i in range(n):
            memcpy(&out[i, 0], &b[0], m * sizeof(floating))


cdef void _bias_relu_rows(floating[:, ::1] out, const floating[::1] b, bint has_bias,
                          Py_ssize_t i0, Py_ssize_t i1) noexcept nogil:
    """out[i] = max(out[i] + b, 0) for rows i0..i1, each row once while it is in cache."""
    cdef Py_ssize_t i, j, m = out.shape[1]
    cdef floating v, zero = 0
    cdef floating* row
    for i in range(i0, i1):
        row = &out[i, 0]
        if has_bias:
            for j in range(m):
                v = row[j] + b[j]
                row[j] = v if v > zero else zero
        else:
            for j in range(m):
                v = row[j]
                row[j] = v if v > zero else zero


cdef void _bias_relu(floating[:, ::1] out, const floating[::1] b, bint has_bias) noexcept nogil:
    cdef Py_ssize_t n = out.shape[0], blk, nblocks = (n + 15) // 16
    cdef int nt = n_threads(n * out.shape[1])
    if nt > 1 and nblocks > 1:
        for blk in prange(nblocks, num_threads=nt, schedule="static"):
            _bias_relu_rows(out, b, has_bias, blk * 16, min(n, blk * 16 + 16))
    else:
        _bias_relu_rows(out, b, has_bias, 0, n)


cdef int _forward(_Operand x, _Operand w, object b, cnp.ndarray out_arr,
                  floating[:, ::1] out, bint relu) except -1:
    cdef const floating[::1] bias
    cdef int n = out.shape[0], m = out.shape[1], k = cnp.PyArray_DIM(w.array, 0)
    cdef floating beta = 0
    cdef const floating* xp = <const floating*>cnp.PyArray_DATA(x.array)
    cdef const floating* wp = <const floating*>cnp.PyArray_DATA(w.array)
    if n == 0 or m == 0:
        return 0
    cdef bint has_bias = b is not None
    bias = b if has_bias else out[0]  # (a row of out stands in, unread, when there is no bias)
    if relu:  # the product, then bias and ReLU in one pass over each row
        if k == 0:
            memset(&out[0, 0], 0, n * m * sizeof(floating))
        with nogil:
            if k > 0:
                _gemm(x.trans, w.trans, n, m, k, <floating>1, xp, x.ld, wp, w.ld, <floating>0, &out[0, 0], m)
            _bias_relu(out, bias, has_bias)
        return 0
    if has_bias:
        beta = 1
        with nogil:
            _fill_rows(out, bias)
    elif k == 0:
        memset(&out[0, 0], 0, n * m * sizeof(floating))
    if k > 0:
        with nogil:
            _gemm(x.trans, w.trans, n, m, k, <floating>1, xp, x.ld, wp, w.ld, beta, &out[0, 0], m)
    return 0


def linear_forward(x, w, b, out, bint relu=False):
    """out[:] = x @ w (+ b), computed in place; with relu, max(x @ w (+ b), 0),
    the bias and the ReLU applied in one pass after the product.

    Args:
        x: (N, K) input, float32 or float64; may be strided.
        w: (K, M) kernel, same dtype; may be strided.
        b: (M,) bias or None.
        out: (N, M) C-contiguous, writeable; must not share memory with x or w.

    Returns:
        out.
    """
    cdef str fn = "linear_forward"
    cdef cnp.ndarray o = output_array(out, fn, "out")
    cdef int t = cnp.PyArray_TYPE(o)
    cdef cnp.ndarray xa, wa, ba
    xa = _input_matrix(x, fn, "x", t, "out")
    wa = _input_matrix(w, fn, "w", t, "out")
    if cnp.PyArray_DIM(xa, 1) != cnp.PyArray_DIM(wa, 0):
        raise ShapeError(
            f"{fn}: x.shape[1] must equal w.shape[0]. "
            f"Received: x.shape={shape_str(xa)}, w.shape={shape_str(wa)}"
        )
    check_shape(o, (cnp.PyArray_DIM(xa, 0), cnp.PyArray_DIM(wa, 1)), fn, "out",
                "= (x.shape[0], w.shape[1])")
    if b is not None:
        ba = as_ndarray(b, fn, "b")
        check_same_dtype(ba, t, fn, "b", "out")
        check_shape(ba, (cnp.PyArray_DIM(wa, 1),), fn, "b", "= (w.shape[1],)")
        if not cnp.PyArray_ISCARRAY_RO(ba) or overlaps(ba, o):
            ba = fresh_copy(ba)
        b = ba
    _no_overlap(o, "out", xa, "x", fn)
    _no_overlap(o, "out", wa, "w", fn)
    if t == cnp.NPY_FLOAT32:
        _forward[float](_blas_operand(xa), _blas_operand(wa), b, o, o, relu)
    else:
        _forward[double](_blas_operand(xa), _blas_operand(wa), b, o, o, relu)
    return out


# ---------------------------------------------------------------- backward


cdef void _column_sums_block(const floating[:, :] dy, floating[::1] db,
                             Py_ssize_t j0, bint accumulate) noexcept nogil:
    """db[j0:j0+DB_BLOCK] (+)= dy[:, j0:j0+DB_BLOCK].sum(0), rows in order."""
    cdef double acc[DB_BLOCK]
    cdef Py_ssize_t i, j, width = min(<Py_ssize_t>DB_BLOCK, dy.shape[1] - j0)
    cdef const floating* row
    for j in range(width):
        acc[j] = 0.0
    if dy.strides[1] == sizeof(floating):  # rows contiguous: a vectorizable inner loop
        for i in range(dy.shape[0]):
            row = &dy[i, j0]
            for j in range(width):
                acc[j] += row[j]
    else:
        for i in range(dy.shape[0]):
            for j in range(width):
                acc[j] += dy[i, j0 + j]
    if accumulate:
        for j in range(width):
            db[j0 + j] = <floating>(db[j0 + j] + acc[j])
    else:
        for j in range(width):
            db[j0 + j] = <floating>acc[j]


cdef void _column_sums(const floating[:, :] dy, floating[::1] db, bint accumulate) noexcept nogil:
    """db += dy.sum(0) (db = ... when not accumulate), deterministic: each column summed over rows in order
    (in double), blocks of columns split across threads."""
    cdef Py_ssize_t blk, nblocks = (dy.shape[1] + DB_BLOCK - 1) // DB_BLOCK
    cdef int nt = n_threads(dy.shape[0] * dy.shape[1])
    if nt > 1 and nblocks > 1:
        for blk in prange(nblocks, num_threads=nt, schedule="static"):
            _column_sums_block(dy, db, blk * DB_BLOCK, accumulate)
    else:
        for blk in range(nblocks):
            _column_sums_block(dy, db, blk * DB_BLOCK, accumulate)


cdef int _backward(_Operand x, _Operand w, _Operand dyop, cnp.ndarray dy_arr,
                   object dx_arr, object dw_arr, object db_arr, bint accumulate, floating dummy) except -1:
    cdef int n = cnp.PyArray_DIM(dy_arr, 0), m = cnp.PyArray_DIM(dy_arr, 1)
    cdef int k = cnp.PyArray_DIM(w.array, 0)
    cdef const floating* dyp = <const floating*>cnp.PyArray_DATA(dyop.array)
    cdef const floating[:, :] dy
    cdef floating[::1] db
    cdef floating* out
    if db_arr is not None and n > 0 and m > 0:
        dy = dyop.array
        db = db_arr
        with nogil:
            _column_sums(dy, db, accumulate)
    if n == 0 or m == 0:  # products with an empty inner dimension
        if dx_arr is not None:
            (<cnp.ndarray>dx_arr)[...] = 0
        if not accumulate:
            for out_arr in (dw_arr, db_arr):
                if out_arr is not None:
                    (<cnp.ndarray>out_arr)[...] = 0
        return 0
    if dw_arr is not None and k > 0:
        out = <floating*>cnp.PyArray_DATA(dw_arr)
        with nogil:  # dw(K, M) (+)= x^T(K, N) @ dy(N, M)
            _gemm(not x.trans, dyop.trans, k, m, n, <floating>1,
                  <const floating*>cnp.PyArray_DATA(x.array), x.ld, dyp, dyop.ld,
                  <floating>(1 if accumulate else 0), out, m)
    if dx_arr is not None and k > 0:
        out = <floating*>cnp.PyArray_DATA(dx_arr)
        with nogil:  # dx(N, K) = dy(N, M) @ w^T(M, K)
            _gemm(dyop.trans, not w.trans, n, k, m, <floating>1, dyp, dyop.ld,
                  <const floating*>cnp.PyArray_DATA(w.array), w.ld, <floating>0, out, k)
    return 0


def linear_backward(x, w, dy, dx, dw, db, bint accumulate=True):
    """Gradients of out = x @ w + b: dw += x.T @ dy; db += dy.sum(0); dx[:] = dy @ w.T.

    dw and db ACCUMULATE (+=), or with accumulate=False are OVERWRITTEN (the
    first gradient of a step, written by the gemm with beta = 0 instead of
    zeroing and then adding); dx is OVERWRITTEN.

    Args:
        x: (N, K) forward input; may be strided; may be None when dw is None.
        w: (K, M) kernel; may be strided.
        dy: (N, M) gradient of the output; may be strided.
        dx: (N, K) C-contiguous output, or None to skip the input gradient.
        dw: (K, M) C-contiguous accumulator, or None to skip it.
        db: (M,) C-contiguous accumulator, or None (no bias).

    Outputs must not share memory with any input or with each other.
    The bias sum runs over rows in a fixed order, so results are bit-for-bit
    repeatable for a given thread count.
    """
    cdef str fn = "linear_backward"
    cdef cnp.ndarray dya = as_ndarray(dy, fn, "dy")
    cdef int t = float_typenum(dya, fn, "dy")
    cdef cnp.ndarray xa = None, wa, dxa = None, dwa = None, dba = None
    cdef Py_ssize_t n, m, k
    cdef list inputs, outputs
    cdef cnp.ndarray p, q
    cdef _Operand xop
    check_ndim(dya, 2, fn, "dy", "(batch, units)")
    wa = _input_matrix(w, fn, "w", t, "dy")
    n, m, k = cnp.PyArray_DIM(dya, 0), cnp.PyArray_DIM(dya, 1), cnp.PyArray_DIM(wa, 0)
    check_shape(wa, (k, m), fn, "w", "= (w.shape[0], dy.shape[1])")
    if x is not None:
        xa = _input_matrix(x, fn, "x", t, "dy")
        check_shape(xa, (n, k), fn, "x", "= (dy.shape[0], w.shape[0])")
    elif dw is not None:
        raise ValueError(f"{fn}: x is needed to compute dw. Received: x=None")
    inputs, outputs = [xa, wa, dya], []
    if dx is not None:
        dxa = output_array(dx, fn, "dx")
        check_same_dtype(dxa, t, fn, "dx", "dy")
        check_shape(dxa, (n, k), fn, "dx", "= (dy.shape[0], w.shape[0])")
        outputs.append(("dx", dxa))
    if dw is not None:
        dwa = output_array(dw, fn, "dw")
        check_same_dtype(dwa, t, fn, "dw", "dy")
        check_shape(dwa, (k, m), fn, "dw", "= w.shape")
        outputs.append(("dw", dwa))
    if db is not None:
        dba = output_array(db, fn, "db")
        check_same_dtype(dba, t, fn, "db", "dy")
        check_shape(dba, (m,), fn, "db", "= (dy.shape[1],)")
        outputs.append(("db", dba))
    for i in range(len(outputs)):
        p = outputs[i][1]
        for q, qname in zip(inputs, ("x", "w", "dy")):
            if q is not None:
                _no_overlap(p, outputs[i][0], q, qname, fn)
        for j in range(i):
            _no_overlap(p, outputs[i][0], outputs[j][1], outputs[j][0], fn)
    xop = _blas_operand(xa) if xa is not None else None
    if t == cnp.NPY_FLOAT32:
        _backward[float](xop, _blas_operand(wa), _blas_operand(dya), dya, dxa, dwa, dba, accumulate, 0)
    else:
        _backward[double](xop, _blas_operand(wa), _blas_operand(dya), dya, dxa, dwa, dba, accumulate, 0)
