# Shared by recurrent.pyx: the argument block the loops take, row-major gemm
# on raw pointers, the scalar gate nonlinearities by code, and the argument
# checks of the wrappers.

from libc.string cimport memcpy, memset

# Activation codes understood by the kernels. Each derivative is written in
# terms of the activation's *output*, so the backward pass needs no
# pre-activations.
ACTIVATION_CODES = {"linear": 0, "tanh": 1, "sigmoid": 2, "hard_sigmoid": 3, "relu": 4}


cdef struct Seq:
    # Sizes, and the element strides of the batch and time axes of each
    # per-step array: x/dx rows (width F), gate rows (width G*U), state rows
    # (width U, T+1 steps), other rows of width U (reset_states), d_states
    # (width U; time stride 0 with dS_last) and mask entries. Batch-major
    # (B, T, .) or time-major (T, B, .): in
    # both, x, gates and the U-wide rows of all steps are (B*T) rows in one
    # order, so whole-sequence products are single gemms.
    int B, T, F, U, dtype
    Py_ssize_t xb, xt, gb, gt, sb, st, ub, ut, db_, dt_, mb, mt
    bint time_major
    int act, ract
    bint reset_after, serial_slices
    bint dS_last   # dS holds only the last step's gradient (B, U): the others are 0
    const void* x
    const void* W
    const void* R
    const void* bias
    const void* rbias
    const unsigned char* mask
    const void* rdrop
    void* G        # gates (activated) / pre-activations (SimpleRNN)
    void* RH       # GRU: recurrent products
    void* HR       # GRU (reset before): r * h_prev
    void* S        # states, S[t=0] is the initial state
    void* C        # LSTM cells, same layout as S
    const void* dS
    const void* dcT
    void* dG
    void* dRH
    void* dx
    void* dW
    void* dR
    void* db
    void* drb
    void* dh0
    void* dc0


cdef Seq _seq(int B, int T, int F, int U, int gates, bint time_major):
    cdef Seq s
    memset(&s, 0, sizeof(Seq))
    s.B, s.T, s.F, s.U, s.time_major = B, T, F, U, time_major
    if time_major:
        s.xb, s.xt, s.gb, s.gt = F, <Py_ssize_t>B * F, gates * U, <Py_ssize_t>B * gates * U
        s.sb, s.st, s.ub, s.ut, s.mb, s.mt = U, <Py_ssize_t>B * U, U, <Py_ssize_t>B * U, 1, B
    else:
        s.xb, s.xt, s.gb, s.gt = <Py_ssize_t>T * F, F, <Py_ssize_t>T * gates * U, gates * U
        s.sb, s.st, s.ub, s.ut, s.mb, s.mt = <Py_ssize_t>(T + 1) * U, U, <Py_ssize_t>T * U, U, T, 1
    s.db_, s.dt_ = s.ub, s.ut
    return s


cdef inline bint _masked(const Seq* s, int b, int t) noexcept nogil:
    return s.mask != NULL and not s.mask[b * s.mb + t * s.mt]


cdef inline void _mm(bint ta, bint tb, int m, int n, int k, floating alpha,
                     const floating* a, Py_ssize_t lda, const floating* b, Py_ssize_t ldb, floating beta,
                     floating* c, Py_ssize_t ldc, bint openblas=False) noexcept nogil:
    """Row-major C(m, n) = alpha op(A) op(B) + beta C (operands swapped for BLAS);
    on SciPy's OpenBLAS whatever the BLAS choice when `openblas` (see _gemm)."""
    cdef int i
    if m <= 0 or n <= 0:
        return
    if k <= 0:
        if beta == 0:
            for i in range(m):
                memset(c + i * ldc, 0, n * sizeof(floating))
        return
    _gemm(ta, tb, m, n, k, alpha, a, <int>lda, b, <int>ldb, beta, c, <int>ldc, openblas)


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


cdef inline void _fill_rows(floating* c, int rows, int n, Py_ssize_t ld, const floating* b) noexcept nogil:
    """c[i, :n] = b (or 0 when b is NULL) for each of `rows` rows with leading dim ld."""
    cdef int i
    for i in range(rows):
        if b != NULL:
            memcpy(c + i * ld, b, n * sizeof(floating))
        else:
            memset(c + i * ld, 0, n * sizeof(floating))


cdef inline void _colsum_rows(const floating* a, int rows, int n, Py_ssize_t ld, double* acc) noexcept nogil:
    """acc[:n] += a(rows, n; leading dim ld).sum(0), in double."""
    cdef int i, j
    cdef const floating* r
    for i in range(rows):
        r = a + i * ld
        for j in range(n):
            acc[j] += r[j]


# ------------------------------------------------------------------ checks


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


cdef cnp.ndarray _mask(object mask, str fn, tuple shape, str axes):
    """The mask as C-contiguous uint8, or None."""
    if mask is None:
        return None
    arr = np.ascontiguousarray(mask)
    if arr.shape != shape:
        raise ShapeError(f"{fn}: mask must have shape {shape} {axes}. Received: mask.shape={arr.shape}")
    if arr.dtype != np.bool_ and arr.dtype != np.uint8:
        arr = arr != 0
    return np.ascontiguousarray(arr.view(np.uint8))


cdef inline void* _ptr(cnp.ndarray a) noexcept:
    return NULL if a is None else cnp.PyArray_DATA(a)


cdef int _code(object name, str fn, str what) except -1:
    if name not in ACTIVATION_CODES:
        raise ValueError(f"{fn}: {what} must be one of {sorted(ACTIVATION_CODES)}. Received: {name!r}")
    return ACTIVATION_CODES[name]
