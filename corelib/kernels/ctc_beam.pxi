# Prefix beam search for CTC decoding (included by ctc.pyx; uses _lse2 of
# ctc_logspace.pxi).


cdef double _beam_one(const double* lp, int Tb, int C, int W, int blank, long long* out) noexcept nogil:
    """Prefix beam search over lp (Tb, C) log-probabilities; the best labelling
    into out (its tail -1); returns its log-probability."""
    cdef int n_ext = W * C, cap = Tb + 1, t, i, j, k, c, n, best, nb = 1, n_cand
    cdef int* pref = <int*>malloc(W * cap * sizeof(int))
    cdef int* plen = <int*>malloc(W * sizeof(int))
    cdef double* pb = <double*>malloc(W * sizeof(double))
    cdef double* pnb = <double*>malloc(W * sizeof(double))
    cdef int* npref = <int*>malloc(W * cap * sizeof(int))
    cdef int* nplen = <int*>malloc(W * sizeof(int))
    cdef double* npb = <double*>malloc(W * sizeof(double))
    cdef double* npnb = <double*>malloc(W * sizeof(double))
    # candidates: W "stay" ones (index i) then W*C extensions (W + i*C + c)
    cdef double* cb = <double*>malloc((W + n_ext) * sizeof(double))
    cdef double* cnb = <double*>malloc((W + n_ext) * sizeof(double))
    cdef int* redirect = <int*>malloc(n_ext * sizeof(int))
    cdef double total, score, bs
    cdef bint same
    plen[0] = 0
    pb[0] = 0.0
    pnb[0] = NEG_INF
    for t in range(Tb):
        for i in range(W + n_ext):
            cb[i] = NEG_INF
            cnb[i] = NEG_INF
        for i in range(n_ext):
            redirect[i] = -1
        # an extension of beam i that spells beam j is beam j's candidate
        for i in range(nb):
            for j in range(nb):
                if plen[j] == plen[i] + 1:
                    same = True
                    for k in range(plen[i]):
                        if pref[j * cap + k] != pref[i * cap + k]:
                            same = False
                            break
                    if same:
                        redirect[i * C + pref[j * cap + plen[i]]] = j
        for i in range(nb):
            total = _lse2(pb[i], pnb[i])
            cb[i] = _lse2(cb[i], total + lp[t * C + blank])
            if plen[i] > 0:
                c = pref[i * cap + plen[i] - 1]
                cnb[i] = _lse2(cnb[i], pnb[i] + lp[t * C + c])
            for c in range(C):
                if c == blank:
                    continue
                if plen[i] > 0 and c == pref[i * cap + plen[i] - 1]:
                    score = pb[i] + lp[t * C + c]
                else:
                    score = total + lp[t * C + c]
                k = redirect[i * C + c]
                k = W + i * C + c if k < 0 else k
                cnb[k] = _lse2(cnb[k], score)
        # keep the W best candidates
        n_cand = 0
        for n in range(W):
            best = -1
            bs = NEG_INF
            for k in range(W + nb * C):
                if k >= nb and k < W:
                    continue
                score = _lse2(cb[k], cnb[k])
                if score > bs:
                    bs = score
                    best = k
            if best < 0:
                break
            if best < W:
                memcpy(npref + n * cap, pref + best * cap, plen[best] * sizeof(int))
                nplen[n] = plen[best]
            else:
                i = (best - W) // C
                c = (best - W) % C
                memcpy(npref + n * cap, pref + i * cap, plen[i] * sizeof(int))
                npref[n * cap + plen[i]] = c
                nplen[n] = plen[i] + 1
            npb[n] = cb[best]
            npnb[n] = cnb[best]
            cb[best] = NEG_INF
            cnb[best] = NEG_INF
            n_cand += 1
        nb = n_cand
        pref, npref = npref, pref
        plen, nplen = nplen, plen
        pb, npb = npb, pb
        pnb, npnb = npnb, pnb
    best = 0
    bs = NEG_INF
    for i in range(nb):
        score = _lse2(pb[i], pnb[i])
        if score > bs:
            bs = score
            best = i
    for k in range(Tb):
        out[k] = pref[best * cap + k] if k < plen[best] else -1
    free(pref)
    free(plen)
    free(npref)
    free(nplen)
    free(redirect)
    free(pb)
    free(pnb)
    free(npb)
    free(npnb)
    free(cb)
    free(cnb)
    return bs
