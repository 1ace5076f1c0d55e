"""Recurrent kernels: SimpleRNN, LSTM and GRU over a whole sequence, forward
and backward through time, in one call each.

Layout (batch-major, as the layers hold their data; Keras's weight layout):

- x (B, T, F) input, kernel W (F, G*U), recurrent kernel R (U, G*U) with
  G = 1 (SimpleRNN), 4 (LSTM: i, f, c, o) or 3 (GRU: z, r, h).
- states S (B, T+1, U): S[:, 0] is the initial state, S[:, t+1] the state
  after step t. Keeping the initial state in the same array means every
  step reads its previous state the same way, and the per-step recurrent
  product reads S[:, t] straight from memory with leading dimension (T+1)*U.
- gates (B, T, G*U): the input projection x @ W + b for all steps is one
  gemm into this array; each step adds h @ R with one more gemm (beta=1) and
  the nonlinearities then overwrite it with the activated gates, which is
  all the backward pass needs.
- mask (B, T) bool/uint8 or None: a masked (False) step leaves the state
  unchanged and its gates get no gradient.
- rdrop (B, U) or None: recurrent dropout, a mask (already scaled) applied to
  the previous state in the recurrent products only, the same for all steps.

Backward takes d_states (B, T, U), the gradient of S[:, 1:], and ACCUMULATES
(+=) into the weight gradients; dx, dh0 and dc0 are overwritten. The time
loop is serial (each step depends on the last); BLAS threads the products.
"""

from cython cimport floating
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

include "_common.pxi"
include "_fmath.pxi"
include "_rnn_common.pxi"

__all__ = ["ACTIVATION_CODES", "rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward",
           "gru_forward", "gru_backward"]


cdef inline const floating* _prev_input(const floating* hp, int ldh, const floating* rdrop,
                                        floating* hd, int B, int U) noexcept nogil:
    """The previous state as the recurrent product sees it: hp, or hp * rdrop in hd."""
    cdef int b, j
    if rdrop == NULL:
        return hp
    for b in range(B):
        for j in range(U):
            hd[b * U + j] = hp[<Py_ssize_t>b * ldh + j] * rdrop[b * U + j]
    return hd


cdef inline void _project(int B, int T, int F, int NG, const floating* x, const floating* W,
                          const floating* bias, floating* G) noexcept nogil:
    """G (B*T, NG) = x (B*T, F) @ W + bias: the input projection of every step."""
    _fill_rows_ld(G, B * T, NG, NG, bias)
    _mm(False, False, B * T, NG, F, <floating>1, x, F, W, NG, <floating>1, G, NG)


cdef inline void _input_grads(int B, int T, int F, int NG, const floating* x, const floating* W,
                              const floating* dG, floating* dx, floating* dW, floating* db) noexcept nogil:
    """dW += x^T dG, db += colsum dG, dx = dG W^T, each one gemm over all steps."""
    _mm(True, False, F, NG, B * T, <floating>1, x, F, dG, NG, <floating>1, dW, NG)
    if db != NULL:
        _colsum_add(dG, B * T, NG, db)
    if dx != NULL:
        _mm(False, True, B * T, F, NG, <floating>1, dG, NG, W, NG, <floating>0, dx, F)


cdef inline void _carry_back(int B, int U, const floating* carry_in, const floating* rdrop,
                             const floating* dA, floating* dh) noexcept nogil:
    """dh = carry_in + dA (* rdrop): the gradient reaching the previous state."""
    cdef int b, j
    cdef Py_ssize_t k
    for b in range(B):
        for j in range(U):
            k = b * U + j
            dh[k] = carry_in[k] + (dA[k] * rdrop[k] if rdrop != NULL else dA[k])


# ------------------------------------------------------------------ SimpleRNN


cdef void _rnn_fwd(int B, int T, int F, int U, const floating* x, const floating* W,
                   const floating* R, const floating* bias, const unsigned char* mask,
                   const floating* rdrop, int act, floating* G, floating* S,
                   floating* hd) noexcept:
    cdef int t, b, j, lds = (T + 1) * U, ldg = T * U
    cdef const floating* hp
    cdef floating* g
    cdef floating* hn
    with nogil:
        _project(B, T, F, U, x, W, bias, G)
        for t in range(T):
            g = G + <Py_ssize_t>t * U
            hp = S + <Py_ssize_t>t * U
            hn = S + <Py_ssize_t>(t + 1) * U
            _mm(False, False, B, U, U, <floating>1, _prev_input(hp, lds, rdrop, hd, B, U),
                lds if rdrop == NULL else U, R, U, <floating>1, g, ldg)
            for b in range(B):
                if mask != NULL and not mask[b * T + t]:
                    memcpy(hn + <Py_ssize_t>b * lds, hp + <Py_ssize_t>b * lds, U * sizeof(floating))
                    continue
                for j in range(U):
                    hn[<Py_ssize_t>b * lds + j] = _act(act, g[<Py_ssize_t>b * ldg + j])


cdef void _rnn_bwd(int B, int T, int F, int U, const floating* x, const floating* W,
                   const floating* R, const unsigned char* mask, const floating* rdrop, int act,
                   const floating* S, const floating* dS, floating* dG, floating* dh,
                   floating* carry, floating* dA, floating* hd, floating* dx, floating* dW,
                   floating* dR, floating* db) noexcept:
    cdef int t, b, j, lds = (T + 1) * U, ldg = T * U
    cdef Py_ssize_t k
    cdef floating* g
    with nogil:
        memset(dh, 0, B * U * sizeof(floating))
        for t in range(T - 1, -1, -1):
            g = dG + <Py_ssize_t>t * U
            for b in range(B):
                for j in range(U):
                    dh[b * U + j] += dS[(<Py_ssize_t>b * T + t) * U + j]
                if mask != NULL and not mask[b * T + t]:
                    memset(g + <Py_ssize_t>b * ldg, 0, U * sizeof(floating))
                    memcpy(carry + b * U, dh + b * U, U * sizeof(floating))
                    continue
                for j in range(U):
                    k = <Py_ssize_t>b * ldg + j
                    g[k] = dh[b * U + j] * _dact(act, S[<Py_ssize_t>b * lds + (t + 1) * U + j])
                    carry[b * U + j] = 0
            _mm(False, True, B, U, U, <floating>1, g, ldg, R, U, <floating>0, dA, U)
            _carry_back(B, U, carry, rdrop, dA, dh)
            _mm(True, False, U, U, B, <floating>1,
                _prev_input(S + <Py_ssize_t>t * U, lds, rdrop, hd, B, U), lds if rdrop == NULL else U,
                g, ldg, <floating>1, dR, U)
        _input_grads(B, T, F, U, x, W, dG, dx, dW, db)


# ------------------------------------------------------------------ LSTM


cdef void _lstm_fwd(int B, int T, int F, int U, const floating* x, const floating* W,
                    const floating* R, const floating* bias, const unsigned char* mask,
                    const floating* rdrop, int act, int ract, floating* G, floating* S,
                    floating* C, floating* hd) noexcept:
    cdef int t, b, j, lds = (T + 1) * U, ldg = T * 4 * U
    cdef floating i_, f_, c_, o_, cn
    cdef floating* row
    cdef Py_ssize_t pb, nb
    with nogil:
        _project(B, T, F, 4 * U, x, W, bias, G)
        for t in range(T):
            _mm(False, False, B, 4 * U, U, <floating>1,
                _prev_input(S + <Py_ssize_t>t * U, lds, rdrop, hd, B, U), lds if rdrop == NULL else U,
                R, 4 * U, <floating>1, G + <Py_ssize_t>t * 4 * U, ldg)
            for b in range(B):
                pb = <Py_ssize_t>b * lds + t * U
                nb = pb + U
                if mask != NULL and not mask[b * T + t]:
                    memcpy(S + nb, S + pb, U * sizeof(floating))
                    memcpy(C + nb, C + pb, U * sizeof(floating))
                    continue
                row = G + <Py_ssize_t>b * ldg + t * 4 * U
                for j in range(U):
                    i_ = _act(ract, row[j])
                    f_ = _act(ract, row[U + j])
                    c_ = _act(act, row[2 * U + j])
                    o_ = _act(ract, row[3 * U + j])
                    row[j] = i_
                    row[U + j] = f_
                    row[2 * U + j] = c_
                    row[3 * U + j] = o_
                    cn = f_ * C[pb + j] + i_ * c_
                    C[nb + j] = cn
                    S[nb + j] = o_ * _act(act, cn)


cdef void _lstm_bwd(int B, int T, int F, int U, const floating* x, const floating* W,
                    const floating* R, const unsigned char* mask, const floating* rdrop,
                    int act, int ract, const floating* G, const floating* S, const floating* C,
                    const floating* dS, const floating* dcT, floating* dG, floating* dh,
                    floating* dc, floating* carry, floating* dA, floating* hd, floating* dx,
                    floating* dW, floating* dR, floating* db) noexcept:
    cdef int t, b, j, lds = (T + 1) * U, ldg = T * 4 * U
    cdef floating i_, f_, c_, o_, tc, dhv, dct
    cdef const floating* row
    cdef floating* drow
    cdef Py_ssize_t pb
    with nogil:
        memset(dh, 0, B * U * sizeof(floating))
        if dcT != NULL:
            memcpy(dc, dcT, B * U * sizeof(floating))
        else:
            memset(dc, 0, B * U * sizeof(floating))
        for t in range(T - 1, -1, -1):
            for b in range(B):
                drow = dG + <Py_ssize_t>b * ldg + t * 4 * U
                for j in range(U):
                    dh[b * U + j] += dS[(<Py_ssize_t>b * T + t) * U + j]
                if mask != NULL and not mask[b * T + t]:
                    memset(drow, 0, 4 * U * sizeof(floating))
                    memcpy(carry + b * U, dh + b * U, U * sizeof(floating))
                    continue
                row = G + <Py_ssize_t>b * ldg + t * 4 * U
                pb = <Py_ssize_t>b * lds + t * U
                for j in range(U):
                    i_ = row[j]
                    f_ = row[U + j]
                    c_ = row[2 * U + j]
                    o_ = row[3 * U + j]
                    tc = _act(act, C[pb + U + j])
                    dhv = dh[b * U + j]
                    dct = dc[b * U + j] + dhv * o_ * _dact(act, tc)
                    drow[j] = dct * c_ * _dact(ract, i_)
                    drow[U + j] = dct * C[pb + j] * _dact(ract, f_)
                    drow[2 * U + j] = dct * i_ * _dact(act, c_)
                    drow[3 * U + j] = dhv * tc * _dact(ract, o_)
                    dc[b * U + j] = dct * f_
                    carry[b * U + j] = 0
            _mm(False, True, B, U, 4 * U, <floating>1, dG + <Py_ssize_t>t * 4 * U, ldg, R, 4 * U,
                <floating>0, dA, U)
            _carry_back(B, U, carry, rdrop, dA, dh)
            _mm(True, False, U, 4 * U, B, <floating>1,
                _prev_input(S + <Py_ssize_t>t * U, lds, rdrop, hd, B, U), lds if rdrop == NULL else U,
                dG + <Py_ssize_t>t * 4 * U, ldg, <floating>1, dR, 4 * U)
        _input_grads(B, T, F, 4 * U, x, W, dG, dx, dW, db)


# ------------------------------------------------------------------ GRU


cdef void _gru_fwd(int B, int T, int F, int U, const floating* x, const floating* W,
                   const floating* R, const floating* bias, const floating* rbias,
                   const unsigned char* mask, const floating* rdrop, int act, int ract,
                   bint reset_after, floating* G, floating* RH, floating* HR, floating* S,
                   floating* hd) noexcept:
    cdef int t, b, j, lds = (T + 1) * U, ldg = T * 3 * U, ldp
    cdef floating z, r, n, hv
    cdef floating* row
    cdef floating* rrow
    cdef const floating* A
    cdef Py_ssize_t pb
    with nogil:
        _project(B, T, F, 3 * U, x, W, bias, G)
        for t in range(T):
            A = _prev_input(S + <Py_ssize_t>t * U, lds, rdrop, hd, B, U)
            ldp = lds if rdrop == NULL else U
            rrow = RH + <Py_ssize_t>t * 3 * U
            if reset_after:
                _fill_rows_ld(rrow, B, 3 * U, ldg, rbias)
                _mm(False, False, B, 3 * U, U, <floating>1, A, ldp, R, 3 * U, <floating>1, rrow, ldg)
            else:
                _mm(False, False, B, 2 * U, U, <floating>1, A, ldp, R, 3 * U, <floating>0, rrow, ldg)
                for b in range(B):
                    row = G + <Py_ssize_t>b * ldg + t * 3 * U
                    for j in range(U):
                        r = _act(ract, row[U + j] + rrow[<Py_ssize_t>b * ldg + U + j])
                        HR[(<Py_ssize_t>b * T + t) * U + j] = r * A[<Py_ssize_t>b * ldp + j]
                _mm(False, False, B, U, U, <floating>1, HR + <Py_ssize_t>t * U, T * U, R + 2 * U, 3 * U,
                    <floating>0, rrow + 2 * U, ldg)
            for b in range(B):
                pb = <Py_ssize_t>b * lds + t * U
                if mask != NULL and not mask[b * T + t]:
                    memcpy(S + pb + U, S + pb, U * sizeof(floating))
                    continue
                row = G + <Py_ssize_t>b * ldg + t * 3 * U
                for j in range(U):
                    z = _act(ract, row[j] + rrow[<Py_ssize_t>b * ldg + j])
                    r = _act(ract, row[U + j] + rrow[<Py_ssize_t>b * ldg + U + j])
                    if reset_after:
                        n = _act(act, row[2 * U + j] + r * rrow[<Py_ssize_t>b * ldg + 2 * U + j])
                    else:
                        n = _act(act, row[2 * U + j] + rrow[<Py_ssize_t>b * ldg + 2 * U + j])
                    row[j] = z
                    row[U + j] = r
                    row[2 * U + j] = n
                    hv = S[pb + j]
                    S[pb + U + j] = z * hv + (1 - z) * n


cdef void _gru_bwd(int B, int T, int F, int U, const floating* x, const floating* W,
                   const floating* R, const unsigned char* mask, const floating* rdrop,
                   int act, int ract, bint reset_after, const floating* G, const floating* RH,
                   const floating* HR, const floating* S, const floating* dS, floating* dG,
                   floating* dRH, floating* dh, floating* carry, floating* dA, floating* dHR,
                   floating* hd, floating* dx, floating* dW, floating* dR, floating* db,
                   floating* drb) noexcept:
    cdef int t, b, j, lds = (T + 1) * U, ldg = T * 3 * U, ldp
    cdef floating z, r, n, hv, dhv, dnp, dzp
    cdef const floating* row
    cdef const floating* A
    cdef floating* drow
    cdef floating* dgt
    cdef floating* drt
    cdef Py_ssize_t pb, rb
    cdef bint masked
    with nogil:
        memset(dh, 0, B * U * sizeof(floating))
        for t in range(T - 1, -1, -1):
            dgt = dG + <Py_ssize_t>t * 3 * U
            drt = (dRH if reset_after else dG) + <Py_ssize_t>t * 3 * U
            for b in range(B):
                drow = dgt + <Py_ssize_t>b * ldg
                for j in range(U):
                    dh[b * U + j] += dS[(<Py_ssize_t>b * T + t) * U + j]
                if mask != NULL and not mask[b * T + t]:
                    memset(drow, 0, 3 * U * sizeof(floating))
                    if reset_after:
                        memset(drt + <Py_ssize_t>b * ldg, 0, 3 * U * sizeof(floating))
                    memcpy(carry + b * U, dh + b * U, U * sizeof(floating))
                    continue
                row = G + <Py_ssize_t>b * ldg + t * 3 * U
                rb = <Py_ssize_t>b * ldg + t * 3 * U
                pb = <Py_ssize_t>b * lds + t * U
                for j in range(U):
                    z = row[j]
                    r = row[U + j]
                    n = row[2 * U + j]
                    hv = S[pb + j]
                    dhv = dh[b * U + j]
                    dnp = dhv * (1 - z) * _dact(act, n)
                    dzp = dhv * (hv - n) * _dact(ract, z)
                    drow[j] = dzp
                    drow[2 * U + j] = dnp
                    carry[b * U + j] = dhv * z
                    if reset_after:
                        drow[U + j] = dnp * RH[rb + 2 * U + j] * _dact(ract, r)
                        drt[<Py_ssize_t>b * ldg + j] = dzp
                        drt[<Py_ssize_t>b * ldg + U + j] = drow[U + j]
                        drt[<Py_ssize_t>b * ldg + 2 * U + j] = dnp * r
            A = _prev_input(S + <Py_ssize_t>t * U, lds, rdrop, hd, B, U)
            ldp = lds if rdrop == NULL else U
            if reset_after:
                _mm(False, True, B, U, 3 * U, <floating>1, drt, ldg, R, 3 * U, <floating>0, dA, U)
                _mm(True, False, U, 3 * U, B, <floating>1, A, ldp, drt, ldg, <floating>1, dR, 3 * U)
            else:
                # the candidate saw (r * h) @ R_h: its gradient reaches r and h
                _mm(False, True, B, U, U, <floating>1, dgt + 2 * U, ldg, R + 2 * U, 3 * U,
                    <floating>0, dHR, U)
                for b in range(B):
                    drow = dgt + <Py_ssize_t>b * ldg
                    row = G + <Py_ssize_t>b * ldg + t * 3 * U
                    masked = mask != NULL and not mask[b * T + t]
                    for j in range(U):
                        if masked:
                            dHR[b * U + j] = 0
                        else:
                            drow[U + j] = dHR[b * U + j] * A[<Py_ssize_t>b * ldp + j] * _dact(ract, row[U + j])
                            dHR[b * U + j] = dHR[b * U + j] * row[U + j]
                _mm(True, False, U, U, B, <floating>1, HR + <Py_ssize_t>t * U, T * U, dgt + 2 * U, ldg,
                    <floating>1, dR + 2 * U, 3 * U)
                _mm(True, False, U, 2 * U, B, <floating>1, A, ldp, dgt, ldg, <floating>1, dR, 3 * U)
                _mm(False, True, B, U, 2 * U, <floating>1, dgt, ldg, R, 3 * U, <floating>1, dHR, U)
                memcpy(dA, dHR, B * U * sizeof(floating))
            _carry_back(B, U, carry, rdrop, dA, dh)
        _input_grads(B, T, F, 3 * U, x, W, dG, dx, dW, db)
        if reset_after and drb != NULL:
            _colsum_add(dRH, B * T, 3 * U, drb)


# ------------------------------------------------------------------ wrappers


cdef tuple _dims(object x, object kernel, object recurrent, int gates, str fn):
    cdef cnp.ndarray xa = as_ndarray(x, fn, "x")
    cdef int t = float_typenum(xa, fn, "x")
    check_ndim(xa, 3, fn, "x", "(batch, time, features)")
    ra = as_ndarray(recurrent, fn, "recurrent_kernel")
    check_ndim(ra, 2, fn, "recurrent_kernel", "(units, gates * units)")
    U = cnp.PyArray_DIM(ra, 0)
    B, T, F = cnp.PyArray_DIM(xa, 0), cnp.PyArray_DIM(xa, 1), cnp.PyArray_DIM(xa, 2)
    if B * (T + 1) * 4 * U >= 2**31 or B * T * F >= 2**31 or F * 4 * U >= 2**31:
            raise ValueError(f"{fn}: dimensions too large. Received: x.shape={shape_str(xa)}, units={U}")
    return t, B, T, F, U


def rnn_forward(x, kernel, recurrent_kernel, bias, h0, mask, rdrop, activation, gates, states):
    """SimpleRNN over all steps: h_t = act(x_t W + b + h_{t-1} R).

    Args:
        x: (B, T, F); kernel (F, U); recurrent_kernel (U, U); bias (U,) or None;
        h0: (B, U) initial state; mask: (B, T) or None; rdrop: (B, U) or None;
        activation: a name in ACTIVATION_CODES;
        gates: (B, T, U) workspace (pre-activations); states: (B, T+1, U) output
            (states[:, 0] = h0 is written here).
    """
    fn = "rnn_forward"
    cdef int t, B, T, F, U
    t, B, T, F, U = _dims(x, kernel, recurrent_kernel, 1, fn)
    cdef cnp.ndarray xa = _inp(x, fn, "x", t, (B, T, F))
    cdef cnp.ndarray wa = _inp(kernel, fn, "kernel", t, (F, U))
    cdef cnp.ndarray ra = _inp(recurrent_kernel, fn, "recurrent_kernel", t, (U, U))
    cdef cnp.ndarray ba = _opt_inp(bias, fn, "bias", t, (U,))
    cdef cnp.ndarray da = _opt_inp(rdrop, fn, "rdrop", t, (B, U))
    cdef cnp.ndarray ma = _mask(mask, fn, B, T)
    cdef cnp.ndarray ga = _outp(gates, fn, "gates", t, (B, T, U))
    cdef cnp.ndarray sa = _outp(states, fn, "states", t, (B, T + 1, U))
    cdef int a = _code(activation, fn, "activation")
    sa[:, 0] = h0
    hd = np.empty((B, U), xa.dtype)
    if t == cnp.NPY_FLOAT32:
        _rnn_fwd[float](B, T, F, U, <float*>_ptr(xa), <float*>_ptr(wa), <float*>_ptr(ra),
                        <float*>_ptr(ba), <unsigned char*>_ptr(ma), <float*>_ptr(da), a,
                        <float*>_ptr(ga), <float*>_ptr(sa), <float*>_ptr(hd))
    else:
        _rnn_fwd[double](B, T, F, U, <double*>_ptr(xa), <double*>_ptr(wa), <double*>_ptr(ra),
                         <double*>_ptr(ba), <unsigned char*>_ptr(ma), <double*>_ptr(da), a,
                         <double*>_ptr(ga), <double*>_ptr(sa), <double*>_ptr(hd))
    return states


def rnn_backward(x, kernel, recurrent_kernel, mask, rdrop, activation, states, d_states,
                 d_gates, dx, dkernel, drecurrent, dbias, dh0):
    """Gradients of rnn_forward. d_states (B, T, U) is the gradient of states[:, 1:];
    d_gates (B, T, U) a workspace. dkernel, drecurrent, dbias ACCUMULATE; dx (B, T, F)
    and dh0 (B, U) are overwritten; any of dx, dbias, dh0 may be None."""
    fn = "rnn_backward"
    cdef int t, B, T, F, U
    t, B, T, F, U = _dims(x, kernel, recurrent_kernel, 1, fn)
    cdef cnp.ndarray xa = _inp(x, fn, "x", t, (B, T, F))
    cdef cnp.ndarray wa = _inp(kernel, fn, "kernel", t, (F, U))
    cdef cnp.ndarray ra = _inp(recurrent_kernel, fn, "recurrent_kernel", t, (U, U))
    cdef cnp.ndarray da = _opt_inp(rdrop, fn, "rdrop", t, (B, U))
    cdef cnp.ndarray ma = _mask(mask, fn, B, T)
    cdef cnp.ndarray sa = _inp(states, fn, "states", t, (B, T + 1, U))
    cdef cnp.ndarray dsa = _inp(d_states, fn, "d_states", t, (B, T, U))
    cdef cnp.ndarray dga = _outp(d_gates, fn, "d_gates", t, (B, T, U))
    cdef cnp.ndarray dxa = _opt_outp(dx, fn, "dx", t, (B, T, F))
    cdef cnp.ndarray dwa = _outp(dkernel, fn, "dkernel", t, (F, U))
    cdef cnp.ndarray dra = _outp(drecurrent, fn, "drecurrent", t, (U, U))
    cdef cnp.ndarray dba = _opt_outp(dbias, fn, "dbias", t, (U,))
    cdef int a = _code(activation, fn, "activation")
    dh = np.empty((B, U), xa.dtype)
    carry, dA, hd = np.empty_like(dh), np.empty_like(dh), np.empty_like(dh)
    if t == cnp.NPY_FLOAT32:
        _rnn_bwd[float](B, T, F, U, <float*>_ptr(xa), <float*>_ptr(wa), <float*>_ptr(ra),
                        <unsigned char*>_ptr(ma), <float*>_ptr(da), a, <float*>_ptr(sa),
                        <float*>_ptr(dsa), <float*>_ptr(dga), <float*>_ptr(dh), <float*>_ptr(carry),
                        <float*>_ptr(dA), <float*>_ptr(hd), <float*>_ptr(dxa), <float*>_ptr(dwa),
                        <float*>_ptr(dra), <float*>_ptr(dba))
    else:
        _rnn_bwd[double](B, T, F, U, <double*>_ptr(xa), <double*>_ptr(wa), <double*>_ptr(ra),
                         <unsigned char*>_ptr(ma), <double*>_ptr(da), a, <double*>_ptr(sa),
                         <double*>_ptr(dsa), <double*>_ptr(dga), <double*>_ptr(dh), <double*>_ptr(carry),
                         <double*>_ptr(dA), <double*>_ptr(hd), <double*>_ptr(dxa), <double*>_ptr(dwa),
                         <double*>_ptr(dra), <double*>_ptr(dba))
    if dh0 is not None:
        _outp(dh0, fn, "dh0", t, (B, U))[...] = dh


def lstm_forward(x, kernel, recurrent_kernel, bias, h0, c0, mask, rdrop, activation,
                 recurrent_activation, gates, states, cells):
    """LSTM over all steps (Keras gate order i, f, c, o).

    Args:
        x: (B, T, F); kernel (F, 4U); recurrent_kernel (U, 4U); bias (4U,) or None;
        h0, c0: (B, U) initial states; mask (B, T) or None; rdrop (B, U) or None;
        activation, recurrent_activation: names in ACTIVATION_CODES;
        gates: (B, T, 4U) output (activated gates); states, cells: (B, T+1, U)
            outputs, [:, 0] holding h0 / c0.
    """
    fn = "lstm_forward"
    cdef int t, B, T, F, U
    t, B, T, F, U = _dims(x, kernel, recurrent_kernel, 4, fn)
    cdef cnp.ndarray xa = _inp(x, fn, "x", t, (B, T, F))
    cdef cnp.ndarray wa = _inp(kernel, fn, "kernel", t, (F, 4 * U))
    cdef cnp.ndarray ra = _inp(recurrent_kernel, fn, "recurrent_kernel", t, (U, 4 * U))
    cdef cnp.ndarray ba = _opt_inp(bias, fn, "bias", t, (4 * U,))
    cdef cnp.ndarray da = _opt_inp(rdrop, fn, "rdrop", t, (B, U))
    cdef cnp.ndarray ma = _mask(mask, fn, B, T)
    cdef cnp.ndarray ga = _outp(gates, fn, "gates", t, (B, T, 4 * U))
    cdef cnp.ndarray sa = _outp(states, fn, "states", t, (B, T + 1, U))
    cdef cnp.ndarray ca = _outp(cells, fn, "cells", t, (B, T + 1, U))
    cdef int a = _code(activation, fn, "activation")
    cdef int ra_ = _code(recurrent_activation, fn, "recurrent_activation")
    sa[:, 0] = h0
    ca[:, 0] = c0
    hd = np.empty((B, U), xa.dtype)
    if t == cnp.NPY_FLOAT32:
        _lstm_fwd[float](B, T, F, U, <float*>_ptr(xa), <float*>_ptr(wa), <float*>_ptr(ra),
                         <float*>_ptr(ba), <unsigned char*>_ptr(ma), <float*>_ptr(da), a, ra_,
                         <float*>_ptr(ga), <float*>_ptr(sa), <float*>_ptr(ca), <float*>_ptr(hd))
    else:
        _lstm_fwd[double](B, T, F, U, <double*>_ptr(xa), <double*>_ptr(wa), <double*>_ptr(ra),
                          <double*>_ptr(ba), <unsigned char*>_ptr(ma), <double*>_ptr(da), a, ra_,
                          <double*>_ptr(ga), <double*>_ptr(sa), <double*>_ptr(ca), <double*>_ptr(hd))
    return states


def lstm_backward(x, kernel, recurrent_kernel, mask, rdrop, activation, recurrent_activation,
                  gates, states, cells, d_states, d_cell_last, d_gates, dx, dkernel, drecurrent,
                  dbias, dh0, dc0):
    """Gradients of lstm_forward. d_states (B, T, U): gradient of states[:, 1:];
    d_cell_last (B, U) or None: gradient of the last cell state; d_gates (B, T, 4U)
    workspace. dkernel, drecurrent, dbias ACCUMULATE; dx, dh0, dc0 are overwritten
    (each of dx, dbias, dh0, dc0 may be None)."""
    fn = "lstm_backward"
    cdef int t, B, T, F, U
    t, B, T, F, U = _dims(x, kernel, recurrent_kernel, 4, fn)
    cdef cnp.ndarray xa = _inp(x, fn, "x", t, (B, T, F))
    cdef cnp.ndarray wa = _inp(kernel, fn, "kernel", t, (F, 4 * U))
    cdef cnp.ndarray ra = _inp(recurrent_kernel, fn, "recurrent_kernel", t, (U, 4 * U))
    cdef cnp.ndarray da = _opt_inp(rdrop, fn, "rdrop", t, (B, U))
    cdef cnp.ndarray ma = _mask(mask, fn, B, T)
    cdef cnp.ndarray ga = _inp(gates, fn, "gates", t, (B, T, 4 * U))
    cdef cnp.ndarray sa = _inp(states, fn, "states", t, (B, T + 1, U))
    cdef cnp.ndarray ca = _inp(cells, fn, "cells", t, (B, T + 1, U))
    cdef cnp.ndarray dsa = _inp(d_states, fn, "d_states", t, (B, T, U))
    cdef cnp.ndarray dca = _opt_inp(d_cell_last, fn, "d_cell_last", t, (B, U))
    cdef cnp.ndarray dga = _outp(d_gates, fn, "d_gates", t, (B, T, 4 * U))
    cdef cnp.ndarray dxa = _opt_outp(dx, fn, "dx", t, (B, T, F))
    cdef cnp.ndarray dwa = _outp(dkernel, fn, "dkernel", t, (F, 4 * U))
    cdef cnp.ndarray dra = _outp(drecurrent, fn, "drecurrent", t, (U, 4 * U))
    cdef cnp.ndarray dba = _opt_outp(dbias, fn, "dbias", t, (4 * U,))
    cdef int a = _code(activation, fn, "activation")
    cdef int ra_ = _code(recurrent_activation, fn, "recurrent_activation")
    dh = np.empty((B, U), xa.dtype)
    dc, carry, dA, hd = np.empty_like(dh), np.empty_like(dh), np.empty_like(dh), np.empty_like(dh)
    if t == cnp.NPY_FLOAT32:
        _lstm_bwd[float](B, T, F, U, <float*>_ptr(xa), <float*>_ptr(wa), <float*>_ptr(ra),
                         <unsigned char*>_ptr(ma), <float*>_ptr(da), a, ra_, <float*>_ptr(ga),
                         <float*>_ptr(sa), <float*>_ptr(ca), <float*>_ptr(dsa), <float*>_ptr(dca),
                         <float*>_ptr(dga), <float*>_ptr(dh), <float*>_ptr(dc), <float*>_ptr(carry),
                         <float*>_ptr(dA), <float*>_ptr(hd), <float*>_ptr(dxa), <float*>_ptr(dwa),
                         <float*>_ptr(dra), <float*>_ptr(dba))
    else:
        _lstm_bwd[double](B, T, F, U, <double*>_ptr(xa), <double*>_ptr(wa), <double*>_ptr(ra),
                          <unsigned char*>_ptr(ma), <double*>_ptr(da), a, ra_, <double*>_ptr(ga),
                          <double*>_ptr(sa), <double*>_ptr(ca), <double*>_ptr(dsa), <double*>_ptr(dca),
                          <double*>_ptr(dga), <double*>_ptr(dh), <double*>_ptr(dc), <double*>_ptr(carry),
                          <double*>_ptr(dA), <double*>_ptr(hd), <double*>_ptr(dxa), <double*>_ptr(dwa),
                          <double*>_ptr(dra), <double*>_ptr(dba))
    if dh0 is not None:
        _outp(dh0, fn, "dh0", t, (B, U))[...] = dh
    if dc0 is not None:
        _outp(dc0, fn, "dc0", t, (B, U))[...] = dc


def gru_forward(x, kernel, recurrent_kernel, bias, recurrent_bias, h0, mask, rdrop, activation,
                recurrent_activation, reset_after, gates, recurrent_gates, reset_states, states):
    """GRU over all steps (Keras gate order z, r, h; h = z h_prev + (1 - z) h~).

    Args:
        x: (B, T, F); kernel (F, 3U); recurrent_kernel (U, 3U); bias (3U,) or None
            (the input bias when reset_after); recurrent_bias (3U,) or None (only
            with reset_after); h0 (B, U); mask (B, T) or None; rdrop (B, U) or None;
        reset_after: apply the reset gate after the recurrent product (Keras 3 and
            cuDNN default) or before it (the original GRU);
        gates, recurrent_gates: (B, T, 3U) workspaces/outputs; reset_states:
            (B, T, U) workspace (r * h_prev; used when not reset_after);
        states: (B, T+1, U) output, states[:, 0] = h0.
    """
    fn = "gru_forward"
    cdef int t, B, T, F, U
    t, B, T, F, U = _dims(x, kernel, recurrent_kernel, 3, fn)
    cdef cnp.ndarray xa = _inp(x, fn, "x", t, (B, T, F))
    cdef cnp.ndarray wa = _inp(kernel, fn, "kernel", t, (F, 3 * U))
    cdef cnp.ndarray ra = _inp(recurrent_kernel, fn, "recurrent_kernel", t, (U, 3 * U))
    cdef cnp.ndarray ba = _opt_inp(bias, fn, "bias", t, (3 * U,))
    cdef cnp.ndarray rba = _opt_inp(recurrent_bias, fn, "recurrent_bias", t, (3 * U,))
    cdef cnp.ndarray da = _opt_inp(rdrop, fn, "rdrop", t, (B, U))
    cdef cnp.ndarray ma = _mask(mask, fn, B, T)
    cdef cnp.ndarray ga = _outp(gates, fn, "gates", t, (B, T, 3 * U))
    cdef cnp.ndarray rga = _outp(recurrent_gates, fn, "recurrent_gates", t, (B, T, 3 * U))
    cdef cnp.ndarray hra = _outp(reset_states, fn, "reset_states", t, (B, T, U))
    cdef cnp.ndarray sa = _outp(states, fn, "states", t, (B, T + 1, U))
    cdef int a = _code(activation, fn, "activation")
    cdef int ra_ = _code(recurrent_activation, fn, "recurrent_activation")
    cdef bint ra_after = bool(reset_after)
    sa[:, 0] = h0
    hd = np.empty((B, U), xa.dtype)
    if t == cnp.NPY_FLOAT32:
        _gru_fwd[float](B, T, F, U, <float*>_ptr(xa), <float*>_ptr(wa), <float*>_ptr(ra),
                        <float*>_ptr(ba), <float*>_ptr(rba), <unsigned char*>_ptr(ma),
                        <float*>_ptr(da), a, ra_, ra_after, <float*>_ptr(ga), <float*>_ptr(rga),
                        <float*>_ptr(hra), <float*>_ptr(sa), <float*>_ptr(hd))
    else:
        _gru_fwd[double](B, T, F, U, <double*>_ptr(xa), <double*>_ptr(wa), <double*>_ptr(ra),
                         <double*>_ptr(ba), <double*>_ptr(rba), <unsigned char*>_ptr(ma),
                         <double*>_ptr(da), a, ra_, ra_after, <double*>_ptr(ga), <double*>_ptr(rga),
                         <double*>_ptr(hra), <double*>_ptr(sa), <double*>_ptr(hd))
    return states


def gru_backward(x, kernel, recurrent_kernel, mask, rdrop, activation, recurrent_activation,
                 reset_after, gates, recurrent_gates, reset_states, states, d_states, d_gates,
                 d_recurrent_gates, dx, dkernel, drecurrent, dbias, drecurrent_bias, dh0):
    """Gradients of gru_forward. d_states (B, T, U): gradient of states[:, 1:];
    d_gates, d_recurrent_gates: (B, T, 3U) workspaces (the second unused unless
    reset_after). dkernel, drecurrent, dbias, drecurrent_bias ACCUMULATE; dx and dh0
    are overwritten (each of dx, dbias, drecurrent_bias, dh0 may be None)."""
    fn = "gru_backward"
    cdef int t, B, T, F, U
    t, B, T, F, U = _dims(x, kernel, recurrent_kernel, 3, fn)
    cdef cnp.ndarray xa = _inp(x, fn, "x", t, (B, T, F))
    cdef cnp.ndarray wa = _inp(kernel, fn, "kernel", t, (F, 3 * U))
    cdef cnp.ndarray ra = _inp(recurrent_kernel, fn, "recurrent_kernel", t, (U, 3 * U))
    cdef cnp.ndarray da = _opt_inp(rdrop, fn, "rdrop", t, (B, U))
    cdef cnp.ndarray ma = _mask(mask, fn, B, T)
    cdef cnp.ndarray ga = _inp(gates, fn, "gates", t, (B, T, 3 * U))
    cdef cnp.ndarray rga = _inp(recurrent_gates, fn, "recurrent_gates", t, (B, T, 3 * U))
    cdef cnp.ndarray hra = _inp(reset_states, fn, "reset_states", t, (B, T, U))
    cdef cnp.ndarray sa = _inp(states, fn, "states", t, (B, T + 1, U))
    cdef cnp.ndarray dsa = _inp(d_states, fn, "d_states", t, (B, T, U))
    cdef cnp.ndarray dga = _outp(d_gates, fn, "d_gates", t, (B, T, 3 * U))
    cdef cnp.ndarray drga = _outp(d_recurrent_gates, fn, "d_recurrent_gates", t, (B, T, 3 * U))
    cdef cnp.ndarray dxa = _opt_outp(dx, fn, "dx", t, (B, T, F))
    cdef cnp.ndarray dwa = _outp(dkernel, fn, "dkernel", t, (F, 3 * U))
    cdef cnp.ndarray dra = _outp(drecurrent, fn, "drecurrent", t, (U, 3 * U))
    cdef cnp.ndarray dba = _opt_outp(dbias, fn, "dbias", t, (3 * U,))
    cdef cnp.ndarray drba = _opt_outp(drecurrent_bias, fn, "drecurrent_bias", t, (3 * U,))
    cdef int a = _code(activation, fn, "activation")
    cdef int ra_ = _code(recurrent_activation, fn, "recurrent_activation")
    cdef bint ra_after = bool(reset_after)
    dh = np.empty((B, U), xa.dtype)
    carry, dA, dHR, hd = np.empty_like(dh), np.empty_like(dh), np.empty_like(dh), np.empty_like(dh)
    if t == cnp.NPY_FLOAT32:
        _gru_bwd[float](B, T, F, U, <float*>_ptr(xa), <float*>_ptr(wa), <float*>_ptr(ra),
                        <unsigned char*>_ptr(ma), <float*>_ptr(da), a, ra_, ra_after,
                        <float*>_ptr(ga), <float*>_ptr(rga), <float*>_ptr(hra), <float*>_ptr(sa),
                        <float*>_ptr(dsa), <float*>_ptr(dga), <float*>_ptr(drga), <float*>_ptr(dh),
                        <float*>_ptr(carry), <float*>_ptr(dA), <float*>_ptr(dHR), <float*>_ptr(hd),
                        <float*>_ptr(dxa), <float*>_ptr(dwa), <float*>_ptr(dra), <float*>_ptr(dba),
                        <float*>_ptr(drba))
    else:
        _gru_bwd[double](B, T, F, U, <double*>_ptr(xa), <double*>_ptr(wa), <double*>_ptr(ra),
                         <unsigned char*>_ptr(ma), <double*>_ptr(da), a, ra_, ra_after,
                         <double*>_ptr(ga), <double*>_ptr(rga), <double*>_ptr(hra), <double*>_ptr(sa),
                         <double*>_ptr(dsa), <double*>_ptr(dga), <double*>_ptr(drga), <double*>_ptr(dh),
                         <double*>_ptr(carry), <double*>_ptr(dA), <double*>_ptr(dHR), <double*>_ptr(hd),
                         <double*>_ptr(dxa), <double*>_ptr(dwa), <double*>_ptr(dra), <double*>_ptr(dba),
                         <double*>_ptr(drba))
    if dh0 is not None:
        _outp(dh0, fn, "dh0", t, (B, U))[...] = dh
