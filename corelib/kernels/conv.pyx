"""Convolution kernels, channels-last like Keras: 2D on NHWC, 1D on NWC.

Scheme: im2col and BLAS gemm. With channels last, one output pixel's
receptive field is KH runs of KW*C contiguous input values (dilation 1), and
Keras's kernel layout (KH, KW, C, F) *is* a row-major (KH*KW*C, F) matrix, so

    forward        out(M, F)  = col(M, K) @ w(K, F) (+ b)        M = N*OH*OW
    filter grad    dw(K, F)  += col(M, K)^T @ dy(M, F)           K = KH*KW*C
    data grad      dcol(M, K) = dy(M, F) @ w(K, F)^T, then col2im adds dcol
                   back onto dx

with no transposed copies of anything. A 1x1 kernel with stride 1 and no
padding needs no column matrix at all: x itself is col.

Two ways to hold the column matrix, picked by the size of the `col` array
the caller passes (see `column_workspace`):

- whole: col holds all M rows. The forward pass leaves x's column matrix
  there and the backward pass can reuse it (`col_ready=True`). The default
  while it fits in FULL_LIMIT bytes (64 MiB).
- chunked: col holds R < M rows; each chunk of rows is built and multiplied
  at once, and the backward pass rebuilds it. Memory stays bounded for large
  images.

Chosen by measurement on the 2-core build box (docs/benchmarks.md): for the
benchmark CNN's first layer and the Conv1D the whole matrix was 10-30% faster
than 256 KiB - 2 MiB chunks, for its second layer -14% to +7%, and a whole
training step with 1 MiB chunks 4% slower (one large gemm uses BLAS's two
threads better than many small ones), so chunks are the fallback only. Hand
loops instead of gemm for the first layer (K = 9) measured 2-4x slower. Not
tried, by count: a full-correlation data gradient (im2col of the padded dy
with the flipped kernel) needs 40% more flops and a 2.8x larger column
matrix than gemm + col2im for the second layer; KH*KW shifted gemms with
K = C each would run BLAS at its least efficient for the small C of early
layers.

Loops over samples are threaded only above the module's work threshold
(see `_set_parallel_work` in _common.pxi): measured, threading im2col and
pooling made the benchmark CNN's step 3-4x slower next to OpenBLAS's threads.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

include "_common.pxi"
include "_blas.pxi"

__all__ = ["conv2d_forward", "conv2d_backward", "conv1d_forward", "conv1d_backward", "column_workspace"]


include "_conv_passes.pxi"


# ---------------------------------------------------------------- workspace sizes

cdef enum:
    DEFAULT_FULL_LIMIT = 64 << 20  # bytes up to which the whole column matrix is kept
    DEFAULT_CHUNK_BYTES = 1 << 20  # bytes of one chunk otherwise (about a core's L2 cache)
    MIN_ROWS = 128                 # fewer rows per gemm lose its efficiency

cdef Py_ssize_t FULL_LIMIT = DEFAULT_FULL_LIMIT
cdef Py_ssize_t CHUNK_BYTES = DEFAULT_CHUNK_BYTES


def _set_column_limits(Py_ssize_t full_limit=-1, Py_ssize_t chunk_bytes=-1) -> tuple:
    """Set the defaults of `column_workspace` (-1: the built-in ones); returns
    the previous pair. For measurements and tests."""
    global FULL_LIMIT, CHUNK_BYTES
    previous = (FULL_LIMIT, CHUNK_BYTES)
    FULL_LIMIT = DEFAULT_FULL_LIMIT if full_limit < 0 else full_limit
    CHUNK_BYTES = DEFAULT_CHUNK_BYTES if chunk_bytes < 0 else chunk_bytes
    return previous


def column_workspace(Py_ssize_t rows, Py_ssize_t row_length, Py_ssize_t groups=1,
                     Py_ssize_t itemsize=4, Py_ssize_t full_limit=-1):
    """(elements, whole) of the `col` array for a convolution with `rows` =
    N*OH*OW output pixels and `row_length` = KH*KW*C/groups: the whole column
    matrix (rows * row_length * groups elements, whole=True) while it takes at
    most `full_limit` bytes (-1: 64 MiB), else one chunk of rows (whole=False).
    `dcol` needs `elements // groups` when whole, `elements` otherwise."""
    cdef Py_ssize_t limit = FULL_LIMIT if full_limit < 0 else full_limit
    cdef Py_ssize_t total = rows * row_length * groups, chunk
    if total * itemsize <= limit:
        return total, True
    chunk = max(<Py_ssize_t>MIN_ROWS, CHUNK_BYTES // max(row_length * itemsize, 1))
    return min(chunk, rows) * row_length, False


include "_conv_args.pxi"


# ---------------------------------------------------------------- Python API


def conv2d_forward(x, w, b, out, strides=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), col=None, groups=1):
    """out = conv2d(x, w) (+ b), channels last (cross-correlation, as Keras and PyTorch).

    Args:
        x: (N, H, W, C) input, float32 or float64; may be strided.
        w: (KH, KW, C / groups, F) kernel (Keras layout), same dtype; may be strided.
        b: (F,) bias or None.
        out: (N, OH, OW, F) C-contiguous output, OH = (H + top + bottom -
            ((KH-1)*dh + 1)) // sh + 1 and likewise OW.
        strides: (sh, sw).
        padding: zeros added (top, bottom, left, right).
        dilation: (dh, dw).
        col: optional C-contiguous scratch array, any shape. With at least
            N*OH*OW * KH*KW*C elements it receives the whole column matrix, for
            `conv2d_backward(..., col=col, col_ready=True)`; a smaller one (at
            least one row, KH*KW*C/groups) is used for chunks of rows. None:
            one is allocated as `column_workspace` says. Unused for a 1x1
            kernel with stride 1 and no padding.
        groups: channel groups: group q maps input channels q*C/groups ...
            to filters q*F/groups ... (Keras's `groups`).

    Returns:
        out.
    """
    cdef str fn = "conv2d_forward"
    cdef cnp.ndarray o = output_array(out, fn, "out")
    cdef int t = cnp.PyArray_TYPE(o)
    cdef cnp.ndarray xa, wa, ba = None, ca = None
    cdef Geom g
    cdef bint direct, whole = False
    cdef Py_ssize_t rows = 0
    xa = _input(x, fn, "x", t, "out", 4, "(batch, height, width, channels)")
    wa = _input(w, fn, "w", t, "out", 4, "(kernel_h, kernel_w, in_channels / groups, filters)")
    _geometry(&g, xa, wa, strides, padding, dilation, groups, fn)
    check_shape(o, (g.n, g.oh, g.ow, g.f), fn, "out", "= (N, OH, OW, F)")
    if b is not None:
        ba = _input(b, fn, "b", t, "out", 1, "(filters,)")
        check_shape(ba, (g.f,), fn, "b", "= (w.shape[3],)")
        ba = _contiguous(ba)
    for a, name in ((xa, "x"), (wa, "w"), (ba, "b")):
        if a is not None and overlaps(o, a):
            raise ValueError(f"{fn}: out must not share memory with {name}")
    direct = _is_direct(&g)
    if g.n == 0:
        return out
    xa, wa = _contiguous(xa), _contiguous(wa)
    if not direct:
        if col is None:
            col = _scratch(t, column_workspace(g.n * g.oh * g.ow, g.kh * g.kw * g.cg, g.groups,
                                               cnp.PyArray_ITEMSIZE(o))[0])
        rows, whole = _col_rows(col, fn, "col", t, &g, False)
        ca = <cnp.ndarray>col
        for a, name in ((xa, "x"), (wa, "w"), (o, "out"), (ba, "b")):
            if a is not None and overlaps(ca, a):
                raise ValueError(f"{fn}: col must not share memory with {name}")
    cdef void* bp = NULL if ba is None else cnp.PyArray_DATA(ba)
    cdef void* cp = NULL if ca is None else cnp.PyArray_DATA(ca)
    cdef void* xp = cnp.PyArray_DATA(xa)
    cdef void* wp = cnp.PyArray_DATA(wa)
    cdef void* op = cnp.PyArray_DATA(o)
    with nogil:
        if t == cnp.NPY_FLOAT32:
            _forward(&g, <float*>xp, <float*>wp, <float*>bp, <float*>op, <float*>cp, rows, whole, direct)
        else:
            _forward(&g, <double*>xp, <double*>wp, <double*>bp, <double*>op, <double*>cp, rows, whole,
                     direct)
    return out


def conv2d_backward(x, w, dy, dx, dw, db, strides=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1),
                    col=None, col_ready=False, dcol=None, groups=1):
    """Gradients of conv2d_forward: dw += filter gradient; db += dy summed over
    N, OH, OW; dx[:] = data gradient. dw and db ACCUMULATE, dx is OVERWRITTEN.

    Args:
        x: (N, H, W, C) forward input; may be strided.
        w: (KH, KW, C / groups, F) kernel.
        dy: (N, OH, OW, F) gradient of the output; may be strided.
        dx: (N, H, W, C) C-contiguous output, or None to skip the data gradient.
        dw: w.shape C-contiguous accumulator, or None.
        db: (F,) C-contiguous accumulator, or None.
        strides, padding, dilation, groups: as in the forward pass.
        col: scratch for the column matrix, as in conv2d_forward. With
            col_ready=True it must be the whole matrix conv2d_forward left
            there for this x (x is then not read for dw); otherwise it is
            (re)built, whole or in chunks.
        col_ready: whether col already holds x's whole column matrix.
        dcol: scratch for the data gradient's column rows: the whole
            (N*OH*OW) * KH*KW*C/groups elements, or (with a chunked col) as
            many as col; None allocates one.

    Outputs must not share memory with the inputs or with each other.
    """
    cdef str fn = "conv2d_backward"
    cdef cnp.ndarray dya = as_ndarray(dy, fn, "dy")
    cdef int t = float_typenum(dya, fn, "dy")
    cdef cnp.ndarray xa, wa, dxa = None, dwa = None, dba = None, ca = None, dca = None
    cdef Geom g
    cdef bint direct, whole = False, ready = bool(col_ready)
    cdef int status = 0
    cdef Py_ssize_t rows = 0, m, kg
    check_ndim(dya, 4, fn, "dy", "(batch, out_height, out_width, filters)")
    xa = _input(x, fn, "x", t, "dy", 4, "(batch, height, width, channels)")
    wa = _input(w, fn, "w", t, "dy", 4, "(kernel_h, kernel_w, in_channels / groups, filters)")
    _geometry(&g, xa, wa, strides, padding, dilation, groups, fn)
    check_shape(dya, (g.n, g.oh, g.ow, g.f), fn, "dy", "= (N, OH, OW, F) of the forward pass")
    m, kg = g.n * g.oh * g.ow, g.kh * g.kw * g.cg
    outputs = []
    if dx is not None:
        dxa = output_array(dx, fn, "dx")
        check_same_dtype(dxa, t, fn, "dx", "dy")
        check_shape(dxa, (g.n, g.h, g.w, g.c), fn, "dx", "= x.shape")
        outputs.append(("dx", dxa))
    if dw is not None:
        dwa = output_array(dw, fn, "dw")
        check_same_dtype(dwa, t, fn, "dw", "dy")
        check_shape(dwa, (g.kh, g.kw, g.cg, g.f), fn, "dw", "= w.shape")
        outputs.append(("dw", dwa))
    if db is not None:
        dba = output_array(db, fn, "db")
        check_same_dtype(dba, t, fn, "db", "dy")
        check_shape(dba, (g.f,), fn, "db", "= (w.shape[3],)")
        outputs.append(("db", dba))
    direct = _is_direct(&g)
    if not direct and (dwa is not None or dxa is not None):
        if col is None:
            if ready:
                raise ValueError(f"{fn}: col_ready=True needs the col filled by conv2d_forward")
            col = _scratch(t, column_workspace(m, kg, g.groups, cnp.PyArray_ITEMSIZE(dya))[0])
        rows, whole = _col_rows(col, fn, "col", t, &g, False)
        if ready and not whole:
            raise ValueError(f"{fn}: col_ready=True needs the whole column matrix in col; it holds {rows} "
                             f"of {m} rows")
        ca = <cnp.ndarray>col
        if dwa is not None:
            outputs.append(("col", ca))
        if dxa is not None:
            if dcol is None:
                dcol = _scratch(t, rows * kg)
            if _col_rows(dcol, fn, "dcol", t, &g, True)[0] < rows:
                raise ShapeError(f"{fn}: dcol must hold at least {rows * kg} entries, as many rows as col. "
                                 f"Received: dcol.size={dcol.size}")
            dca = <cnp.ndarray>dcol
            outputs.append(("dcol", dca))
    for i in range(len(outputs)):
        name, p = outputs[i]
        for q, qname in ((xa, "x"), (wa, "w"), (dya, "dy")):
            if overlaps(p, q):
                raise ValueError(f"{fn}: {name} must not share memory with {qname}")
        for j in range(i):
            if overlaps(p, outputs[j][1]):
                raise ValueError(f"{fn}: {name} must not share memory with {outputs[j][0]}")
    if g.n == 0:
        return None
    wa, dya = _contiguous(wa), _contiguous(dya)
    if direct or (dwa is not None and not ready):
        xa = _contiguous(xa)
    cdef void* xp = cnp.PyArray_DATA(xa)
    cdef void* wp = cnp.PyArray_DATA(wa)
    cdef void* dyp = cnp.PyArray_DATA(dya)
    cdef void* dxp = NULL if dxa is None else cnp.PyArray_DATA(dxa)
    cdef void* dwp = NULL if dwa is None else cnp.PyArray_DATA(dwa)
    cdef void* dbp = NULL if dba is None else cnp.PyArray_DATA(dba)
    cdef void* cp = NULL if ca is None else cnp.PyArray_DATA(ca)
    cdef void* dcp = NULL if dca is None else cnp.PyArray_DATA(dca)
    with nogil:
        if t == cnp.NPY_FLOAT32:
            status = _backward(&g, <float*>xp, <float*>wp, <float*>dyp, <float*>dxp, <float*>dwp,
                               <float*>dbp, <float*>cp, ready, <float*>dcp, rows, whole, direct)
        else:
            status = _backward(&g, <double*>xp, <double*>wp, <double*>dyp, <double*>dxp,
                               <double*>dwp, <double*>dbp, <double*>cp, ready, <double*>dcp, rows, whole,
                               direct)
    if status < 0:
        raise MemoryError(f"{fn}: out of memory for the gradient accumulators")
    return None


def _as_2d_input(a, str fn, str name, str what):
    if a is None:
        return None
    arr = as_ndarray(a, fn, name)
    check_ndim(arr, 3, fn, name, what)
    return np.expand_dims(arr, 1)


def _as_2d_kernel(a, str fn):
    arr = as_ndarray(a, fn, "w")
    check_ndim(arr, 3, fn, "w", "(kernel_w, in_channels / groups, filters)")
    return np.expand_dims(arr, 0)


def conv1d_forward(x, w, b, out, stride=1, padding=(0, 0), dilation=1, col=None, groups=1):
    """out = conv1d(x, w) (+ b) on (N, W, C) sequences: conv2d_forward with H = 1.

    Args:
        x: (N, W, C) input. w: (KW, C / groups, F) kernel (Keras layout). b: (F,) or None.
        out: (N, OW, F) C-contiguous output.
        stride, dilation: ints. padding: zeros added (left, right).
        col, groups: as in conv2d_forward (N*OW rows of KW*C/groups).
    """
    cdef str fn = "conv1d_forward"
    left, right = _pair(padding, fn, "padding", 2, 0)
    o = output_array(out, fn, "out")
    check_ndim(o, 3, fn, "out", "(batch, out_width, filters)")
    conv2d_forward(_as_2d_input(x, fn, "x", "(batch, width, channels)"), _as_2d_kernel(w, fn), b,
                   np.expand_dims(o, 1), (1, stride), (0, 0, left, right), (1, dilation), col, groups)
    return out


def conv1d_backward(x, w, dy, dx, dw, db, stride=1, padding=(0, 0), dilation=1, col=None,
                    col_ready=False, dcol=None, groups=1):
    """Gradients of conv1d_forward (see conv2d_backward): dw, db accumulate, dx is overwritten.

    Args:
        x: (N, W, C). w: (KW, C / groups, F). dy: (N, OW, F). dx: (N, W, C) or None.
        dw: w.shape or None. db: (F,) or None.
        stride, padding, dilation, col, col_ready, dcol, groups: as in
            conv1d_forward / conv2d_backward.
    """
    cdef str fn = "conv1d_backward"
    left, right = _pair(padding, fn, "padding", 2, 0)
    dw4 = None
    if dw is not None:
        dw4 = output_array(dw, fn, "dw")
        check_ndim(dw4, 3, fn, "dw", "(kernel_w, in_channels / groups, filters)")
        dw4 = np.expand_dims(dw4, 0)
    conv2d_backward(_as_2d_input(x, fn, "x", "(batch, width, channels)"), _as_2d_kernel(w, fn),
                    _as_2d_input(dy, fn, "dy", "(batch, out_width, filters)"),
                    _as_2d_input(dx, fn, "dx", "(batch, width, channels)"), dw4, db,
                    (1, stride), (0, 0, left, right), (1, dilation), col, col_ready, dcol, groups)
