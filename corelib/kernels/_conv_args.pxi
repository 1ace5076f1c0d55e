# Included by conv.pyx (after _conv_passes.pxi, whose Geom it fills): checks
# of the Python API's arguments -- the strides / padding / dilation tuples,
# array dtypes and ranks, the convolution's geometry, and the caller's column
# scratch arrays -- each raising ValueError / ShapeError naming the argument.

# ---------------------------------------------------------------- argument checks


cdef tuple _pair(object v, str fn, str name, int size, Py_ssize_t minimum):
    try:
        vals = tuple(int(e) for e in v)
    except TypeError:
        vals = None
    if vals is None or len(vals) != size or any(e < minimum for e in vals):
        raise ValueError(
            f"{fn}: {name} must be a tuple of {size} ints >= {minimum}. Received: {name}={v!r}"
        )
    return vals


cdef cnp.ndarray _input(object a, str fn, str name, int typenum, str ref, int nd, str what):
    cdef cnp.ndarray arr = as_ndarray(a, fn, name)
    check_same_dtype(arr, typenum, fn, name, ref)
    check_ndim(arr, nd, fn, name, what)
    return arr


cdef inline cnp.ndarray _contiguous(cnp.ndarray a):
    return a if cnp.PyArray_ISCARRAY_RO(a) else fresh_copy(a)


cdef int _geometry(Geom* g, cnp.ndarray x, cnp.ndarray w, object strides, object padding,
                   object dilation, object groups, str fn) except -1:
    """Fill g from x (N, H, W, C), w (KH, KW, C / groups, F) and the options; the
    output size follows from the padded input, the dilated kernel and the stride."""
    cdef Py_ssize_t pt, pb, pl, pr, ekh, ekw
    (ng,) = _pair((groups,), fn, "groups", 1, 1)
    sh, sw = _pair(strides, fn, "strides", 2, 1)
    pt, pb, pl, pr = _pair(padding, fn, "padding", 4, 0)
    dh, dw = _pair(dilation, fn, "dilation", 2, 1)
    g.n, g.h, g.w, g.c = x.shape[0], x.shape[1], x.shape[2], x.shape[3]
    g.kh, g.kw, g.f = w.shape[0], w.shape[1], w.shape[3]
    if g.kh < 1 or g.kw < 1 or g.c < 1 or g.f < 1 or w.shape[2] < 1:
        raise ShapeError(f"{fn}: w must have no empty axis. Received: w.shape={shape_str(w)}")
    if w.shape[2] * ng != g.c or g.f % ng:
        raise ShapeError(
            f"{fn}: w.shape[2] * groups must equal x.shape[3] (input channels) and groups must "
            f"divide w.shape[3] (filters). Received: x.shape={shape_str(x)}, w.shape={shape_str(w)}, "
            f"groups={ng}"
        )
    g.groups, g.cg, g.fg = ng, g.c // ng, g.f // ng
    g.sh, g.sw, g.dh, g.dw, g.pt, g.pl = sh, sw, dh, dw, pt, pl
    ekh, ekw = (g.kh - 1) * dh + 1, (g.kw - 1) * dw + 1
    if g.h + pt + pb < ekh or g.w + pl + pr < ekw:
        raise ShapeError(
            f"{fn}: the padded input ({g.h + pt + pb}, {g.w + pl + pr}) is smaller than the dilated "
            f"kernel ({ekh}, {ekw}). Received: x.shape={shape_str(x)}, w.shape={shape_str(w)}, "
            f"padding={tuple(padding)}, dilation={tuple(dilation)}"
        )
    g.oh = (g.h + pt + pb - ekh) // sh + 1
    g.ow = (g.w + pl + pr - ekw) // sw + 1
    if g.n * g.oh * g.ow >= 2**31 or g.kh * g.kw * g.c >= 2**31 or g.n * g.h * g.w * g.c >= 2**31:
        raise ValueError(f"{fn}: arrays must have fewer than 2**31 rows and columns per gemm. "
                         f"Received: x.shape={shape_str(x)}, w.shape={shape_str(w)}")
    return 0


cdef inline bint _is_direct(const Geom* g) noexcept:
    """1x1 kernel, stride 1, no padding: x is already the column matrix."""
    return g.kh == 1 and g.kw == 1 and g.sh == 1 and g.sw == 1 and g.oh == g.h and g.ow == g.w




cdef tuple _col_rows(object a, str fn, str name, int typenum, const Geom* g, bint dcol):
    """Check a caller's `col` / `dcol` array: (rows it holds per chunk, whether
    it holds the whole column matrix, every group's)."""
    cdef cnp.ndarray arr = output_array(a, fn, name)
    cdef Py_ssize_t m = g.n * g.oh * g.ow, kg = g.kh * g.kw * g.cg, size = cnp.PyArray_SIZE(arr)
    cdef Py_ssize_t whole = m * kg * (1 if dcol else g.groups)
    check_same_dtype(arr, typenum, fn, name, "x")
    if size >= whole:
        return m, True
    if size < kg:
        raise ShapeError(
            f"{fn}: {name} must hold at least one row of KH*KW*C/groups = {kg} entries "
            f"(the whole column matrix is {whole}). Received: {name}.shape={shape_str(arr)}"
        )
    return min(size // kg, m), False


cdef object _scratch(int typenum, Py_ssize_t n):
    return np.empty(n, np.float32 if typenum == cnp.NPY_FLOAT32 else np.float64)
