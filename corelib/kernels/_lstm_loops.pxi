# LSTM forward and backward through time (Keras gate order i, f, c, o),
# included by recurrent.pyx. Each `_rows` function runs the whole sequence
# for batch rows b0..b1 (one slice); the drivers run the slices in parallel (_rnn_threads.pxi).
# Layouts and conventions: see recurrent.pyx's docstring.


cdef int _lstm_fwd_rows(const Seq* s, floating* G, int b0, int b1, bint split) noexcept nogil:
    cdef int U = s.U, NG = 4 * s.U, nb = b1 - b0, t, b, j
    cdef floating* S = <floating*>s.S
    cdef floating* C = <floating*>s.C
    cdef floating* row
    cdef const floating* cp
    cdef floating* cn
    cdef floating* hn
    cdef floating* work = <floating*>calloc(<Py_ssize_t>nb * U + U + NG, sizeof(floating))
    cdef floating* hd = work
    cdef floating* tc = work + nb * U
    cdef const floating* bias = <const floating*>s.bias
    cdef bint fused = floating is float and _fused_gates(s)
    if work == NULL:
        return -1
    if fused and bias == NULL:
        bias = tc + U  # zeros
    for t in range(s.T):
        _project_rows(s, split, t, b0, nb, NG, bias if not fused else <const floating*>NULL, G)
        _mmc(split, False, False, nb, NG, U, <floating>1, _prev_rows(s, t, b0, nb, hd), _prev_ld(s),
             <const floating*>s.R, NG, <floating>1, G + t * s.gt + b0 * s.gb, s.gb)
        for b in range(b0, b1):
            cp = C + b * s.sb + t * s.st
            cn = <floating*>cp + s.st
            hn = S + b * s.sb + (t + 1) * s.st
            if _masked(s, b, t):
                memcpy(hn, hn - s.st, U * sizeof(floating))
                memcpy(cn, cp, U * sizeof(floating))
                continue
            row = G + b * s.gb + t * s.gt
            if floating is float:
                if fused:
                    dl_lstm_fwd_row(row, bias, cp, cn, hn, U)
                    continue
            _vact(s.ract, row, row, 2 * U)
            _vact(s.act, row + 2 * U, row + 2 * U, U)
            _vact(s.ract, row + 3 * U, row + 3 * U, U)
            for j in range(U):
                cn[j] = row[U + j] * cp[j] + row[j] * row[2 * U + j]
            _vact(s.act, cn, tc, U)
            for j in range(U):
                hn[j] = row[3 * U + j] * tc[j]
    free(work)
    return 0


cdef int _lstm_fwd(const Seq* s, floating* G) noexcept nogil:
    cdef int P = _batch_slices(s, 4 * s.U)
    cdef bint fused = floating is float and _fused_gates(s)  # the fused loops add the bias
    if P == 1:
        _project_all(s, 4 * s.U, <const floating*>s.bias if not fused else <const floating*>NULL, G)
        return _lstm_fwd_rows(s, G, 0, s.B, False)
    return _run_slices(s, G, P, LSTM_FWD, NULL)


cdef int _lstm_bwd_rows(const Seq* s, floating* dG, int b0, int b1, bint split, floating* dW, floating* dR,
                        double* dbias) noexcept nogil:
    cdef int T = s.T, U = s.U, NG = 4 * s.U, nb = b1 - b0, t, b, j
    cdef const floating* G = <const floating*>s.G
    cdef const floating* C = <const floating*>s.C
    cdef const floating* dS = <const floating*>s.dS
    cdef const floating* row
    cdef const floating* cp
    cdef const floating* nxt
    cdef floating* drow
    cdef floating* dhb
    cdef floating* dcb
    cdef floating dhv, dct
    # this slice's rows of dh and dc (the real arrays); dA, hd: (nb, U);
    # tc, dtc, di, df, dcc, do_, zeros: (U,); bacc: (NG,)
    cdef floating* dh = <floating*>s.dh0 + b0 * U
    cdef floating* dc = <floating*>s.dc0 + b0 * U
    cdef floating* work = <floating*>calloc(<Py_ssize_t>2 * nb * U + 7 * U + NG, sizeof(floating))
    cdef floating* dA = work
    cdef floating* hd = work + nb * U
    cdef floating* tc = work + 2 * nb * U
    cdef floating* dtc = tc + U
    cdef floating* di = tc + 2 * U
    cdef floating* df = tc + 3 * U
    cdef floating* dcc = tc + 4 * U
    cdef floating* do_ = tc + 5 * U
    cdef floating* zeros = tc + 6 * U
    cdef floating* bacc = tc + 7 * U
    cdef bint fused = floating is float and _fused_gates(s)
    if work == NULL:
        return -1
    for b in range(nb):
        memcpy(dh + b * U, dS + (b0 + b) * s.db_ + (T - 1) * s.dt_, U * sizeof(floating))
    if s.dcT != NULL:
        memcpy(dc, <const floating*>s.dcT + b0 * U, nb * U * sizeof(floating))
    else:
        memset(dc, 0, nb * U * sizeof(floating))
    for t in range(T - 1, -1, -1):
        for b in range(b0, b1):
            dhb = dh + (b - b0) * U
            dcb = dc + (b - b0) * U
            drow = dG + b * s.gb + t * s.gt
            nxt = dS + b * s.db_ + (t - 1) * s.dt_ if t > 0 and not s.dS_last else zeros
            if _masked(s, b, t):
                memset(drow, 0, NG * sizeof(floating))
                for j in range(U):
                    dhb[j] += nxt[j]
                continue
            row = G + b * s.gb + t * s.gt
            cp = C + b * s.sb + t * s.st
            if floating is float:
                if fused:
                    dl_lstm_bwd_row(row, cp, cp + s.st, dhb, dcb, nxt, drow, bacc, U)
                    continue
            _vact(s.act, cp + s.st, tc, U)
            _vdact(s.act, tc, dtc, U)
            _vdact(s.ract, row, di, U)
            _vdact(s.ract, row + U, df, U)
            _vdact(s.act, row + 2 * U, dcc, U)
            _vdact(s.ract, row + 3 * U, do_, U)
            for j in range(U):
                dhv = dhb[j]
                dct = dcb[j] + dhv * row[3 * U + j] * dtc[j]
                drow[j] = dct * row[2 * U + j] * di[j]
                drow[U + j] = dct * cp[j] * df[j]
                drow[2 * U + j] = dct * row[j] * dcc[j]
                drow[3 * U + j] = dhv * tc[j] * do_[j]
                dcb[j] = dct * row[U + j]
                dhb[j] = nxt[j]
        drow = dG + t * s.gt + b0 * s.gb
        if fused:
            for j in range(NG):
                dbias[j] += bacc[j]
                bacc[j] = 0
        else:
            _colsum_rows(drow, nb, NG, s.gb, dbias)
        _step_back(s, split, t, b0, nb, NG, <const floating*>s.R, drow, dh, dA, hd, dR)
        _input_step(s, split, t, b0, nb, NG, drow, dW)
    free(work)
    return 0


cdef int _lstm_bwd(const Seq* s, floating* dG) noexcept nogil:
    cdef int NG = 4 * s.U, P = _batch_slices(s, NG), rc
    cdef Parts parts
    if _parts_init(&parts, s, P, NG, NG, sizeof(floating)) != 0:
        return -1
    if P == 1:
        rc = _lstm_bwd_rows(s, dG, 0, s.B, False, <floating*>s.dW, <floating*>s.dR, parts.bias)
        if _whole_dR(s, False):
            _mm(True, False, s.U, NG, s.B * s.T, <floating>1, <const floating*>s.S, s.U, dG, NG, <floating>1,
                <floating*>s.dR, NG)
        _input_all(s, NG, dG)
    else:
        rc = _run_slices(s, dG, P, LSTM_BWD, &parts)
    _parts_finish(&parts, s, dG)
    return rc
