"""Connectionist temporal classification (Graves et al. 2006): the loss and
its gradient by forward-backward in log space, and beam-search decoding.

Each batch element is independent: its own label length and input length
(steps past the input length get no gradient). The recursions run in double
precision whatever the input dtype. Batch elements split across OpenMP
threads only above the module's work threshold (see _common.pxi).
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY, exp, log, log1p
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

include "_common.pxi"

__all__ = ["ctc_loss", "ctc_beam_search", "edit_distances"]

# What `inputs` holds; the gradient is with respect to that same array.
MODES = {"log_probs": 0, "logits": 1, "probs": 2}
cdef double NEG_INF = -INFINITY
cdef double TINY = 1e-37  # probabilities are clipped here before the log


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


cdef double _one(const floating* x, const long long* label, int L, int Tb, int T, int C, int blank,
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


cdef void _batch(const floating* x, const long long* labels, const long long* llen, const long long* ilen,
                 int B, int T, int C, int L, int blank, int mode, bint zero_inf, floating* loss_out,
                 floating* grad) noexcept nogil:
    cdef int b
    cdef int nt = n_threads(<Py_ssize_t>B * T * C * (2 * L + 1))
    if nt > 1:
        for b in prange(B, num_threads=nt, schedule="dynamic"):
            loss_out[b] = <floating>_one(x + <Py_ssize_t>b * T * C, labels + <Py_ssize_t>b * L, <int>llen[b],
                                         <int>ilen[b], T, C, blank, mode, zero_inf,
                                         NULL if grad == NULL else grad + <Py_ssize_t>b * T * C)
    else:
        for b in range(B):
            loss_out[b] = <floating>_one(x + <Py_ssize_t>b * T * C, labels + <Py_ssize_t>b * L, <int>llen[b],
                                         <int>ilen[b], T, C, blank, mode, zero_inf,
                                         NULL if grad == NULL else grad + <Py_ssize_t>b * T * C)


def ctc_loss(inputs, labels, label_lengths, input_lengths, int blank, str mode, bint zero_infinity,
             loss_out, grad_out):
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
    lab = np.ascontiguousarray(labels, dtype=np.int64)
    if lab.ndim != 2 or lab.shape[0] != B:
        raise ShapeError(f"{fn}: labels must have shape ({B}, max_label_length). Received: {lab.shape}")
    cdef int L = lab.shape[1]
    ll = np.ascontiguousarray(label_lengths, dtype=np.int64)
    il = np.ascontiguousarray(input_lengths, dtype=np.int64)
    if ll.shape != (B,) or il.shape != (B,):
        raise ShapeError(f"{fn}: label_lengths and input_lengths must have shape ({B},). "
                         f"Received: {ll.shape}, {il.shape}")
    if B and (ll.min() < 0 or ll.max() > L):
        raise ValueError(f"{fn}: label_lengths must be in [0, {L}]. Received: {ll.tolist()}")
    if B and (il.min() < 0 or il.max() > T):
        raise ValueError(f"{fn}: input_lengths must be in [0, {T}]. Received: {il.tolist()}")
    used = np.arange(L)[None, :] < ll[:, None]
    bad = used & ((lab < 0) | (lab >= C) | (lab == blank))
    if bad.any():
        b, j = np.argwhere(bad)[0]
        raise ValueError(f"{fn}: labels must be in [0, {C}) and not the blank ({blank}). "
                         f"Received: labels[{b}, {j}]={lab[b, j]}")
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
    cdef int m = MODES[mode]
    cdef const long long* lp_ = <const long long*>cnp.PyArray_DATA(lab)
    cdef const long long* llp = <const long long*>cnp.PyArray_DATA(ll)
    cdef const long long* ilp = <const long long*>cnp.PyArray_DATA(il)
    cdef void* xp = cnp.PyArray_DATA(xa)
    cdef void* lop = cnp.PyArray_DATA(lo)
    cdef void* gp = NULL if go is None else cnp.PyArray_DATA(go)
    with nogil:
        if t == cnp.NPY_FLOAT32:
            _batch[float](<float*>xp, lp_, llp, ilp, B, T, C, L, blank, m, zero_infinity, <float*>lop, <float*>gp)
        else:
            _batch[double](<double*>xp, lp_, llp, ilp, B, T, C, L, blank, m, zero_infinity, <double*>lop,
                           <double*>gp)
    return loss_out


# ---------------------------------------------------------------- beam search


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
