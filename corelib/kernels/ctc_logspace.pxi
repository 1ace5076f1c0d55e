# CTC forward-backward in log space (included by ctc.pyx): the reference
# recursions of Graves et al. (2006), used for samples that the rescaled
# probability-space version (ctc_scaled.pxi) cannot do without underflow.

cdef inline double _lse2(double a, double b) noexcept nogil:
    cdef double m = a if a > b else b
    if m == NEG_INF:
        return NEG_INF
    return m + log1p(exp(-(a - b if a > b else b - a)))


cdef inline double _lse3(double a, double b, double c) noexcept nogil:
    return _lse2(_lse2(a, b), c)


cdef void _log_probs(const floating* x, int T, int C, int mode, double* lp) noexcept nogil:
    """lp (T, C) = the log-probabilities that x holds in `mode`."""
    cdef int t, k
    cdef double m, s
    for t in range(T):
        if mode == 0:
            for k in range(C):
                lp[t * C + k] = x[t * C + k]
        elif mode == 2:
            for k in range(C):
                lp[t * C + k] = log(x[t * C + k] if x[t * C + k] > TINY else TINY)
        else:
            m = x[t * C]
            for k in range(1, C):
                if x[t * C + k] > m:
                    m = x[t * C + k]
            s = 0.0
            for k in range(C):
                s += exp(x[t * C + k] - m)
            s = m + log(s)
            for k in range(C):
                lp[t * C + k] = x[t * C + k] - s


cdef double _one_log(const floating* x, const long long* label, int L, int Tb, int T, int C, int blank,
                 int mode, bint zero_inf, floating* grad) noexcept nogil:
    """Loss of one sample; its gradient into grad (T, C) when grad is not NULL."""
    cdef int S = 2 * L + 1, t, s, k, c
    cdef double a, v, loss, ll
    cdef double* lp = <double*>malloc(max(Tb, 1) * C * sizeof(double))
    cdef double* al = <double*>malloc(max(Tb, 1) * S * sizeof(double))
    cdef double* be = <double*>malloc(max(Tb, 1) * S * sizeof(double))
    cdef double* acc = <double*>malloc(C * sizeof(double))
    cdef int* ext = <int*>malloc(S * sizeof(int))
    for s in range(S):
        ext[s] = blank if s % 2 == 0 else <int>label[s // 2]
    if grad != NULL:
        for t in range(T * C):
            grad[t] = 0
    if Tb == 0:
        loss = 0.0 if L == 0 else INFINITY
    else:
        _log_probs(x, Tb, C, mode, lp)
        for s in range(S):
            al[s] = NEG_INF
        al[0] = lp[blank]
        if S > 1:
            al[1] = lp[ext[1]]
        for t in range(1, Tb):
            for s in range(S):
                a = al[(t - 1) * S + s]
                if s > 0:
                    a = _lse2(a, al[(t - 1) * S + s - 1])
                if s > 1 and ext[s] != blank and ext[s] != ext[s - 2]:
                    a = _lse2(a, al[(t - 1) * S + s - 2])
                al[t * S + s] = a + lp[t * C + ext[s]] if a != NEG_INF else NEG_INF
        ll = al[(Tb - 1) * S + S - 1]
        if S > 1:
            ll = _lse2(ll, al[(Tb - 1) * S + S - 2])
        loss = -ll
        if grad != NULL and ll != NEG_INF:
            for s in range(S):
                be[(Tb - 1) * S + s] = NEG_INF
            be[(Tb - 1) * S + S - 1] = lp[(Tb - 1) * C + blank]
            if S > 1:
                be[(Tb - 1) * S + S - 2] = lp[(Tb - 1) * C + ext[S - 2]]
            for t in range(Tb - 2, -1, -1):
                for s in range(S):
                    a = be[(t + 1) * S + s]
                    if s < S - 1:
                        a = _lse2(a, be[(t + 1) * S + s + 1])
                    if s < S - 2 and ext[s] != blank and ext[s] != ext[s + 2]:
                        a = _lse2(a, be[(t + 1) * S + s + 2])
                    be[t * S + s] = a + lp[t * C + ext[s]] if a != NEG_INF else NEG_INF
            for t in range(Tb):
                for k in range(C):
                    acc[k] = NEG_INF
                for s in range(S):
                    c = ext[s]
                    v = al[t * S + s] + be[t * S + s]
                    if v != NEG_INF:
                        acc[c] = _lse2(acc[c], v - lp[t * C + c])
                for k in range(C):
                    # posterior of class k at step t: exp(acc + loss)
                    if mode == 0:
                        grad[t * C + k] = <floating>(-exp(acc[k] + loss))
                    elif mode == 1:
                        grad[t * C + k] = <floating>(exp(lp[t * C + k]) - exp(acc[k] + loss))
                    else:
                        grad[t * C + k] = <floating>(-exp(acc[k] + loss - lp[t * C + k]))
    if loss == INFINITY and zero_inf:
        loss = 0.0
    free(lp)
    free(al)
    free(be)
    free(acc)
    free(ext)
    return loss
