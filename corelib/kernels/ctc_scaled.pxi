# CTC forward-backward in probability space (included by ctc.pyx).
#
# Each lattice row is computed from the previous one divided by that row's
# maximum (Graves 2006, section 4.2, scales by the sum; the maximum does the
# same job), and the logarithms of the divisors add up to the log-likelihood.
# A cell costs a few multiply-adds instead of the exp and log1p of a
# log-space addition: about 10x faster. Only the cells that lie on some
# complete alignment are computed (the band of _bands), so every computed
# cell is nonzero in exact arithmetic and a row's maximum belongs to a state
# that can still finish.
#
# The results equal the log-space ones up to rounding as long as nothing
# underflows: sums and products of positive numbers lose nothing else. So a
# sample in which any computed cell or posterior normaliser falls below
# SCALED_FLOOR (far above the 2.2e-308 where doubles start losing bits), or
# is NaN, is recomputed in log space by the caller. That happens for a label
# class ~e^-640 below the step's most likely class, and for lattice rows that
# span more than ~1e280: long sequences (T in the hundreds, many labels) or
# very peaked outputs. Those samples run at log-space speed.

cdef double SCALED_FLOOR = 1e-280

cdef extern from *:
    """
    /* exp over an array. With libmvec, GCC also compiles an AVX2 clone (4
       doubles per call of libmvec's AVX2 exp, against 2 for the SSE entry
       point of the baseline build), chosen at load time on CPUs that have it. */
    #if defined(DL_USE_MVEC) && defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
    __attribute__((target_clones("avx2", "default")))
    #endif
    static void dl_ctc_exp_inplace(double *x, Py_ssize_t n) {
        for (Py_ssize_t i = 0; i < n; i++)
            x[i] = exp(x[i]);
    }
    """
    void dl_ctc_exp_inplace(double* x, Py_ssize_t n) noexcept nogil


cdef bint _bands(const int* ext, int S, int Tb, int blank, double* skip, int* lo, int* hi) noexcept nogil:
    """The skip-transition mask (skip[s] = 1.0 where s may be entered from
    s - 2) and, per step t < Tb, the states [lo[t], hi[t]] that lie on a
    complete alignment. Returns False when there is none (too few steps)."""
    cdef int s, t, f, n
    cdef int* first = <int*>malloc(2 * S * sizeof(int))
    cdef int* need = first + S
    if first == NULL:
        return False
    for s in range(S):
        skip[s] = 1.0 if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2] else 0.0
    # first[s]: the earliest step at which an alignment can be in state s;
    # need[s]: the fewest further steps from s to a final state. Both are
    # monotone in s, so the states allowed at step t form an interval.
    for s in range(S):
        if s < 2:
            first[s] = 0
        else:
            f = first[s - 1]
            if skip[s] != 0.0 and first[s - 2] < f:
                f = first[s - 2]
            first[s] = f + 1
    for s in range(S - 1, -1, -1):
        if s >= S - 2:
            need[s] = 0
        else:
            n = need[s + 1]
            if skip[s + 2] != 0.0 and need[s + 2] < n:
                n = need[s + 2]
            need[s] = n + 1
    cdef bint possible = need[0] <= Tb - 1
    if possible:
        f = 0
        n = 0
        for t in range(Tb):
            while f + 1 < S and first[f + 1] <= t:
                f += 1
            while need[n] > Tb - 1 - t:
                n += 1
            lo[t] = n
            hi[t] = f
    free(first)
    return possible


cdef void _emissions(const floating* x, int Tb, int C, int mode, double* E, double* off) noexcept nogil:
    """E (Tb, C): each step's class probabilities divided by a per-step
    constant exp(off[t]), so that the largest is 1 (logits: E is the softmax
    itself and off is 0)."""
    cdef int t, k
    cdef Py_ssize_t i, n = <Py_ssize_t>Tb * C
    cdef double m, s, v
    cdef floating mx
    cdef const floating* xr
    cdef double* er
    for t in range(Tb):
        xr = x + <Py_ssize_t>t * C
        er = E + <Py_ssize_t>t * C
        if mode == 2:
            m = TINY
            for k in range(C):
                v = xr[k] if xr[k] > TINY else TINY
                er[k] = v
                m = v if v > m else m
            s = 1.0 / m
            for k in range(C):
                er[k] = er[k] * s
            off[t] = log(m)
        else:
            mx = xr[0]  # in the input's precision: no conversion in the loop
            for k in range(1, C):
                mx = xr[k] if xr[k] > mx else mx
            m = mx
            for k in range(C):
                er[k] = xr[k] - m
            off[t] = m
    if mode == 2:
        return
    dl_ctc_exp_inplace(E, n)  # one long loop, vectorized
    if mode == 1:
        for t in range(Tb):
            er = E + <Py_ssize_t>t * C
            s = 0.0
            for k in range(C):
                s += er[k]
            s = 1.0 / s
            for k in range(C):
                er[k] = er[k] * s
            off[t] = 0.0


cdef inline bint _in_range(double mn, double c, double* scale, double* log_scale) noexcept nogil:
    """Whether a row whose smallest cell is mn and largest c lost nothing to
    underflow (False also for NaN); multiplies c into the running product
    `scale`, moving it into `log_scale` before it could under- or overflow."""
    if not mn >= SCALED_FLOOR:
        return False
    scale[0] *= c
    if not 1e-20 <= scale[0] <= 1e20:
        log_scale[0] += log(scale[0])
        scale[0] = 1.0
    return True


cdef inline void _zero_edges(double* row, int lo, int hi) noexcept nogil:
    """Zero the two cells on each side of a row's band [lo, hi]: all that the
    next step reads outside the band (its band starts no lower and reaches
    at most two states higher), so the rows need no clearing."""
    row[lo - 2] = 0.0
    row[lo - 1] = 0.0
    row[hi + 1] = 0.0
    row[hi + 2] = 0.0


cdef inline void _posterior_grad(const double* acc, double inv_z, const double* er, const floating* x,
                                 const int* ext, int lo, int hi, int blank, int C, int mode, double gscale,
                                 floating* grad) noexcept nogil:
    """One step's gradient, times gscale, from the posterior acc[k] * inv_z of
    each class; acc is zero but for the blank and the labels of states lo..hi."""
    cdef int k, s
    cdef double p
    if mode == 1:
        for k in range(C):
            grad[k] = <floating>((er[k] - acc[k] * inv_z) * gscale)
        return
    inv_z *= gscale
    memset(grad, 0, C * sizeof(floating))
    if mode == 0:
        grad[blank] = <floating>(-acc[blank] * inv_z)
        for s in range(lo | 1, hi + 1, 2):  # a label may come twice: both write the same value
            grad[ext[s]] = <floating>(-acc[ext[s]] * inv_z)
    else:
        p = x[blank] if x[blank] > TINY else TINY
        grad[blank] = <floating>(-acc[blank] * inv_z / p)
        for s in range(lo | 1, hi + 1, 2):
            k = ext[s]
            p = x[k] if x[k] > TINY else TINY
            grad[k] = <floating>(-acc[k] * inv_z / p)


cdef bint _one_scaled(const floating* x, const int* ext, int S, int Tb, int T, int C, int blank,
                      int mode, double* loss, floating* grad, double gscale) noexcept nogil:
    """Loss (and gradient times gscale, if grad is not NULL) of one sample whose alignment
    is possible, Tb >= 1. Returns False if it must be redone in log space
    (see the top of this file); grad is then partly written.

    Each row is computed from the previous one times 1 / (its maximum), in
    one pass that also finds the new row's maximum and minimum; the rows
    stored are therefore unnormalised by a per-row factor, which the
    posterior's normalisation per step cancels."""
    cdef int W = S + 4, t, s, k
    cdef Py_ssize_t n_d = <Py_ssize_t>Tb * C + Tb + <Py_ssize_t>Tb * W + 3 * W + C + S
    cdef double* E = <double*>malloc(n_d * sizeof(double))
    cdef int* lo = <int*>malloc(2 * Tb * sizeof(int))
    cdef int* hi = lo + Tb
    cdef double* off = E + <Py_ssize_t>Tb * C
    # alpha rows: alpha[t * W + 2 + s], two spare cells on each side for the
    # s-1, s-2 reads (and the final a[S - 1] when only S - 2 can end)
    cdef double* alpha = off + Tb
    cdef double* beta = alpha + <Py_ssize_t>Tb * W  # zeros after state S-1
    cdef double* g = beta + W                       # the next step's beta times emission
    cdef double* acc = g + W
    cdef double* skip = acc + C
    cdef double* skip_next = skip + S               # skip_next[s] = skip[s + 2]
    cdef double* a
    cdef const double* ap
    cdef const double* er
    cdef double log_p = 0.0, scale = 1.0, inv, v, c, mn, z, z_blank
    cdef bint ok = E != NULL and lo != NULL and _bands(ext, S, Tb, blank, skip, lo, hi)
    if ok:
        _emissions(x, Tb, C, mode, E, off)
        a = alpha + 2
        c = 0.0
        mn = INFINITY
        for s in range(lo[0], hi[0] + 1):
            v = E[ext[s]]
            a[s] = v
            c = v if v > c else c
            mn = v if v < mn else mn
        _zero_edges(a, lo[0], hi[0])
        ok = _in_range(mn, c, &scale, &log_p)
    t = 1
    while ok and t < Tb:
        ap = alpha + <Py_ssize_t>(t - 1) * W + 2
        a = alpha + <Py_ssize_t>t * W + 2
        er = E + <Py_ssize_t>t * C
        inv = 1.0 / c
        c = 0.0
        mn = INFINITY
        for s in range(lo[t], hi[t] + 1):
            v = (ap[s] + ap[s - 1] + skip[s] * ap[s - 2]) * inv * er[ext[s]]
            a[s] = v
            c = v if v > c else c
            mn = v if v < mn else mn
        _zero_edges(a, lo[t], hi[t])
        ok = _in_range(mn, c, &scale, &log_p)
        t += 1
    if ok:
        a = alpha + <Py_ssize_t>(Tb - 1) * W + 2
        log_p += log(scale * ((a[S - 1] + (a[S - 2] if S > 1 else 0.0)) / c))
        for t in range(Tb):
            log_p += off[t]
        loss[0] = 0.0 - log_p  # +0.0, not -0.0, for a certain labelling
    if not ok or grad == NULL:
        free(E)
        free(lo)
        return ok
    # backward: beta[s] = mass of the alignment suffixes after step t from
    # state s (emissions after t only), so alpha * beta is the mass through a cell
    for s in range(S):
        skip_next[s] = skip[s + 2] if s + 2 < S else 0.0
    memset(acc, 0, C * sizeof(double))
    memset(beta, 0, 2 * W * sizeof(double))
    for s in range(lo[Tb - 1], hi[Tb - 1] + 1):  # the final states
        beta[s] = 1.0
    c = 1.0
    t = Tb - 1
    while t >= 0:
        if t < Tb - 1:
            er = E + <Py_ssize_t>(t + 1) * C
            inv = 1.0 / c
            for s in range(lo[t + 1], hi[t + 1] + 1):
                g[s] = beta[s] * inv * er[ext[s]]
            c = 0.0
            mn = INFINITY
            for s in range(lo[t], hi[t] + 1):
                v = g[s] + g[s + 1] + skip_next[s] * g[s + 2]
                beta[s] = v
                c = v if v > c else c
                mn = v if v < mn else mn
            # g must read as zero outside the next band; beta is only read in its band
            for s in range(lo[t], hi[t + 1] + 1):
                g[s] = 0.0
            if not mn >= SCALED_FLOOR:
                break
        # the posterior of class k at step t: its share of the mass through
        # step t. Blank states (even s) add up apart from the labels (odd s),
        # which spares the scatter into acc a chain of stores to one address.
        a = alpha + <Py_ssize_t>t * W + 2
        z_blank = 0.0
        for s in range(lo[t] + (lo[t] & 1), hi[t] + 1, 2):
            z_blank += a[s] * beta[s]
        z = z_blank
        for s in range(lo[t] | 1, hi[t] + 1, 2):
            v = a[s] * beta[s]
            z += v
            acc[ext[s]] += v
        if not z >= SCALED_FLOOR:
            break
        acc[blank] = z_blank
        _posterior_grad(acc, 1.0 / z, E + <Py_ssize_t>t * C, x + <Py_ssize_t>t * C, ext, lo[t], hi[t], blank,
                        C, mode, gscale, grad + <Py_ssize_t>t * C)
        acc[blank] = 0.0
        for s in range(lo[t] | 1, hi[t] + 1, 2):
            acc[ext[s]] = 0.0
        t -= 1
    free(E)
    free(lo)
    if t >= 0:
        return False
    memset(grad + <Py_ssize_t>Tb * C, 0, <Py_ssize_t>(T - Tb) * C * sizeof(floating))
    return True
