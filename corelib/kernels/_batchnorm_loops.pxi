# Per-channel loops of batchnorm.pyx, textually included there: sums,
# centred squares and products over a block of channels of x viewed as
# (A, C, B), and the per-channel affine map that finishes each pass. The
# B == 1 (channels last) loops run along the contiguous channel axis.

cdef void _channel_sums(const floating* x, const Dims* d, Py_ssize_t c0, Py_ssize_t c1,
                        double* out) noexcept nogil:
    """out[c - c0] = sum of x over channel c, for c in [c0, c1)."""
    cdef Py_ssize_t i, j, k, nc = c1 - c0
    cdef const floating* row
    cdef double s
    for k in range(nc):
        out[k] = 0.0
    if d.b == 1:
        for i in range(d.a):
            row = x + i * d.c + c0
            for k in range(nc):
                out[k] += row[k]
    else:
        for i in range(d.a):
            for k in range(nc):
                row = x + (i * d.c + c0 + k) * d.b
                s = 0.0
                for j in range(d.b):
                    s += row[j]
                out[k] += s


cdef void _centred_squares(const floating* x, const Dims* d, Py_ssize_t c0, Py_ssize_t c1,
                           const double* mean, double* out) noexcept nogil:
    """out[c - c0] = sum over the channel of (x - mean[c - c0])^2."""
    cdef Py_ssize_t i, j, k, nc = c1 - c0
    cdef const floating* row
    cdef double s, m, v
    for k in range(nc):
        out[k] = 0.0
    if d.b == 1:
        for i in range(d.a):
            row = x + i * d.c + c0
            for k in range(nc):
                v = row[k] - mean[k]
                out[k] += v * v
    else:
        for i in range(d.a):
            for k in range(nc):
                row = x + (i * d.c + c0 + k) * d.b
                m = mean[k]
                s = 0.0
                for j in range(d.b):
                    v = row[j] - m
                    s += v * v
                out[k] += s


cdef void _centred_dot(const floating* x, const floating* dy, const Dims* d, Py_ssize_t c0,
                       Py_ssize_t c1, const double* mean, double* sdy, double* sdyx) noexcept nogil:
    """sdy = sum(dy), sdyx = sum(dy * (x - mean)) per channel of [c0, c1)."""
    cdef Py_ssize_t i, j, k, nc = c1 - c0
    cdef const floating* xr
    cdef const floating* gr
    cdef double s, t, m
    for k in range(nc):
        sdy[k] = 0.0
        sdyx[k] = 0.0
    if d.b == 1:
        for i in range(d.a):
            xr = x + i * d.c + c0
            gr = dy + i * d.c + c0
            for k in range(nc):
                sdy[k] += gr[k]
                sdyx[k] += gr[k] * (xr[k] - mean[k])
    else:
        for i in range(d.a):
            for k in range(nc):
                xr = x + (i * d.c + c0 + k) * d.b
                gr = dy + (i * d.c + c0 + k) * d.b
                m = mean[k]
                s = 0.0
                t = 0.0
                for j in range(d.b):
                    s += gr[j]
                    t += gr[j] * (xr[j] - m)
                sdy[k] += s
                sdyx[k] += t


cdef void _affine(const floating* x, const floating* g, floating* y, const Dims* d,
                  Py_ssize_t c0, Py_ssize_t c1, const double* k1, const double* k2,
                  const double* k0) noexcept nogil:
    """y = k1 * x + k0 (g NULL) or y = k1 * g + k2 * x + k0, per channel of [c0, c1)."""
    cdef Py_ssize_t i, j, k, nc = c1 - c0, off
    cdef floating a1, a2, a0
    cdef floating* f1 = <floating*>malloc(3 * nc * sizeof(floating)) if d.b == 1 else NULL
    cdef floating* f2
    cdef floating* f0
    if d.b == 1 and f1 != NULL:
        # coefficients in the element type, so the row loop is pure float math
        f2 = f1 + nc
        f0 = f2 + nc
        for k in range(nc):
            f1[k] = <floating>k1[k]
            f2[k] = <floating>(k2[k] if k2 != NULL else 0.0)
            f0[k] = <floating>k0[k]
        for i in range(d.a):
            off = i * d.c + c0
            if g == NULL:
                for k in range(nc):
                    y[off + k] = x[off + k] * f1[k] + f0[k]
            else:
                for k in range(nc):
                    y[off + k] = g[off + k] * f1[k] + x[off + k] * f2[k] + f0[k]
        free(f1)
        return
    for i in range(d.a):
        for k in range(nc):
            off = (i * d.c + c0 + k) * d.b
            a1 = <floating>k1[k]
            a0 = <floating>k0[k]
            if g == NULL:
                for j in range(d.b):
                    y[off + j] = x[off + j] * a1 + a0
            else:
                a2 = <floating>k2[k]
                for j in range(d.b):
                    y[off + j] = g[off + j] * a1 + x[off + j] * a2 + a0
