"""Connectionist temporal classification (Graves et al. 2006): the loss and
its gradient by forward-backward, and beam-search decoding.

Each batch element is independent: its own label length and input length
(steps past the input length get no gradient). The recursions run in double
precision whatever the input dtype, in probability space with the lattice
rescaled at every step (ctc_scaled.pxi); a sample whose rescaled values would
underflow is redone in log space (ctc_logspace.pxi), so results are those of
the log-space recursions up to rounding. Batch elements split across OpenMP
threads only above the module's work threshold (see _common.pxi).
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

include "_common.pxi"
include "_fmath.pxi"

__all__ = ["ctc_loss", "ctc_beam_search", "edit_distances"]

# What `inputs` holds; the gradient is with respect to that same array.
MODES = {"log_probs": 0, "logits": 1, "probs": 2}
cdef double NEG_INF = -INFINITY
cdef double TINY = 1e-37  # probabilities are clipped here before the log
cdef bint LOG_SPACE_ONLY = False

include "ctc_logspace.pxi"
include "ctc_scaled.pxi"
include "ctc_beam.pxi"


def _set_log_space_only(bint on) -> bool:
    """Compute every sample in log space (True) or only those the rescaled
    recursions cannot do (False, the default); returns the previous setting.
    For tests, which compare the two."""
    global LOG_SPACE_ONLY
    previous = LOG_SPACE_ONLY
    LOG_SPACE_ONLY = on
    return previous


cdef double _one(const floating* x, const long long* label, int L, int Tb, int T, int C, int blank,
                 int mode, bint zero_inf, floating* grad, double gscale) noexcept nogil:
    """Loss of one sample; its gradient times gscale into grad (T, C) when
    grad is not NULL."""
    cdef int S = 2 * L + 1, s, repeats = 0
    cdef Py_ssize_t i
    cdef double loss
    cdef bint done
    cdef int* ext
    if Tb > 0 and not LOG_SPACE_ONLY:
        for s in range(1, L):
            repeats += label[s] == label[s - 1]
        if Tb < L + repeats:  # too few steps: no alignment (loss inf, gradient 0)
            if grad != NULL:
                memset(grad, 0, <Py_ssize_t>T * C * sizeof(floating))
            return 0.0 if zero_inf else INFINITY
        ext = <int*>malloc(S * sizeof(int))
        if ext != NULL:
            for s in range(S):
                ext[s] = blank if s % 2 == 0 else <int>label[s // 2]
            done = _one_scaled(x, ext, S, Tb, T, C, blank, mode, &loss, grad, gscale)
            free(ext)
            if done:
                return loss
    loss = _one_log(x, label, L, Tb, T, C, blank, mode, zero_inf, grad)
    if grad != NULL and gscale != 1.0:
        for i in range(<Py_ssize_t>Tb * C):
            grad[i] = <floating>(grad[i] * gscale)
    return loss


cdef void _batch(const floating* x, const long long* labels, const long long* llen, const long long* ilen,
                 int B, int T, int C, int L, int blank, int mode, bint zero_inf, floating* loss_out,
                 floating* grad, const double* gscale) noexcept nogil:
    cdef int b
    cdef int nt = n_threads(<Py_ssize_t>B * T * C * (2 * L + 1))
    if nt > 1:
        for b in prange(B, num_threads=nt, schedule="dynamic"):
            loss_out[b] = <floating>_one(x + <Py_ssize_t>b * T * C, labels + <Py_ssize_t>b * L, <int>llen[b],
                                         <int>ilen[b], T, C, blank, mode, zero_inf,
                                         NULL if grad == NULL else grad + <Py_ssize_t>b * T * C,
                                         1.0 if gscale == NULL else gscale[b])
    else:
        for b in range(B):
            loss_out[b] = <floating>_one(x + <Py_ssize_t>b * T * C, labels + <Py_ssize_t>b * L, <int>llen[b],
                                         <int>ilen[b], T, C, blank, mode, zero_inf,
                                         NULL if grad == NULL else grad + <Py_ssize_t>b * T * C,
                                         1.0 if gscale == NULL else gscale[b])


cdef Py_ssize_t _first_outside(const long long* v, int n, long long hi) noexcept:
    """The first index i with v[i] outside [0, hi], or -1."""
    cdef int i
    for i in range(n):
        if v[i] < 0 or v[i] > hi:
            return i
    return -1


cdef Py_ssize_t _first_bad_label(const long long* lab, const long long* llen, int B, int L, int C,
                                 int blank) noexcept:
    """The flat index b * L + j of the first used label (j < llen[b]) that is
    not a class or is the blank, or -1."""
    cdef int b, j
    cdef long long v
    for b in range(B):
        for j in range(llen[b]):
            v = lab[<Py_ssize_t>b * L + j]
            if v < 0 or v >= C or v == blank:
                return <Py_ssize_t>b * L + j
    return -1


def ctc_loss(inputs, labels, label_lengths, input_lengths, int blank, str mode, bint zero_infinity,
             loss_out, grad_out, grad_scale=None):
    """Per-sample CTC losses -log p(label | inputs) and their gradients.

    Args:
        inputs: (B, T, C) float32/float64: log-probabilities, logits or
            probabilities per `mode`; may be strided.
        labels: (B, L) int64; row b's first label_lengths[b] entries are its
            labels (each in [0, C), not the blank), the rest is ignored.
        label_lengths, input_lengths: (B,) int64, in [0, L] and [0, T].
        blank: the blank class index in [0, C).
        mode: "log_probs", "logits" (log-softmax applied here) or "probs".
        zero_infinity: impossible alignments give loss 0 and gradient 0
            (otherwise loss inf and gradient 0).
        loss_out: (B,) C-contiguous output.
        grad_out: (B, T, C) C-contiguous output (gradient of each sample's
            loss with respect to `inputs`, zero past its input length), or None.
        grad_scale: None, or (B,) factors that multiply each sample's
            gradient (sample weights over the batch size, say), which spares
            the caller a pass over grad_out.
    """
    fn = "ctc_loss"
    cdef cnp.ndarray xa = as_ndarray(inputs, fn, "inputs")
    cdef int t = float_typenum(xa, fn, "inputs")
    check_ndim(xa, 3, fn, "inputs", "(batch, time, classes)")
    cdef int B = cnp.PyArray_DIM(xa, 0), T = cnp.PyArray_DIM(xa, 1), C = cnp.PyArray_DIM(xa, 2)
    if mode not in MODES:
        raise ValueError(f"{fn}: mode must be one of {sorted(MODES)}. Received: mode={mode!r}")
    if not 0 <= blank < C:
        raise ValueError(f"{fn}: blank must be in [0, {C}). Received: blank={blank}")
    cdef cnp.ndarray lab = np.ascontiguousarray(labels, dtype=np.int64)
    if cnp.PyArray_NDIM(lab) != 2 or cnp.PyArray_DIM(lab, 0) != B:
        raise ShapeError(f"{fn}: labels must have shape ({B}, max_label_length). Received: {shape_str(lab)}")
    cdef int L = cnp.PyArray_DIM(lab, 1)
    cdef cnp.ndarray ll = np.ascontiguousarray(label_lengths, dtype=np.int64)
    cdef cnp.ndarray il = np.ascontiguousarray(input_lengths, dtype=np.int64)
    if (cnp.PyArray_NDIM(ll) != 1 or cnp.PyArray_DIM(ll, 0) != B or cnp.PyArray_NDIM(il) != 1
            or cnp.PyArray_DIM(il, 0) != B):
        raise ShapeError(f"{fn}: label_lengths and input_lengths must have shape ({B},). "
                         f"Received: {shape_str(ll)}, {shape_str(il)}")
    cdef const long long* lp_ = <const long long*>cnp.PyArray_DATA(lab)
    cdef const long long* llp = <const long long*>cnp.PyArray_DATA(ll)
    cdef const long long* ilp = <const long long*>cnp.PyArray_DATA(il)
    if _first_outside(llp, B, L) >= 0:
        raise ValueError(f"{fn}: label_lengths must be in [0, {L}]. Received: {ll.tolist()}")
    if _first_outside(ilp, B, T) >= 0:
        raise ValueError(f"{fn}: input_lengths must be in [0, {T}]. Received: {il.tolist()}")
    cdef Py_ssize_t bad = _first_bad_label(lp_, llp, B, L, C, blank)
    if bad >= 0:
        raise ValueError(f"{fn}: labels must be in [0, {C}) and not the blank ({blank}). "
                         f"Received: labels[{bad // L}, {bad % L}]={lab.reshape(-1)[bad]}")
    if not cnp.PyArray_ISCARRAY_RO(xa):
        xa = fresh_copy(xa)
    cdef cnp.ndarray lo = output_array(loss_out, fn, "loss_out")
    check_same_dtype(lo, t, fn, "loss_out", "inputs")
    check_shape(lo, (B,), fn, "loss_out", "(batch,)")
    cdef cnp.ndarray go = None
    if grad_out is not None:
        go = output_array(grad_out, fn, "grad_out")
        check_same_dtype(go, t, fn, "grad_out", "inputs")
        check_shape(go, (B, T, C), fn, "grad_out", "= inputs.shape")
    cdef cnp.ndarray gs = None
    if grad_scale is not None:
        gs = np.ascontiguousarray(grad_scale, dtype=np.float64)
        if cnp.PyArray_NDIM(gs) != 1 or cnp.PyArray_DIM(gs, 0) != B:
            raise ShapeError(f"{fn}: grad_scale must have shape ({B},). Received: {shape_str(gs)}")
    cdef double* gsp = NULL if gs is None else <double*>cnp.PyArray_DATA(gs)
    cdef int m = MODES[mode]
    cdef void* xp = cnp.PyArray_DATA(xa)
    cdef void* lop = cnp.PyArray_DATA(lo)
    cdef void* gp = NULL if go is None else cnp.PyArray_DATA(go)
    with nogil:
        if t == cnp.NPY_FLOAT32:
            _batch[float](<float*>xp, lp_, llp, ilp, B, T, C, L, blank, m, zero_infinity, <float*>lop,
                          <float*>gp, gsp)
        else:
            _batch[double](<double*>xp, lp_, llp, ilp, B, T, C, L, blank, m, zero_infinity, <double*>lop,
                           <double*>gp, gsp)
    return loss_out


# ---------------------------------------------------------------- beam search


def ctc_beam_search(log_probs, input_lengths, int beam_width, int blank, decoded, scores):
    """Prefix beam search per sample.

    Args:
        log_probs: (B, T, C) float64 log-probabilities.
        input_lengths: (B,) int64 in [0, T].
        beam_width: beams kept per step (>= 1).
        blank: the blank index.
        decoded: (B, T) int64 C-contiguous output, each row's labels then -1.
        scores: (B,) float64 output, the log-probability of each decoded labelling.
    """
    fn = "ctc_beam_search"
    lpa = np.ascontiguousarray(log_probs, dtype=np.float64)
    if lpa.ndim != 3:
        raise ShapeError(f"{fn}: log_probs must be 3D (batch, time, classes). Received: shape={lpa.shape}")
    cdef int B = lpa.shape[0], T = lpa.shape[1], C = lpa.shape[2], b
    il = np.ascontiguousarray(input_lengths, dtype=np.int64)
    if il.shape != (B,) or (B and (il.min() < 0 or il.max() > T)):
        raise ValueError(f"{fn}: input_lengths must be ({B},) in [0, {T}]. Received: {il.tolist()}")
    if beam_width < 1:
        raise ValueError(f"{fn}: beam_width must be >= 1. Received: beam_width={beam_width}")
    if not 0 <= blank < C:
        raise ValueError(f"{fn}: blank must be in [0, {C}). Received: blank={blank}")
    if decoded.shape != (B, T) or decoded.dtype != np.int64 or not decoded.flags.c_contiguous:
        raise ValueError(f"{fn}: decoded must be a C-contiguous int64 array of shape ({B}, {T})")
    if scores.shape != (B,) or scores.dtype != np.float64:
        raise ValueError(f"{fn}: scores must be a float64 array of shape ({B},)")
    cdef const double* lp = <const double*>cnp.PyArray_DATA(lpa)
    cdef const long long* ilp = <const long long*>cnp.PyArray_DATA(il)
    cdef long long* out = <long long*>cnp.PyArray_DATA(decoded)
    cdef double[::1] sc = scores
    decoded[...] = -1
    with nogil:
        for b in range(B):
            sc[b] = _beam_one(lp + <Py_ssize_t>b * T * C, <int>ilp[b], C, beam_width, blank,
                              out + <Py_ssize_t>b * T)
    return decoded


def edit_distances(a, b):
    """Levenshtein distance between each row of a and of b (int64 (B, *),
    each row's symbols then negative padding); returns int64 (B,)."""
    cdef long long[:, ::1] x = np.ascontiguousarray(a, dtype=np.int64)
    cdef long long[:, ::1] y = np.ascontiguousarray(b, dtype=np.int64)
    if x.shape[0] != y.shape[0]:
        raise ShapeError(f"edit_distances: {x.shape[0]} rows against {y.shape[0]}")
    out = np.zeros(x.shape[0], np.int64)
    cdef long long[::1] o = out
    cdef Py_ssize_t r, i, j, n, m
    cdef long long* row = <long long*>malloc((y.shape[1] + 1) * sizeof(long long))
    cdef long long diag, up, best
    with nogil:
        for r in range(x.shape[0]):
            n = 0
            while n < x.shape[1] and x[r, n] >= 0:
                n += 1
            m = 0
            while m < y.shape[1] and y[r, m] >= 0:
                m += 1
            for j in range(m + 1):
                row[j] = j
            for i in range(1, n + 1):
                diag = row[0]
                row[0] = i
                for j in range(1, m + 1):
                    up = row[j]
                    best = diag + (0 if x[r, i - 1] == y[r, j - 1] else 1)
                    if up + 1 < best:
                        best = up + 1
                    if row[j - 1] + 1 < best:
                        best = row[j - 1] + 1
                    row[j] = best
                    diag = up
            o[r] = row[m]
    free(row)
    return out
