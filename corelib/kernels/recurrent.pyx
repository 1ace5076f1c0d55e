"""Recurrent kernels: SimpleRNN, LSTM and GRU over a whole sequence, forward
and backward through time, in one call each.

Layout (Keras's weight layout): kernel W (F, G*U), recurrent kernel R
(U, G*U) with G = 1 (SimpleRNN), 4 (LSTM: i, f, c, o) or 3 (GRU: z, r, h).
Every per-step array is batch-major, (B, T, .), or with time_major=True
time-major, (T, B, .) (the layers use time-major):

- x (.., F) input; states S (.., T+1 steps, U): step 0 is the initial state,
  step t+1 the state after step t, so every step reads its previous state
  the same way (the LSTM's cells likewise).
- gates (.., G*U): the input projection x @ W + b (one gemm for all steps,
  or per step in batch slices); each step adds h @ R with one more gemm
  (beta=1) and the nonlinearities overwrite it with the activated gates,
  all the backward pass needs. float32 tanh/sigmoid cells run fused,
  vectorized gate loops (_rnn_simd.pxi).
- mask (B, T) (time-major: (T, B)) bool/uint8 or None: a masked (False)
  step leaves the state unchanged and its gates get no gradient.
- rdrop (B, U) or None: recurrent dropout, a mask (already scaled) applied to
  the previous state in the recurrent products only, the same for all steps.

Backward takes d_states (.., T steps, U), the gradient of the states after
each step (or (B, U) when only the last state has one), and ACCUMULATES (+=)
into the weight gradients; dx, dh0 and dc0 are overwritten.

Threads: the time loop is serial (each step depends on the last), but the
rows of a batch are independent, so with several threads (OMP_NUM_THREADS)
each takes a slice of the batch through the whole sequence (see
_rnn_slices.pxi and _rnn_threads.pxi); otherwise BLAS threads the products.
"""

from cython cimport floating
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

include "_common.pxi"
include "_blas.pxi"
include "_fmath.pxi"
include "_rnn_common.pxi"
include "_rnn_slices.pxi"
include "_rnn_simd.pxi"
include "_rnn_gates.pxi"
include "_simple_rnn_loops.pxi"
include "_lstm_loops.pxi"
include "_gru_loops.pxi"
include "_rnn_threads.pxi"

__all__ = ["ACTIVATION_CODES", "rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward",
           "gru_forward", "gru_backward"]


cdef inline void* _keep(list keep, cnp.ndarray a):
    """The data pointer of `a` (NULL for None), holding `a` alive in `keep`."""
    if a is None:
        return NULL
    keep.append(a)
    return cnp.PyArray_DATA(a)


cdef tuple _steps(const Seq* s, int width, int extra=0):
    """The shape of a per-step array of T + extra steps."""
    if s.time_major:
        return (s.T + extra, s.B, width)
    return (s.B, s.T + extra, width)


cdef Seq _begin(object x, object kernel, object recurrent, int gates, object time_major, str fn,
                list keep) except *:
    """Sizes and layout from x and the recurrent kernel; x, kernel, recurrent checked."""
    cdef cnp.ndarray xa = as_ndarray(x, fn, "x")
    cdef int t = float_typenum(xa, fn, "x")
    cdef bint tm = bool(time_major)
    check_ndim(xa, 3, fn, "x", "(time, batch, features)" if tm else "(batch, time, features)")
    ra = as_ndarray(recurrent, fn, "recurrent_kernel")
    check_ndim(ra, 2, fn, "recurrent_kernel", "(units, gates * units)")
    U, F = cnp.PyArray_DIM(ra, 0), cnp.PyArray_DIM(xa, 2)
    B, T = (cnp.PyArray_DIM(xa, 1), cnp.PyArray_DIM(xa, 0)) if tm else (cnp.PyArray_DIM(xa, 0), cnp.PyArray_DIM(xa, 1))
    if B * (T + 1) * 4 * U >= 2**31 or B * T * F >= 2**31 or F * 4 * U >= 2**31:
        raise ValueError(f"{fn}: dimensions too large. Received: x.shape={shape_str(xa)}, units={U}")
    cdef Seq s = _seq(B, T, F, U, gates, tm)
    s.dtype = t
    s.serial_slices = SERIAL_SLICES
    s.x = _keep(keep, _inp(xa, fn, "x", t, _steps(&s, F)))
    s.W = _keep(keep, _inp(kernel, fn, "kernel", t, (F, gates * U)))
    s.R = _keep(keep, _inp(recurrent, fn, "recurrent_kernel", t, (U, gates * U)))
    return s


cdef const unsigned char* _mask_ptr(const Seq* s, object mask, str fn, list keep) except *:
    shape, axes = ((s.T, s.B), "(time, batch)") if s.time_major else ((s.B, s.T), "(batch, time)")
    return <const unsigned char*>_keep(keep, _mask(mask, fn, shape, axes))


cdef _initial(cnp.ndarray states, object value, bint time_major):
    if time_major:
        states[0] = value
    else:
        states[:, 0] = value


cdef void* _d_states(Seq* s, object d_states, str fn, list keep) except *:
    """d_states: every step's (.., T, U) or, as (B, U), the last step's alone."""
    arr = as_ndarray(d_states, fn, "d_states")
    if cnp.PyArray_NDIM(arr) == 2:
        s.dS_last, s.db_, s.dt_ = True, s.U, 0
        return _keep(keep, _inp(arr, fn, "d_states", s.dtype, (s.B, s.U)))
    return _keep(keep, _inp(arr, fn, "d_states", s.dtype, _steps(s, s.U)))


cdef _copy_out(object out, cnp.ndarray src, const Seq* s, str fn, str name):
    if out is not None:
        _outp(out, fn, name, s.dtype, (s.B, s.U))[...] = src


def rnn_forward(x, kernel, recurrent_kernel, bias, h0, mask, rdrop, activation, gates, states,
                time_major=False):
    """SimpleRNN over all steps: h_t = act(x_t W + b + h_{t-1} R).

    Args:
        x: (B, T, F); kernel (F, U); recurrent_kernel (U, U); bias (U,) or None;
        h0: (B, U) initial state (or a scalar); mask: (B, T) or None; rdrop: (B, U) or None;
        activation: a name in ACTIVATION_CODES;
        gates: (B, T, U) workspace (pre-activations); states: (B, T+1, U) output
            (states[:, 0] = h0 is written here);
        time_major: x, mask, gates and states are (T, B, ...) instead.
    """
    fn, keep = "rnn_forward", []
    cdef Seq s = _begin(x, kernel, recurrent_kernel, 1, time_major, fn, keep)
    s.bias = _keep(keep, _opt_inp(bias, fn, "bias", s.dtype, (s.U,)))
    s.rdrop = _keep(keep, _opt_inp(rdrop, fn, "rdrop", s.dtype, (s.B, s.U)))
    s.mask = _mask_ptr(&s, mask, fn, keep)
    s.G = _keep(keep, _outp(gates, fn, "gates", s.dtype, _steps(&s, s.U)))
    cdef cnp.ndarray sa = _outp(states, fn, "states", s.dtype, _steps(&s, s.U, 1))
    s.S = _keep(keep, sa)
    s.act = _code(activation, fn, "activation")
    _initial(sa, h0, s.time_major)
    cdef int rc
    with nogil:
        rc = _rnn_fwd(&s, <float*>s.G) if s.dtype == cnp.NPY_FLOAT32 else _rnn_fwd(&s, <double*>s.G)
    if rc:
        raise MemoryError(fn)
    return states


def rnn_backward(x, kernel, recurrent_kernel, mask, rdrop, activation, states, d_states,
                 d_gates, dx, dkernel, drecurrent, dbias, dh0, time_major=False):
    """Gradients of rnn_forward. d_states (B, T, U) is the gradient of states[:, 1:]
    (or (B, U): of the last state alone);
    d_gates (B, T, U) a workspace. dkernel, drecurrent, dbias ACCUMULATE; dx (B, T, F)
    and dh0 (B, U) are overwritten; any of dx, dbias, dh0 may be None.
    time_major: the per-step arrays are (T, B, ...)."""
    fn, keep = "rnn_backward", []
    cdef Seq s = _begin(x, kernel, recurrent_kernel, 1, time_major, fn, keep)
    s.rdrop = _keep(keep, _opt_inp(rdrop, fn, "rdrop", s.dtype, (s.B, s.U)))
    s.mask = _mask_ptr(&s, mask, fn, keep)
    s.S = _keep(keep, _inp(states, fn, "states", s.dtype, _steps(&s, s.U, 1)))
    s.dS = _d_states(&s, d_states, fn, keep)
    s.dG = _keep(keep, _outp(d_gates, fn, "d_gates", s.dtype, _steps(&s, s.U)))
    s.dx = _keep(keep, _opt_outp(dx, fn, "dx", s.dtype, _steps(&s, s.F)))
    s.dW = _keep(keep, _outp(dkernel, fn, "dkernel", s.dtype, (s.F, s.U)))
    s.dR = _keep(keep, _outp(drecurrent, fn, "drecurrent", s.dtype, (s.U, s.U)))
    s.db = _keep(keep, _opt_outp(dbias, fn, "dbias", s.dtype, (s.U,)))
    s.act = _code(activation, fn, "activation")
    dh = np.empty((s.B, s.U), np.float32 if s.dtype == cnp.NPY_FLOAT32 else np.float64)
    s.dh0 = _keep(keep, dh)
    cdef int rc
    with nogil:
        rc = _rnn_bwd(&s, <float*>s.dG) if s.dtype == cnp.NPY_FLOAT32 else _rnn_bwd(&s, <double*>s.dG)
    if rc:
        raise MemoryError(fn)
    _copy_out(dh0, dh, &s, fn, "dh0")


def lstm_forward(x, kernel, recurrent_kernel, bias, h0, c0, mask, rdrop, activation,
                 recurrent_activation, gates, states, cells, time_major=False):
    """LSTM over all steps (Keras gate order i, f, c, o).

    Args:
        x: (B, T, F); kernel (F, 4U); recurrent_kernel (U, 4U); bias (4U,) or None;
        h0, c0: (B, U) initial states (or scalars); mask (B, T) or None; rdrop (B, U) or None;
        activation, recurrent_activation: names in ACTIVATION_CODES;
        gates: (B, T, 4U) output (activated gates); states, cells: (B, T+1, U)
            outputs, [:, 0] holding h0 / c0;
        time_major: x, mask, gates, states and cells are (T, B, ...) instead.
    """
    fn, keep = "lstm_forward", []
    cdef Seq s = _begin(x, kernel, recurrent_kernel, 4, time_major, fn, keep)
    s.bias = _keep(keep, _opt_inp(bias, fn, "bias", s.dtype, (4 * s.U,)))
    s.rdrop = _keep(keep, _opt_inp(rdrop, fn, "rdrop", s.dtype, (s.B, s.U)))
    s.mask = _mask_ptr(&s, mask, fn, keep)
    s.G = _keep(keep, _outp(gates, fn, "gates", s.dtype, _steps(&s, 4 * s.U)))
    cdef cnp.ndarray sa = _outp(states, fn, "states", s.dtype, _steps(&s, s.U, 1))
    cdef cnp.ndarray ca = _outp(cells, fn, "cells", s.dtype, _steps(&s, s.U, 1))
    s.S, s.C = _keep(keep, sa), _keep(keep, ca)
    s.act = _code(activation, fn, "activation")
    s.ract = _code(recurrent_activation, fn, "recurrent_activation")
    _initial(sa, h0, s.time_major)
    _initial(ca, c0, s.time_major)
    cdef int rc
    with nogil:
        rc = _lstm_fwd(&s, <float*>s.G) if s.dtype == cnp.NPY_FLOAT32 else _lstm_fwd(&s, <double*>s.G)
    if rc:
        raise MemoryError(fn)
    return states


def lstm_backward(x, kernel, recurrent_kernel, mask, rdrop, activation, recurrent_activation,
                  gates, states, cells, d_states, d_cell_last, d_gates, dx, dkernel, drecurrent,
                  dbias, dh0, dc0, time_major=False):
    """Gradients of lstm_forward. d_states (B, T, U): gradient of states[:, 1:] (or
    (B, U): of the last state alone);
    d_cell_last (B, U) or None: gradient of the last cell state; d_gates (B, T, 4U)
    workspace. dkernel, drecurrent, dbias ACCUMULATE; dx, dh0, dc0 are overwritten
    (each of dx, dbias, dh0, dc0 may be None). time_major: per-step arrays are (T, B, ...)."""
    fn, keep = "lstm_backward", []
    cdef Seq s = _begin(x, kernel, recurrent_kernel, 4, time_major, fn, keep)
    s.rdrop = _keep(keep, _opt_inp(rdrop, fn, "rdrop", s.dtype, (s.B, s.U)))
    s.mask = _mask_ptr(&s, mask, fn, keep)
    s.G = _keep(keep, _inp(gates, fn, "gates", s.dtype, _steps(&s, 4 * s.U)))
    s.S = _keep(keep, _inp(states, fn, "states", s.dtype, _steps(&s, s.U, 1)))
    s.C = _keep(keep, _inp(cells, fn, "cells", s.dtype, _steps(&s, s.U, 1)))
    s.dS = _d_states(&s, d_states, fn, keep)
    s.dcT = _keep(keep, _opt_inp(d_cell_last, fn, "d_cell_last", s.dtype, (s.B, s.U)))
    s.dG = _keep(keep, _outp(d_gates, fn, "d_gates", s.dtype, _steps(&s, 4 * s.U)))
    s.dx = _keep(keep, _opt_outp(dx, fn, "dx", s.dtype, _steps(&s, s.F)))
    s.dW = _keep(keep, _outp(dkernel, fn, "dkernel", s.dtype, (s.F, 4 * s.U)))
    s.dR = _keep(keep, _outp(drecurrent, fn, "drecurrent", s.dtype, (s.U, 4 * s.U)))
    s.db = _keep(keep, _opt_outp(dbias, fn, "dbias", s.dtype, (4 * s.U,)))
    s.act = _code(activation, fn, "activation")
    s.ract = _code(recurrent_activation, fn, "recurrent_activation")
    dtype = np.float32 if s.dtype == cnp.NPY_FLOAT32 else np.float64
    dh, dc = np.empty((s.B, s.U), dtype), np.empty((s.B, s.U), dtype)
    s.dh0, s.dc0 = _keep(keep, dh), _keep(keep, dc)
    cdef int rc
    with nogil:
        rc = _lstm_bwd(&s, <float*>s.dG) if s.dtype == cnp.NPY_FLOAT32 else _lstm_bwd(&s, <double*>s.dG)
    if rc:
        raise MemoryError(fn)
    _copy_out(dh0, dh, &s, fn, "dh0")
    _copy_out(dc0, dc, &s, fn, "dc0")


def gru_forward(x, kernel, recurrent_kernel, bias, recurrent_bias, h0, mask, rdrop, activation,
                recurrent_activation, reset_after, gates, recurrent_gates, reset_states, states,
                time_major=False):
    """GRU over all steps (Keras gate order z, r, h; h = z h_prev + (1 - z) h~).

    Args:
        x: (B, T, F); kernel (F, 3U); recurrent_kernel (U, 3U); bias (3U,) or None
            (the input bias when reset_after); recurrent_bias (3U,) or None (only
            with reset_after); h0 (B, U) (or a scalar); mask (B, T) or None; rdrop (B, U) or None;
        reset_after: apply the reset gate after the recurrent product (Keras 3 and
            cuDNN default) or before it (the original GRU);
        gates, recurrent_gates: (B, T, 3U) workspaces/outputs; reset_states:
            (B, T, U) workspace (r * h_prev; used when not reset_after);
        states: (B, T+1, U) output, states[:, 0] = h0;
        time_major: x, mask and the workspaces and outputs are (T, B, ...) instead.
    """
    fn, keep = "gru_forward", []
    cdef Seq s = _begin(x, kernel, recurrent_kernel, 3, time_major, fn, keep)
    s.bias = _keep(keep, _opt_inp(bias, fn, "bias", s.dtype, (3 * s.U,)))
    s.rbias = _keep(keep, _opt_inp(recurrent_bias, fn, "recurrent_bias", s.dtype, (3 * s.U,)))
    s.rdrop = _keep(keep, _opt_inp(rdrop, fn, "rdrop", s.dtype, (s.B, s.U)))
    s.mask = _mask_ptr(&s, mask, fn, keep)
    s.G = _keep(keep, _outp(gates, fn, "gates", s.dtype, _steps(&s, 3 * s.U)))
    s.RH = _keep(keep, _outp(recurrent_gates, fn, "recurrent_gates", s.dtype, _steps(&s, 3 * s.U)))
    s.HR = _keep(keep, _outp(reset_states, fn, "reset_states", s.dtype, _steps(&s, s.U)))
    cdef cnp.ndarray sa = _outp(states, fn, "states", s.dtype, _steps(&s, s.U, 1))
    s.S = _keep(keep, sa)
    s.act = _code(activation, fn, "activation")
    s.ract = _code(recurrent_activation, fn, "recurrent_activation")
    s.reset_after = bool(reset_after)
    _initial(sa, h0, s.time_major)
    cdef int rc
    with nogil:
        rc = _gru_fwd(&s, <float*>s.G) if s.dtype == cnp.NPY_FLOAT32 else _gru_fwd(&s, <double*>s.G)
    if rc:
        raise MemoryError(fn)
    return states


def gru_backward(x, kernel, recurrent_kernel, mask, rdrop, activation, recurrent_activation,
                 reset_after, gates, recurrent_gates, reset_states, states, d_states, d_gates,
                 d_recurrent_gates, dx, dkernel, drecurrent, dbias, drecurrent_bias, dh0,
                 time_major=False):
    """Gradients of gru_forward. d_states (B, T, U): gradient of states[:, 1:] (or
    (B, U): of the last state alone);
    d_gates, d_recurrent_gates: (B, T, 3U) workspaces (the second unused unless
    reset_after). dkernel, drecurrent, dbias, drecurrent_bias ACCUMULATE; dx and dh0
    are overwritten (each of dx, dbias, drecurrent_bias, dh0 may be None).
    time_major: the per-step arrays are (T, B, ...)."""
    fn, keep = "gru_backward", []
    cdef Seq s = _begin(x, kernel, recurrent_kernel, 3, time_major, fn, keep)
    s.rdrop = _keep(keep, _opt_inp(rdrop, fn, "rdrop", s.dtype, (s.B, s.U)))
    s.mask = _mask_ptr(&s, mask, fn, keep)
    s.G = _keep(keep, _inp(gates, fn, "gates", s.dtype, _steps(&s, 3 * s.U)))
    s.RH = _keep(keep, _inp(recurrent_gates, fn, "recurrent_gates", s.dtype, _steps(&s, 3 * s.U)))
    s.HR = _keep(keep, _inp(reset_states, fn, "reset_states", s.dtype, _steps(&s, s.U)))
    s.S = _keep(keep, _inp(states, fn, "states", s.dtype, _steps(&s, s.U, 1)))
    s.dS = _d_states(&s, d_states, fn, keep)
    s.dG = _keep(keep, _outp(d_gates, fn, "d_gates", s.dtype, _steps(&s, 3 * s.U)))
    s.dRH = _keep(keep, _outp(d_recurrent_gates, fn, "d_recurrent_gates", s.dtype, _steps(&s, 3 * s.U)))
    s.dx = _keep(keep, _opt_outp(dx, fn, "dx", s.dtype, _steps(&s, s.F)))
    s.dW = _keep(keep, _outp(dkernel, fn, "dkernel", s.dtype, (s.F, 3 * s.U)))
    s.dR = _keep(keep, _outp(drecurrent, fn, "drecurrent", s.dtype, (s.U, 3 * s.U)))
    s.db = _keep(keep, _opt_outp(dbias, fn, "dbias", s.dtype, (3 * s.U,)))
    s.drb = _keep(keep, _opt_outp(drecurrent_bias, fn, "drecurrent_bias", s.dtype, (3 * s.U,)))
    s.act = _code(activation, fn, "activation")
    s.ract = _code(recurrent_activation, fn, "recurrent_activation")
    s.reset_after = bool(reset_after)
    dh = np.empty((s.B, s.U), np.float32 if s.dtype == cnp.NPY_FLOAT32 else np.float64)
    s.dh0 = _keep(keep, dh)
    cdef int rc
    with nogil:
        rc = _gru_bwd(&s, <float*>s.dG) if s.dtype == cnp.NPY_FLOAT32 else _gru_bwd(&s, <double*>s.dG)
    if rc:
        raise MemoryError(fn)
    _copy_out(dh0, dh, &s, fn, "dh0")


_use_local_threads(_LOCAL_THREADS)
