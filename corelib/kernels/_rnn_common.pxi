# Shared by recurrent.pyx: row-major gemm on raw pointers, the gate
# nonlinearities by code, and the argument checks of the wrappers.

from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, sgemm

# Activation codes understood by the kernels. Each derivative is written in
# terms of the activation's *output*, so the backward pass needs no
# pre-activations.
ACTIVATION_CODES = {"linear": 0, "tanh": 1, "sigmoid": 2, "hard_sigmoid": 3, "relu": 4}


cdef inline void _mm(bint ta, bint tb, int m, int n, int k, floating alpha,
                     const floating* a, int lda, const floating* b, int ldb, floating beta,
                     floating* c, int ldc) noexcept nogil:
    """Row-major C(m, n) = alpha op(A) op(B) + beta C (operands swapped for BLAS)."""
    cdef char cta = b"T" if ta else b"N"
    cdef char ctb = b"T" if tb else b"N"
    cdef int i
    if m <= 0 or n <= 0:
        return
    if k <= 0:
        if beta == 0:
            for i in range(m):
                memset(c + i * ldc, 0, n * sizeof(floating))
        return
    if floating is float:
        sgemm(&ctb, &cta, &n, &m, &k, &alpha, <float*>b, &ldb, <float*>a, &lda, &beta, c, &ldc)
    else:
        dgemm(&ctb, &cta, &n, &m, &k, &alpha, <double*>b, &ldb, <double*>a, &lda, &beta, c, &ldc)


cdef inline floating _act(int code, floating x) noexcept nogil:
    cdef floating one = 1, zero = 0
    if code == 1:
        return f_tanh(x)
    if code == 2:
        return f_sigmoid(x)
    if code == 3:
        return f_min(f_max(x / <floating>6 + <floating>0.5, zero), one)
    if code == 4:
        return x if x > zero else zero
    return x


cdef inline floating _dact(int code, floating y) noexcept nogil:
    """d act / d x at the point whose output is y."""
    cdef floating one = 1, zero = 0
    if code == 1:
        return one - y * y
    if code == 2:
        return y * (one - y)
    if code == 3:
        return one / <floating>6 if (y > zero and y < one) else zero
    if code == 4:
        return one if y > zero else zero
    return one


cdef inline void _fill_rows_ld(floating* c, int rows, int n, int ld, const floating* b) noexcept nogil:
    """c[i, :n] = b (or 0 when b is NULL) for each of `rows` rows with leading dim ld."""
    cdef int i
    for i in range(rows):
        if b != NULL:
            memcpy(c + <Py_ssize_t>i * ld, b, n * sizeof(floating))
        else:
            memset(c + <Py_ssize_t>i * ld, 0, n * sizeof(floating))


cdef inline void _colsum_add(const floating* a, int rows, int n, floating* out) noexcept nogil:
    """out[:n] += a(rows, n).sum(0), rows summed in order in double."""
    cdef int i, j
    cdef double* acc
    if n <= 0:
        return
    acc = <double*>malloc(n * sizeof(double))
    for j in range(n):
        acc[j] = 0.0
    for i in range(rows):
        for j in range(n):
            acc[j] += a[<Py_ssize_t>i * n + j]
    for j in range(n):
        out[j] = <floating>(out[j] + acc[j])
    free(acc)


cdef cnp.ndarray _inp(object a, str fn, str name, int t, tuple shape):
    """Input `a` checked for dtype and shape, C-contiguous (copied only when needed)."""
    cdef cnp.ndarray arr = as_ndarray(a, fn, name)
    check_same_dtype(arr, t, fn, name, "x")
    check_shape(arr, shape, fn, name, "")
    if not cnp.PyArray_ISCARRAY_RO(arr):
        arr = fresh_copy(arr)
    return arr


cdef cnp.ndarray _outp(object a, str fn, str name, int t, tuple shape):
    """Output `a` checked: C-contiguous, writeable, right dtype and shape."""
    cdef cnp.ndarray arr = output_array(a, fn, name)
    check_same_dtype(arr, t, fn, name, "x")
    check_shape(arr, shape, fn, name, "")
    return arr


cdef cnp.ndarray _opt_inp(object a, str fn, str name, int t, tuple shape):
    return None if a is None else _inp(a, fn, name, t, shape)


cdef cnp.ndarray _opt_outp(object a, str fn, str name, int t, tuple shape):
    return None if a is None else _outp(a, fn, name, t, shape)


cdef cnp.ndarray _mask(object mask, str fn, Py_ssize_t B, Py_ssize_t T):
    """The (batch, time) mask as C-contiguous uint8, or None."""
    if mask is None:
        return None
    arr = np.ascontiguousarray(mask)
    if arr.shape != (B, T):
        raise ShapeError(f"{fn}: mask must have shape {(B, T)} (batch, time). Received: mask.shape={arr.shape}")
    if arr.dtype != np.bool_ and arr.dtype != np.uint8:
        arr = arr != 0
    return np.ascontiguousarray(arr.view(np.uint8))


cdef inline void* _ptr(cnp.ndarray a) noexcept:
    return NULL if a is None else cnp.PyArray_DATA(a)


cdef int _code(object name, str fn, str what) except -1:
    if name not in ACTIVATION_CODES:
        raise ValueError(f"{fn}: {what} must be one of {sorted(ACTIVATION_CODES)}. Received: {name!r}")
    return ACTIVATION_CODES[name]
