# Gate nonlinearities of the recurrent kernels over a row of n values, by
# activation code: float32 tanh and sigmoid through the vectorized loops of
# _rnn_simd.pxi, everything else through _act/_dact of _rnn_common.pxi.


cdef inline bint _fused_gates(const Seq* s) noexcept nogil:
    """Whether the fused float32 row loops apply: tanh activation, sigmoid gates."""
    return s.act == 1 and s.ract == 2


cdef inline void _vact(int code, const floating* x, floating* y, int n) noexcept nogil:
    """y[:n] = act(x[:n]) for an activation code (y may be x)."""
    cdef int i
    if code == 1:
        if floating is float:
            dl_tanhf(x, y, n)
        else:
            for i in range(n):
                y[i] = f_tanh(x[i])
    elif code == 2:
        if floating is float:
            dl_sigmoidf(x, y, n)
        else:
            for i in range(n):
                y[i] = f_sigmoid(x[i])
    elif code == 0:
        if y != x:
            memcpy(y, x, n * sizeof(floating))
    else:
        for i in range(n):
            y[i] = _act(code, x[i])


cdef inline void _vdact(int code, const floating* y, floating* d, int n) noexcept nogil:
    """d[:n] = act'(.) at the points whose outputs are y[:n]."""
    cdef int i
    cdef floating one = 1
    if code == 1:
        for i in range(n):
            d[i] = one - y[i] * y[i]
    elif code == 2:
        for i in range(n):
            d[i] = y[i] * (one - y[i])
    else:
        for i in range(n):
            d[i] = _dact(code, y[i])
