# The computing half of conv.pyx, textually included there (so the fused
# `floating` functions specialize in that module): the geometry record, row-
# major im2col / col2im (gemm is `_blas.pxi`'s) over ranges of output rows, and the forward and
# backward passes. No Python objects, no GIL.

cdef struct Geom:
    Py_ssize_t n, h, w, c      # input (N, H, W, C)
    Py_ssize_t kh, kw, f       # kernel (KH, KW, C / groups, F)
    Py_ssize_t oh, ow          # output (N, OH, OW, F)
    Py_ssize_t sh, sw, dh, dw  # strides and dilation
    Py_ssize_t pt, pl          # zero padding before (top, left)
    Py_ssize_t groups, cg, fg  # channel groups; input and output channels per group


# ---------------------------------------------------------------- im2col / col2im


cdef void _im2col(const floating* x, floating* col, const Geom* g, Py_ssize_t c0,
                  Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """col[0 : r1-r0] = the column rows r0 ... r1 of channels [c0, c0 + cg):
    each the (KH, KW, cg) receptive field of one output pixel, zeros where it
    hangs over the padding."""
    cdef Py_ssize_t r, i, j, t, ih, iw, iw0, n, oh, ow
    cdef Py_ssize_t c = g.c, cg = g.cg, run = g.kw * g.cg
    cdef floating* dst = col
    cdef const floating* src
    cdef bint whole_row
    n = r0 // (g.oh * g.ow)
    oh = (r0 // g.ow) % g.oh
    ow = r0 % g.ow
    for r in range(r0, r1):
        iw0 = ow * g.sw - g.pl
        whole_row = g.dw == 1 and cg == c and iw0 >= 0 and iw0 + g.kw <= g.w
        for i in range(g.kh):
            ih = oh * g.sh - g.pt + i * g.dh
            if ih < 0 or ih >= g.h:
                memset(dst, 0, run * sizeof(floating))
            elif whole_row:
                src = x + ((n * g.h + ih) * g.w + iw0) * c
                for t in range(run):
                    dst[t] = src[t]
            else:
                for j in range(g.kw):
                    iw = iw0 + j * g.dw
                    if iw < 0 or iw >= g.w:
                        memset(dst + j * cg, 0, cg * sizeof(floating))
                    else:
                        src = x + ((n * g.h + ih) * g.w + iw) * c + c0
                        for t in range(cg):
                            dst[j * cg + t] = src[t]
            dst += run
        ow += 1
        if ow == g.ow:
            ow = 0
            oh += 1
            if oh == g.oh:
                oh = 0
                n += 1


cdef void _col2im(const floating* col, floating* dx, const Geom* g, Py_ssize_t c0,
                  Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """dx[..., c0:c0+cg] += col[0 : r1-r0] added back onto the input pixels
    column rows r0 ... r1 were read from (the adjoint of _im2col)."""
    cdef Py_ssize_t r, i, j, t, ih, iw, iw0, n, oh, ow
    cdef Py_ssize_t c = g.c, cg = g.cg, run = g.kw * g.cg
    cdef const floating* src = col
    cdef floating* dst
    cdef bint whole_row
    n = r0 // (g.oh * g.ow)
    oh = (r0 // g.ow) % g.oh
    ow = r0 % g.ow
    for r in range(r0, r1):
        iw0 = ow * g.sw - g.pl
        whole_row = g.dw == 1 and cg == c and iw0 >= 0 and iw0 + g.kw <= g.w
        for i in range(g.kh):
            ih = oh * g.sh - g.pt + i * g.dh
            if ih < 0 or ih >= g.h:
                pass
            elif whole_row:
                dst = dx + ((n * g.h + ih) * g.w + iw0) * c
                for t in range(run):
                    dst[t] += src[t]
            else:
                for j in range(g.kw):
                    iw = iw0 + j * g.dw
                    if 0 <= iw < g.w:
                        dst = dx + ((n * g.h + ih) * g.w + iw) * c + c0
                        for t in range(cg):
                            dst[t] += src[j * cg + t]
            src += run
        ow += 1
        if ow == g.ow:
            ow = 0
            oh += 1
            if oh == g.oh:
                oh = 0
                n += 1


cdef void _col2im_samples(const floating* dcol, floating* dx, const Geom* g, Py_ssize_t c0) noexcept nogil:
    """_col2im over all M rows, one sample per thread when the work is enormous
    (samples add into disjoint parts of dx)."""
    cdef Py_ssize_t n, per = g.oh * g.ow, kg = g.kh * g.kw * g.cg
    cdef int nt = n_threads(g.n * per * kg)
    if nt > 1 and g.n > 1:
        for n in prange(g.n, num_threads=nt, schedule="static"):
            _col2im(dcol + n * per * kg, dx, g, c0, n * per, (n + 1) * per)
    else:
        _col2im(dcol, dx, g, c0, 0, g.n * per)


cdef void _im2col_samples(const floating* x, floating* col, const Geom* g, Py_ssize_t c0,
                          Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """_im2col of rows [r0, r1), split into one block per thread when the work is enormous."""
    cdef Py_ssize_t kg = g.kh * g.kw * g.cg, part, step
    cdef int nt = n_threads((r1 - r0) * kg)
    if nt > 1 and r1 - r0 >= 2 * nt:
        step = (r1 - r0 + nt - 1) // nt
        for part in prange(nt, num_threads=nt, schedule="static"):
            if r0 + part * step < r1:
                _im2col(x, col + part * step * kg, g, c0, r0 + part * step, min(r1, r0 + (part + 1) * step))
    else:
        _im2col(x, col, g, c0, r0, r1)


# ---------------------------------------------------------------- passes
#
# Group q reads input channels [q*cg, (q+1)*cg) and writes output channels
# [q*fg, (q+1)*fg): its kernel is the (KH*KW*cg, fg) column block q*fg of w
# seen as (KH*KW*cg, F), its output the column block q*fg of out(M, F), and
# (whole) its column matrix the q-th (M, KH*KW*cg) slab of col. `rows` is
# the chunk length, M when whole (a chunk of M rows also holds one group at a time).


cdef void _forward(const Geom* g, const floating* x, const floating* w, const floating* b,
                   floating* out, floating* col, Py_ssize_t rows, bint whole, bint direct) noexcept nogil:
    cdef Py_ssize_t r, r0, r1, q, m = g.n * g.oh * g.ow, kg = g.kh * g.kw * g.cg, f = g.f
    cdef floating beta = 0
    cdef const floating* a
    cdef floating* slab
    if b != NULL:
        for r in range(m):
            memcpy(out + r * f, b, f * sizeof(floating))
        beta = 1
    if direct or rows < 1:
        rows = m
    r0 = 0
    while r0 < m:
        r1 = min(m, r0 + rows)
        for q in range(g.groups):
            if direct:
                a = x + r0 * g.c + q * g.cg  # rows of x are pixels: a strided (R, cg) block
            else:
                slab = col + (q * m * kg if whole else 0)
                _im2col_samples(x, slab, g, q * g.cg, r0, r1)
                a = slab
            _gemm(False, False, <int>(r1 - r0), <int>g.fg, <int>kg, <floating>1, a,
                  <int>(g.c if direct else kg), w + q * g.fg, <int>f, beta, out + r0 * f + q * g.fg, <int>f)
        r0 = r1


cdef int _column_sums(const floating* dy, Py_ssize_t m, Py_ssize_t f, floating* db) noexcept nogil:
    """db += dy(m, f).sum(0), rows in order, in double; -1 when out of memory."""
    cdef double* acc = <double*>malloc(f * sizeof(double))
    cdef Py_ssize_t r, j
    cdef const floating* row
    if acc == NULL:
        return -1
    for j in range(f):
        acc[j] = 0.0
    for r in range(m):
        row = dy + r * f
        for j in range(f):
            acc[j] += row[j]
    for j in range(f):
        db[j] = <floating>(db[j] + acc[j])
    free(acc)
    return 0


cdef int _backward(const Geom* g, const floating* x, const floating* w, const floating* dy,
                   floating* dx, floating* dw, floating* db, floating* col, bint col_ready,
                   floating* dcol, Py_ssize_t rows, bint whole, bint direct) noexcept nogil:
    cdef Py_ssize_t r0, r1, q, m = g.n * g.oh * g.ow, kg = g.kh * g.kw * g.cg, f = g.f
    cdef int lda = <int>(g.c if direct else kg)
    cdef const floating* a
    cdef const floating* dyq
    cdef floating* slab
    if db != NULL and _column_sums(dy, m, f, db) < 0:
        return -1
    if dx != NULL and not direct:
        memset(dx, 0, g.n * g.h * g.w * g.c * sizeof(floating))
    if dw == NULL and dx == NULL:
        return 0  # the caller sized no column chunk (rows is 0)
    if direct or rows < 1:
        rows = m
    r0 = 0
    while r0 < m:
        r1 = min(m, r0 + rows)
        for q in range(g.groups):
            dyq = dy + r0 * f + q * g.fg
            if dw != NULL:
                if direct:
                    a = x + r0 * g.c + q * g.cg
                else:
                    slab = col + (q * m * kg if whole else 0)
                    if not col_ready:
                        _im2col_samples(x, slab, g, q * g.cg, r0, r1)
                    a = slab
                # dw_q(kg, fg) += col(R, kg)^T @ dy_q(R, fg)
                _gemm(True, False, <int>kg, <int>g.fg, <int>(r1 - r0), <floating>1, a, lda,
                      dyq, <int>f, <floating>1, dw + q * g.fg, <int>f)
            if dx != NULL:
                # dcol(R, kg) = dy_q(R, fg) @ w_q(kg, fg)^T: straight into dx's channels when
                # direct, else into dcol and added back onto the pixels it came from
                if direct:
                    _gemm(False, True, <int>(r1 - r0), <int>kg, <int>g.fg, <floating>1, dyq, <int>f,
                          w + q * g.fg, <int>f, <floating>0, dx + r0 * g.c + q * g.cg, <int>g.c)
                else:
                    _gemm(False, True, <int>(r1 - r0), <int>kg, <int>g.fg, <floating>1, dyq, <int>f,
                          w + q * g.fg, <int>f, <floating>0, dcol, <int>kg)
                    if rows == m:
                        _col2im_samples(dcol, dx, g, q * g.cg)
                    else:
                        _col2im(dcol, dx, g, q * g.cg, r0, r1)
        r0 = r1
    return 0
