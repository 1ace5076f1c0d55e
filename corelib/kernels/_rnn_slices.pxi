# Included by recurrent.pyx: the per-slice products of the recurrent loops
# and how many slices to run.
#
# With two or more threads (OMP_NUM_THREADS) the batch may be cut into
# slices, one per thread, each thread running the whole sequence for its
# rows: the steps of different rows are independent, so the time loop needs
# no synchronisation at all. Weight gradients are summed per slice and added
# at the end. Every product a slice computes is cut into column blocks of at
# most SMALL_MNK multiply-adds: OpenBLAS runs those on the calling thread
# (larger ones would wake its own thread pool, which two callers would fight
# over), and for such sizes it has unpacked "small matrix" kernels that skip
# copying the operands -- measured for a 64x128 @ 128x512 step on two cores:
# 39 us as two such slices, 55 us as one product threaded by OpenBLAS, 97 us
# serial.
#
# Otherwise the run is one slice: each step's products are whole and
# threaded by OpenBLAS, and the input projection, dW, dx and (time-major,
# without recurrent dropout) dR are single gemms over all steps. That is the
# better plan when the input is as wide as the state (the per-step input
# products of slices are small and slow: F=256, U=128, B=64, T=50 forward
# 11.6 ms sliced, 8.3 ms whole), or when other layers keep OpenBLAS's
# threads spinning: they spin for ~0.1 s after each threaded product and take
# a core from the slices (Conv1D + Dense(256) + 2 LSTM(128), 2 cores: 80 ms
# per training step sliced, 52 ms whole; the CTC example 21 and 16 ms).
# Such models mostly feed the recurrent layer a wide input, so slices are
# used only for inputs narrower than the state (F < U), where the recurrence
# dominates: LSTM(128) on 32 features, B=64, T=50: forward 3.2 ms sliced,
# 4.6 ms whole; backward (with dx) 6.0 and 8.4 ms.

cdef enum:
    SMALL_MNK = 262144
    MIN_ROWS = 16
    MAX_SLICES = 64  # dl_run_slices' limit

cdef int BATCH_THREADS = 0
cdef int SERIAL_SLICES = 0
# Whether the slices run as an OpenMP team beside MKL (one pool; set with the
# BLAS choice, see _rnn_threads.pxi). Then nothing else spins against them and
# an input as wide as the state is sliced too: Conv1D + Dense(64) + 2 LSTM(64),
# B=64, T=100, 2 cores: 25.0 ms per training step sliced, 31.5 ms whole.
cdef bint SLICES_OPENMP = False


def _set_batch_threads(int n=0, int serial=-1) -> int:
    """Force the number of batch slices (0: automatic), and with serial=1
    run them one after the other; returns the previous slice setting. For
    tests, which reach the sliced code with small batches."""
    global BATCH_THREADS, SERIAL_SLICES
    previous = BATCH_THREADS
    BATCH_THREADS = n
    if serial >= 0:
        SERIAL_SLICES = serial
    return previous


cdef int _batch_slices(const Seq* s, int NG) noexcept nogil:
    """How many batch slices (threads) to run (see above)."""
    cdef int P = dl_max_threads(), widest = NG
    if BATCH_THREADS > 0:
        return min(BATCH_THREADS, s.B, MAX_SLICES)
    if s.F > s.U or (s.F == s.U and not SLICES_OPENMP):
        return 1
    if s.U > widest:
        widest = s.U
    if s.F > widest:
        widest = s.F
    P = min(P, s.B // MIN_ROWS, MAX_SLICES)
    # each product must split into blocks of >= 16 columns within SMALL_MNK
    while P > 1 and <Py_ssize_t>((s.B + P - 1) // P) * widest * 16 > SMALL_MNK:
        P -= 1
    return max(P, 1)


cdef inline int _slice_start(int B, int k, int P) noexcept nogil:
    return <int>((<Py_ssize_t>B * k) // P)


cdef inline void _mmc(bint split, bint ta, bint tb, int m, int n, int k, floating alpha,
                      const floating* a, Py_ssize_t lda, const floating* b, Py_ssize_t ldb, floating beta,
                      floating* c, Py_ssize_t ldc) noexcept nogil:
    """_mm, cut into column blocks of at most SMALL_MNK multiply-adds when `split`
    (then always on OpenBLAS's small-matrix kernels, on the calling thread)."""
    cdef int c0, w = n
    cdef Py_ssize_t per_col = <Py_ssize_t>m * k
    if split and per_col > 0 and per_col * n > SMALL_MNK:
        # whole vectors of 16 floats per block: odd widths cost the small kernels dearly
        w = <int>(SMALL_MNK // per_col)
        w = w - w % 16 if w >= 16 else max(w, 1)
    c0 = 0
    while c0 < n:
        if w > n - c0:
            w = n - c0
        _mm(ta, tb, m, w, k, alpha, a, lda, (b + c0 * ldb) if tb else (b + c0), ldb, beta, c + c0, ldc, split)
        c0 += w


cdef inline const floating* _prev_rows(const Seq* s, int t, int b0, int nb, floating* hd) noexcept nogil:
    """Rows b0..b0+nb of the state before step t as the recurrent product sees
    it: a block of S (leading dim s.sb), or a copy times the recurrent-dropout
    mask in hd (leading dim U)."""
    cdef const floating* hp = <const floating*>s.S + t * s.st + b0 * s.sb
    cdef const floating* rd = <const floating*>s.rdrop
    cdef int b, j, U = s.U
    if rd == NULL:
        return hp
    rd += b0 * U
    for b in range(nb):
        for j in range(U):
            hd[b * U + j] = hp[b * s.sb + j] * rd[b * U + j]
    return hd


cdef inline Py_ssize_t _prev_ld(const Seq* s) noexcept nogil:
    return s.sb if s.rdrop == NULL else s.U


cdef inline bint _whole_dR(const Seq* s, bint split) noexcept nogil:
    """Whether an unsplit run leaves dR to one gemm over all steps: the states
    before each step are then the first T*B rows of S (time-major) and no
    dropout mask scales them."""
    return not split and s.time_major and s.rdrop == NULL


cdef inline void _project_rows(const Seq* s, bint split, int t, int b0, int nb, int NG, const floating* bias,
                               floating* G) noexcept nogil:
    """Rows b0.. of step t's gates = x_t W (+ bias unless NULL: the fused
    float32 loops add it themselves, saving a pass). Unsplit runs project all
    steps at once beforehand (_project_all)."""
    cdef floating* g = G + t * s.gt + b0 * s.gb
    if not split:
        return
    if bias != NULL:
        _fill_rows(g, nb, NG, s.gb, bias)
    _mmc(split, False, False, nb, NG, s.F, <floating>1, <const floating*>s.x + t * s.xt + b0 * s.xb, s.xb,
         <const floating*>s.W, NG, <floating>(1 if bias != NULL else 0), g, s.gb)


cdef inline void _project_all(const Seq* s, int NG, const floating* bias, floating* G) noexcept nogil:
    """The input projection of every step as one gemm (x and G hold the B*T
    rows in the same order in both layouts)."""
    cdef int M = s.B * s.T
    if bias != NULL:
        _fill_rows(G, M, NG, NG, bias)
    _mm(False, False, M, NG, s.F, <floating>1, <const floating*>s.x, s.F, <const floating*>s.W, NG,
        <floating>(1 if bias != NULL else 0), G, NG)


cdef inline void _back_through_R(const Seq* s, bint split, int b0, int nb, int NG, const floating* R,
                                 const floating* dGt, floating* dh, floating* dA) noexcept nogil:
    """For rows b0.. (dGt, dh: their first rows): dh += dG_t R^T through the
    dropout mask, the gradient reaching the previous state."""
    cdef int U = s.U
    if s.rdrop == NULL:
        _mmc(split, False, True, nb, U, NG, <floating>1, dGt, s.gb, R, NG, <floating>1, dh, U)
    else:
        _mmc(split, False, True, nb, U, NG, <floating>1, dGt, s.gb, R, NG, <floating>0, dA, U)
        _add_scaled(dh, dA, <const floating*>s.rdrop + b0 * U, nb * U)


cdef inline void _step_back(const Seq* s, bint split, int t, int b0, int nb, int NG, const floating* R,
                            const floating* dGt, floating* dh, floating* dA, floating* hd,
                            floating* dR) noexcept nogil:
    """_back_through_R, and dR += h_{t-1}^T dG_t (unless one gemm after: _whole_dR)."""
    cdef int U = s.U
    _back_through_R(s, split, b0, nb, NG, R, dGt, dh, dA)
    if not _whole_dR(s, split):
        _mmc(split, True, False, U, NG, nb, <floating>1, _prev_rows(s, t, b0, nb, hd), _prev_ld(s), dGt, s.gb,
             <floating>1, dR, NG)


cdef inline void _input_step(const Seq* s, bint split, int t, int b0, int nb, int NG, const floating* dGt,
                             floating* dW) noexcept nogil:
    """For rows b0.. of step t: dW += x_t^T dG_t and dx_t = dG_t W^T (unsplit
    runs do all steps at once afterwards: _input_all)."""
    cdef Py_ssize_t xo = t * s.xt + b0 * s.xb
    if not split:
        return
    _mmc(split, True, False, s.F, NG, nb, <floating>1, <const floating*>s.x + xo, s.xb, dGt, s.gb,
         <floating>1, dW, NG)
    if s.dx != NULL:
        _mmc(split, False, True, nb, s.F, NG, <floating>1, dGt, s.gb, <const floating*>s.W, NG, <floating>0,
             <floating*>s.dx + xo, s.xb)


cdef inline void _input_all(const Seq* s, int NG, const floating* dG) noexcept nogil:
    """dW += x^T dG and dx = dG W^T, each one gemm over all steps."""
    cdef int M = s.B * s.T
    _mm(True, False, s.F, NG, M, <floating>1, <const floating*>s.x, s.F, dG, NG, <floating>1,
        <floating*>s.dW, NG)
    if s.dx != NULL:
        _mm(False, True, M, s.F, NG, <floating>1, dG, NG, <const floating*>s.W, NG, <floating>0,
            <floating*>s.dx, s.F)


cdef inline void _add_scaled(floating* dh, const floating* dA, const floating* rdrop, int n) noexcept nogil:
    """dh += dA * rdrop: the recurrent product's gradient through the dropout mask."""
    cdef int i
    for i in range(n):
        dh[i] += dA[i] * rdrop[i]


cdef struct Parts:
    # Per-slice weight-gradient sums: slice 0 adds straight into dW and dR,
    # slice k > 0 into block k - 1, a zeroed [dW; dR] pair; the bias sums
    # (double) are per slice.
    int P, NG, nb_
    Py_ssize_t nw, nr
    void* blocks
    double* bias


cdef int _parts_init(Parts* p, const Seq* s, int P, int NG, int nbias, int itemsize) noexcept nogil:
    p.P, p.NG, p.nb_ = P, NG, nbias
    p.nw, p.nr = <Py_ssize_t>s.F * NG, <Py_ssize_t>s.U * NG
    p.blocks = calloc(<Py_ssize_t>(P - 1) * (p.nw + p.nr) + 1, itemsize)
    p.bias = <double*>calloc(<Py_ssize_t>P * nbias + 1, sizeof(double))
    if p.blocks == NULL or p.bias == NULL:
        free(p.blocks)
        free(p.bias)
        return -1
    return 0


cdef inline floating* _part_w(const Parts* p, const Seq* s, int k, floating* kind) noexcept nogil:
    """Slice k's dW target (`kind` only selects the type)."""
    if k == 0:
        return <floating*>s.dW
    return <floating*>p.blocks + (k - 1) * (p.nw + p.nr)


cdef inline floating* _part_r(const Parts* p, const Seq* s, int k, floating* kind) noexcept nogil:
    if k == 0:
        return <floating*>s.dR
    return <floating*>p.blocks + (k - 1) * (p.nw + p.nr) + p.nw


cdef void _parts_finish(Parts* p, const Seq* s, floating* kind) noexcept nogil:
    """Add the slices' sums into dW, dR and the bias gradients; free."""
    cdef int k, j
    cdef Py_ssize_t i
    cdef floating* dW = <floating*>s.dW
    cdef floating* dR = <floating*>s.dR
    cdef floating* blk
    cdef double* acc
    for k in range(1, p.P):
        blk = <floating*>p.blocks + (k - 1) * (p.nw + p.nr)
        for i in range(p.nw):
            dW[i] += blk[i]
        for i in range(p.nr):
            dR[i] += blk[p.nw + i]
    for k in range(1, p.P):
        for j in range(p.nb_):
            p.bias[j] += p.bias[k * p.nb_ + j]
    acc = p.bias
    if s.db != NULL:
        for j in range(p.NG):
            (<floating*>s.db)[j] = <floating>((<floating*>s.db)[j] + acc[j])
    if s.drb != NULL and p.nb_ > p.NG:
        for j in range(p.NG):
            (<floating*>s.drb)[j] = <floating>((<floating*>s.drb)[j] + acc[p.NG + j])
    free(p.blocks)
    free(p.bias)
