# GRU forward and backward through time (Keras gate order z, r, h;
# h = z h_prev + (1 - z) h~), included by recurrent.pyx. With reset_after the
# reset gate scales the recurrent product (h_prev R_h + b'_h); otherwise it
# scales h_prev before its product with R_h (HR = r * h_prev is kept). Each
# `_rows` function runs the whole sequence for batch rows b0..b1.


cdef void _gru_resets(const Seq* s, bint split, int t, int b0, int nb, const floating* A, Py_ssize_t lda,
                      floating* rh) noexcept nogil:
    """Reset before the product: rh[:, :2U] = A R_zr; r = ract(.) into the gates;
    HR_t = r * A; rh[:, 2U:] = HR_t R_h (rows b0.., rh and A at their first)."""
    cdef int U = s.U, NG = 3 * s.U, b, j
    cdef const floating* R = <const floating*>s.R
    cdef floating* hr = <floating*>s.HR + t * s.ut + b0 * s.ub
    cdef floating* row
    cdef const floating* rr
    _mmc(split, False, False, nb, 2 * U, U, <floating>1, A, lda, R, NG, <floating>0, rh, s.gb)
    for b in range(nb):
        row = <floating*>s.G + (b0 + b) * s.gb + t * s.gt
        rr = rh + b * s.gb
        for j in range(U):
            row[U + j] += rr[U + j]
        _vact(s.ract, row + U, row + U, U)
        for j in range(U):
            hr[b * s.ub + j] = row[U + j] * A[b * lda + j]
    _mmc(split, False, False, nb, U, U, <floating>1, hr, s.ub, R + 2 * U, NG, <floating>0, rh + 2 * U, s.gb)


cdef int _gru_fwd_rows(const Seq* s, floating* G, int b0, int b1, bint split) noexcept nogil:
    cdef int U = s.U, NG = 3 * s.U, nb = b1 - b0, t, b, j
    cdef floating* S = <floating*>s.S
    cdef floating* rh
    cdef floating* row
    cdef const floating* rr
    cdef const floating* A
    cdef const floating* hp
    cdef floating* hn
    cdef floating* hd = <floating*>calloc(<Py_ssize_t>nb * U + NG, sizeof(floating))
    cdef const floating* bias = <const floating*>s.bias
    cdef bint fused = floating is float and s.reset_after and _fused_gates(s)
    if hd == NULL:
        return -1
    if fused and bias == NULL:
        bias = hd + nb * U  # zeros
    for t in range(s.T):
        _project_rows(s, split, t, b0, nb, NG, bias if not fused else <const floating*>NULL, G)
        A = _prev_rows(s, t, b0, nb, hd)
        rh = <floating*>s.RH + t * s.gt + b0 * s.gb
        if s.reset_after:
            _fill_rows(rh, nb, NG, s.gb, <const floating*>s.rbias)
            _mmc(split, False, False, nb, NG, U, <floating>1, A, _prev_ld(s), <const floating*>s.R, NG,
                 <floating>1, rh, s.gb)
        else:
            _gru_resets(s, split, t, b0, nb, A, _prev_ld(s), rh)
        for b in range(b0, b1):
            hp = S + b * s.sb + t * s.st
            hn = <floating*>hp + s.st
            if _masked(s, b, t):
                memcpy(hn, hp, U * sizeof(floating))
                continue
            row = G + b * s.gb + t * s.gt
            rr = rh + (b - b0) * s.gb
            if floating is float:
                if fused:
                    dl_gru_fwd_row(row, bias, rr, hp, hn, U)
                    continue
            if s.reset_after:
                for j in range(2 * U):
                    row[j] += rr[j]
                _vact(s.ract, row, row, 2 * U)
                for j in range(U):
                    row[2 * U + j] += row[U + j] * rr[2 * U + j]
            else:
                for j in range(U):
                    row[j] += rr[j]
                _vact(s.ract, row, row, U)
                for j in range(U):
                    row[2 * U + j] += rr[2 * U + j]
            _vact(s.act, row + 2 * U, row + 2 * U, U)
            for j in range(U):
                hn[j] = row[j] * hp[j] + (1 - row[j]) * row[2 * U + j]
    free(hd)
    return 0


cdef int _gru_fwd(const Seq* s, floating* G) noexcept nogil:
    cdef int P = _batch_slices(s, 3 * s.U)
    cdef bint fused = floating is float and s.reset_after and _fused_gates(s)  # the fused loops add the bias
    if P == 1:
        _project_all(s, 3 * s.U, <const floating*>s.bias if not fused else <const floating*>NULL, G)
        return _gru_fwd_rows(s, G, 0, s.B, False)
    return _run_slices(s, G, P, GRU_FWD, NULL)


cdef void _gru_reset_grads(const Seq* s, bint split, int t, int b0, int nb, floating* dh, floating* dHR,
                           floating* dr_, floating* hd, floating* dR) noexcept nogil:
    """Reset before the product, step t, rows b0..: the candidate saw HR_t R_h, so
    its gradient reaches r (completing dG_r) and h_prev; dh += that and
    dG_zr R_zr^T; dR += the products' weight gradients."""
    cdef int U = s.U, NG = 3 * s.U, b, j
    cdef const floating* R = <const floating*>s.R
    cdef floating* dgt = <floating*>s.dG + t * s.gt + b0 * s.gb
    cdef const floating* A = _prev_rows(s, t, b0, nb, hd)
    cdef Py_ssize_t lda = _prev_ld(s)
    cdef const floating* row
    cdef floating* drow
    cdef floating* dhr
    _mmc(split, False, True, nb, U, U, <floating>1, dgt + 2 * U, s.gb, R + 2 * U, NG, <floating>0, dHR, U)
    for b in range(nb):
        dhr = dHR + b * U
        if _masked(s, b0 + b, t):
            memset(dhr, 0, U * sizeof(floating))
            continue
        row = <const floating*>s.G + (b0 + b) * s.gb + t * s.gt
        drow = dgt + b * s.gb
        _vdact(s.ract, row + U, dr_, U)
        for j in range(U):
            drow[U + j] = dhr[j] * A[b * lda + j] * dr_[j]
            dhr[j] = dhr[j] * row[U + j]
    _mmc(split, False, True, nb, U, 2 * U, <floating>1, dgt, s.gb, R, NG, <floating>1, dHR, U)
    if s.rdrop != NULL:
        _add_scaled(dh, dHR, <const floating*>s.rdrop + b0 * U, nb * U)
    else:
        for j in range(nb * U):
            dh[j] += dHR[j]
    if not _whole_dR(s, split):
        _mmc(split, True, False, U, U, nb, <floating>1, <const floating*>s.HR + t * s.ut + b0 * s.ub, s.ub,
             dgt + 2 * U, s.gb, <floating>1, dR + 2 * U, NG)
        _mmc(split, True, False, U, 2 * U, nb, <floating>1, A, lda, dgt, s.gb, <floating>1, dR, NG)


cdef int _gru_bwd_rows(const Seq* s, floating* dG, int b0, int b1, bint split, floating* dW, floating* dR,
                       double* dbias) noexcept nogil:
    cdef int T = s.T, U = s.U, NG = 3 * s.U, nb = b1 - b0, t, b, j
    cdef const floating* G = <const floating*>s.G
    cdef const floating* S = <const floating*>s.S
    cdef const floating* dS = <const floating*>s.dS
    cdef floating* dRH = <floating*>s.dRH
    cdef const floating* row
    cdef const floating* rr
    cdef const floating* hp
    cdef const floating* nxt
    cdef floating* drow
    cdef floating* drr
    cdef floating* dhb
    cdef floating dhv, dnp, dzp, drp
    # this slice's rows of dh (the real array); dA, hd, dHR: (nb, U);
    # dn_, dz_, dr_, zeros: (U,); bacc: (2 NG,) the sums of dG and dRH
    cdef floating* dh = <floating*>s.dh0 + b0 * U
    cdef floating* work = <floating*>calloc(<Py_ssize_t>3 * nb * U + 4 * U + 2 * NG, sizeof(floating))
    cdef floating* dA = work
    cdef floating* hd = work + nb * U
    cdef floating* dHR = work + 2 * nb * U
    cdef floating* dn_ = work + 3 * nb * U
    cdef floating* dz_ = dn_ + U
    cdef floating* dr_ = dn_ + 2 * U
    cdef floating* zeros = dn_ + 3 * U
    cdef floating* bacc = dn_ + 4 * U
    cdef bint fused = floating is float and s.reset_after and _fused_gates(s)
    if work == NULL:
        return -1
    for b in range(nb):
        memcpy(dh + b * U, dS + (b0 + b) * s.db_ + (T - 1) * s.dt_, U * sizeof(floating))
    for t in range(T - 1, -1, -1):
        for b in range(b0, b1):
            dhb = dh + (b - b0) * U
            drow = dG + b * s.gb + t * s.gt
            drr = dRH + b * s.gb + t * s.gt
            nxt = dS + b * s.db_ + (t - 1) * s.dt_ if t > 0 and not s.dS_last else zeros
            if _masked(s, b, t):
                memset(drow, 0, NG * sizeof(floating))
                if s.reset_after:
                    memset(drr, 0, NG * sizeof(floating))
                for j in range(U):
                    dhb[j] += nxt[j]
                continue
            row = G + b * s.gb + t * s.gt
            hp = S + b * s.sb + t * s.st
            rr = <const floating*>s.RH + b * s.gb + t * s.gt
            if floating is float:
                if fused:
                    dl_gru_bwd_row(row, rr, hp, dhb, nxt, drow, drr, bacc, U)
                    continue
            _vdact(s.act, row + 2 * U, dn_, U)
            _vdact(s.ract, row, dz_, U)
            if s.reset_after:
                _vdact(s.ract, row + U, dr_, U)
                for j in range(U):
                    dhv = dhb[j]
                    dnp = dhv * (1 - row[j]) * dn_[j]
                    dzp = dhv * (hp[j] - row[2 * U + j]) * dz_[j]
                    drp = dnp * rr[2 * U + j] * dr_[j]
                    drow[j] = dzp
                    drow[U + j] = drp
                    drow[2 * U + j] = dnp
                    drr[j] = dzp
                    drr[U + j] = drp
                    drr[2 * U + j] = dnp * row[U + j]
                    dhb[j] = dhv * row[j] + nxt[j]
            else:
                for j in range(U):
                    dhv = dhb[j]
                    drow[j] = dhv * (hp[j] - row[2 * U + j]) * dz_[j]
                    drow[2 * U + j] = dhv * (1 - row[j]) * dn_[j]
                    dhb[j] = dhv * row[j] + nxt[j]
        drow = dG + t * s.gt + b0 * s.gb
        drr = dRH + t * s.gt + b0 * s.gb
        if s.reset_after:
            _step_back(s, split, t, b0, nb, NG, <const floating*>s.R, drr, dh, dA, hd, dR)
        else:
            _gru_reset_grads(s, split, t, b0, nb, dh, dHR, dr_, hd, dR)
        if fused:
            for j in range(2 * NG):
                dbias[j] += bacc[j]
                bacc[j] = 0
        else:
            _colsum_rows(drow, nb, NG, s.gb, dbias)
            if s.reset_after:
                _colsum_rows(drr, nb, NG, s.gb, dbias + NG)
        _input_step(s, split, t, b0, nb, NG, drow, dW)
    free(work)
    return 0


cdef void _gru_whole_dR(const Seq* s, const floating* dG) noexcept nogil:
    """dR over all steps at once (unsplit, time-major, no dropout mask)."""
    cdef int U = s.U, NG = 3 * s.U, M = s.B * s.T
    cdef const floating* S = <const floating*>s.S
    cdef floating* dR = <floating*>s.dR
    if s.reset_after:
        _mm(True, False, U, NG, M, <floating>1, S, U, <const floating*>s.dRH, NG, <floating>1, dR, NG)
    else:
        _mm(True, False, U, U, M, <floating>1, <const floating*>s.HR, U, dG + 2 * U, NG, <floating>1, dR + 2 * U, NG)
        _mm(True, False, U, 2 * U, M, <floating>1, S, U, dG, NG, <floating>1, dR, NG)


cdef int _gru_bwd(const Seq* s, floating* dG) noexcept nogil:
    cdef int NG = 3 * s.U, P = _batch_slices(s, NG), rc
    cdef Parts parts
    if _parts_init(&parts, s, P, NG, 2 * NG, sizeof(floating)) != 0:
        return -1
    if P == 1:
        rc = _gru_bwd_rows(s, dG, 0, s.B, False, <floating*>s.dW, <floating*>s.dR, parts.bias)
        if _whole_dR(s, False):
            _gru_whole_dR(s, dG)
        _input_all(s, NG, dG)
    else:
        rc = _run_slices(s, dG, P, GRU_BWD, &parts)
    _parts_finish(&parts, s, dG)
    return rc
