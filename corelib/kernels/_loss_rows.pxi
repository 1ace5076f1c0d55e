# Row kernels of losses.pyx (included there): each computes rows [lo, hi)
# of one loss. Every row reads all it needs from pred/target before it writes
# that row's gradient, so grad may be exactly pred or target. Sums in double.

cdef enum:
    SOFTMAX_CE, SPARSE_SOFTMAX_CE, CAT_CE, SPARSE_CAT_CE, SIG_BCE, BCE, MSE, MAE, HUBER


cdef inline floating _clip(floating v, floating lo, floating hi) noexcept nogil:
    return lo if v < lo else (hi if v > hi else v)


cdef inline floating _sign(floating v) noexcept nogil:
    cdef floating zero = 0, one = 1
    return one if v > zero else (-one if v < zero else zero)


cdef enum:
    EXP_BLOCK = 256


cdef inline double _row_sum_exp(const floating[:, ::1] z, Py_ssize_t r, floating m) noexcept nogil:
    """sum(exp(z[r] - m)) in double. The exps go through a stack buffer so
    that their loop carries no reduction and vectorizes."""
    cdef floating buf[EXP_BLOCK]
    cdef Py_ssize_t blk, j0, j, width, d = z.shape[1]
    cdef double s = 0.0
    for blk in range((d + EXP_BLOCK - 1) // EXP_BLOCK):
        j0 = blk * EXP_BLOCK
        width = min(<Py_ssize_t>EXP_BLOCK, d - j0)
        for j in range(width):
            buf[j] = f_exp(z[r, j0 + j] - m)
        for j in range(width):
            s += buf[j]
    return s


cdef void _dense_rows(int code, const floating[:, ::1] p, const floating[:, ::1] t,
                      floating[::1] loss, floating[:, ::1] grad, bint has_grad,
                      floating param, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """Losses with a dense target (N, D). param: epsilon or delta."""
    cdef Py_ssize_t r, j, d = p.shape[1]
    cdef double acc, tsum, gsum, total
    cdef floating inv_d = <floating>(1.0 / d), two_d = <floating>(2.0 / d)
    cdef floating zero = 0, one = 1
    cdef floating m, lse, scale, v, e, c, g, s, eps_hi = one - param
    for r in range(lo, hi):
        acc = 0.0
        if code == SOFTMAX_CE:
            m = row_max(p, r)
            total = _row_sum_exp(p, r, m)
            lse = <floating>log(total)
            tsum = 0.0
            for j in range(d):
                tsum += t[r, j]
                acc += t[r, j] * ((m - p[r, j]) + lse)
            if has_grad:
                scale = <floating>(tsum / total)
                for j in range(d):
                    grad[r, j] = f_exp(p[r, j] - m) * scale - t[r, j]
        elif code == CAT_CE:
            total = 0.0
            for j in range(d):
                total += p[r, j]
            s = <floating>total
            gsum = 0.0
            for j in range(d):
                v = p[r, j] / s
                c = _clip(v, param, eps_hi)
                acc -= t[r, j] * f_log(c)
                if param <= v <= eps_hi:
                    gsum += -t[r, j] / c * v
            if has_grad:
                for j in range(d):
                    v = p[r, j] / s
                    g = -t[r, j] / _clip(v, param, eps_hi) if param <= v <= eps_hi else zero
                    grad[r, j] = (g - <floating>gsum) / s
        elif code == SIG_BCE:
            for j in range(d):
                v = p[r, j]
                acc += f_max(v, zero) - v * t[r, j] + f_log1p(f_exp(-f_abs(v)))
                if has_grad:
                    grad[r, j] = (f_sigmoid(v) - t[r, j]) * inv_d
        elif code == BCE:
            for j in range(d):
                v = p[r, j]
                c = _clip(v, param, eps_hi)
                acc -= t[r, j] * f_log(c) + (one - t[r, j]) * f_log(one - c)
                if has_grad:
                    if param <= v <= eps_hi:
                        grad[r, j] = (-t[r, j] / c + (one - t[r, j]) / (one - c)) * inv_d
                    else:
                        grad[r, j] = zero
        elif code == MSE:
            for j in range(d):
                v = p[r, j] - t[r, j]
                acc += v * v
                if has_grad:
                    grad[r, j] = v * two_d
        elif code == MAE:
            for j in range(d):
                v = p[r, j] - t[r, j]
                acc += f_abs(v)
                if has_grad:
                    grad[r, j] = _sign(v) * inv_d
        elif code == HUBER:
            for j in range(d):
                v = p[r, j] - t[r, j]
                e = f_abs(v)
                if e <= param:
                    acc += 0.5 * v * v
                    if has_grad:
                        grad[r, j] = v * inv_d
                else:
                    acc += param * e - 0.5 * param * param
                    if has_grad:
                        grad[r, j] = param * _sign(v) * inv_d
        if code == SOFTMAX_CE or code == CAT_CE:
            loss[r] = <floating>acc
        else:
            loss[r] = <floating>(acc / d)


cdef void _sparse_rows(int code, const floating[:, ::1] p, const int64_t[::1] labels,
                       floating[::1] loss, floating[:, ::1] grad, bint has_grad,
                       floating param, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """Losses with integer labels (N,), already checked to be in [0, D)."""
    cdef Py_ssize_t r, j, y, d = p.shape[1]
    cdef double total
    cdef floating zero = 0, one = 1
    cdef floating m, inv, s, v, c, gy, gsum, eps_hi = one - param
    for r in range(lo, hi):
        y = labels[r]
        if code == SPARSE_SOFTMAX_CE:
            m = row_max(p, r)
            total = _row_sum_exp(p, r, m)
            loss[r] = <floating>((m - p[r, y]) + log(total))
            if has_grad:
                inv = <floating>(1.0 / total)
                for j in range(d):
                    grad[r, j] = f_exp(p[r, j] - m) * inv
                grad[r, y] -= one
        elif code == SPARSE_CAT_CE:
            total = 0.0
            for j in range(d):
                total += p[r, j]
            s = <floating>total
            v = p[r, y] / s
            c = _clip(v, param, eps_hi)
            loss[r] = -f_log(c)
            if has_grad:
                gy = -one / c if param <= v <= eps_hi else zero
                gsum = gy * v
                for j in range(d):
                    grad[r, j] = -gsum / s
                grad[r, y] = (gy - gsum) / s
