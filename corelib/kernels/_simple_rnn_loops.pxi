# SimpleRNN forward and backward through time, included by recurrent.pyx:
# h_t = act(x_t W + b + h_{t-1} R). The gates array keeps the pre-activations.
# Each `_rows` function runs the whole sequence for batch rows b0..b1.


cdef int _rnn_fwd_rows(const Seq* s, floating* G, int b0, int b1, bint split) noexcept nogil:
    cdef int U = s.U, nb = b1 - b0, t, b
    cdef floating* S = <floating*>s.S
    cdef floating* hp
    cdef floating* hd = <floating*>malloc(<Py_ssize_t>nb * U * sizeof(floating))
    if hd == NULL:
        return -1
    for t in range(s.T):
        _project_rows(s, split, t, b0, nb, U, <const floating*>s.bias, G)
        _mmc(split, False, False, nb, U, U, <floating>1, _prev_rows(s, t, b0, nb, hd), _prev_ld(s),
             <const floating*>s.R, U, <floating>1, G + t * s.gt + b0 * s.gb, s.gb)
        for b in range(b0, b1):
            hp = S + b * s.sb + t * s.st
            if _masked(s, b, t):
                memcpy(hp + s.st, hp, U * sizeof(floating))
            else:
                _vact(s.act, G + b * s.gb + t * s.gt, hp + s.st, U)
    free(hd)
    return 0


cdef int _rnn_fwd(const Seq* s, floating* G) noexcept nogil:
    cdef int P = _batch_slices(s, s.U)
    if P == 1:
        _project_all(s, s.U, <const floating*>s.bias, G)
        return _rnn_fwd_rows(s, G, 0, s.B, False)
    return _run_slices(s, G, P, RNN_FWD, NULL)


cdef int _rnn_bwd_rows(const Seq* s, floating* dG, int b0, int b1, bint split, floating* dW, floating* dR,
                       double* dbias) noexcept nogil:
    cdef int T = s.T, U = s.U, nb = b1 - b0, t, b, j
    cdef const floating* S = <const floating*>s.S
    cdef const floating* dS = <const floating*>s.dS
    cdef floating* g
    cdef floating* dhb
    cdef const floating* nxt
    # this slice's rows of dh (the real array); dA, hd: (nb, U); zeros: (U,)
    cdef floating* dh = <floating*>s.dh0 + b0 * U
    cdef floating* work = <floating*>calloc(<Py_ssize_t>2 * nb * U + U, sizeof(floating))
    cdef floating* dA = work
    cdef floating* hd = work + nb * U
    cdef floating* zeros = work + 2 * nb * U
    if work == NULL:
        return -1
    for b in range(nb):
        memcpy(dh + b * U, dS + (b0 + b) * s.db_ + (T - 1) * s.dt_, U * sizeof(floating))
    for t in range(T - 1, -1, -1):
        for b in range(b0, b1):
            dhb = dh + (b - b0) * U
            g = dG + b * s.gb + t * s.gt
            nxt = dS + b * s.db_ + (t - 1) * s.dt_ if t > 0 and not s.dS_last else zeros
            if _masked(s, b, t):
                memset(g, 0, U * sizeof(floating))
                for j in range(U):
                    dhb[j] += nxt[j]
                continue
            _vdact(s.act, S + b * s.sb + (t + 1) * s.st, g, U)
            for j in range(U):
                g[j] *= dhb[j]
                dhb[j] = nxt[j]
        g = dG + t * s.gt + b0 * s.gb
        _colsum_rows(g, nb, U, s.gb, dbias)
        _step_back(s, split, t, b0, nb, U, <const floating*>s.R, g, dh, dA, hd, dR)
        _input_step(s, split, t, b0, nb, U, g, dW)
    free(work)
    return 0


cdef int _rnn_bwd(const Seq* s, floating* dG) noexcept nogil:
    cdef int NG = s.U, P = _batch_slices(s, NG), rc
    cdef Parts parts
    if _parts_init(&parts, s, P, NG, NG, sizeof(floating)) != 0:
        return -1
    if P == 1:
        rc = _rnn_bwd_rows(s, dG, 0, s.B, False, <floating*>s.dW, <floating*>s.dR, parts.bias)
        if _whole_dR(s, False):
            _mm(True, False, s.U, NG, s.B * s.T, <floating>1, <const floating*>s.S, s.U, dG, NG, <floating>1,
                <floating*>s.dR, NG)
        _input_all(s, NG, dG)
    else:
        rc = _run_slices(s, dG, P, RNN_BWD, &parts)
    _parts_finish(&parts, s, dG)
    return rc
