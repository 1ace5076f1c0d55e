# Included by recurrent.pyx: the threads that run the batch slices.
#
# Each slice gets its own thread for one kernel call, created for it and
# joined at the end (the calling thread runs slice 0). Not an OpenMP team:
# after a parallel region libgomp's idle workers spin for milliseconds, and
# in a model whose other layers use OpenBLAS's threads (convolutions, large
# dense layers) that spinning starves them -- measured on the CTC example's
# model with its LSTMs sliced (Conv2D + Bidirectional LSTM, 2 cores): 24 ms
# per training step with an OpenMP team, 13.5 ms unsliced. A joined thread
# leaves nothing behind; creating, starting and joining one costs ~50 us,
# against milliseconds of work.

cdef extern from *:
    """
    #if defined(__linux__) && !defined(_GNU_SOURCE)
    #define _GNU_SOURCE
    #endif
    #if defined(__unix__) || defined(__APPLE__)
    #include <pthread.h>
    #define DL_HAVE_PTHREADS 1
    #endif
    #if defined(__linux__) && defined(DL_HAVE_PTHREADS)
    #include <sched.h>
    #define DL_PLACE_THREADS 1
    #endif

    typedef int (*dl_slice_fn)(void* job, int k);

    /* Sets the calling thread's own BLAS thread count and returns the one it
       had (MKL's mkl_set_num_threads_local); NULL for SciPy's OpenBLAS, which
       runs the slices' small products on the calling thread by itself. A
       slice runs its products on one thread: with MKL on the OpenMP threads,
       each slice would otherwise start a team of its own. */
    typedef int (*dl_local_threads_fn)(int);
    static dl_local_threads_fn dl_blas_local_threads = NULL;
    static void dl_set_blas_local_threads(size_t address) {
        dl_blas_local_threads = (dl_local_threads_fn)address;
    }

    /* With MKL the slices run as an OpenMP team instead: the same libgomp
       threads as MKL's products and the kernels' loops (one pool), where
       pthreads of their own would compete with those threads' spinning
       (LSTM(128) step, 2 cores: 16.7 ms on pthreads beside MKL, see
       docs/benchmarks.md). MKL called inside the team runs on the caller. */
    static int dl_slices_openmp = 0;
    static void dl_set_slices_openmp(int on) { dl_slices_openmp = on; }

    typedef struct {
        dl_slice_fn fn; void* job; int k; int rc;
    #ifdef DL_PLACE_THREADS
        int placed; cpu_set_t allowed;
    #endif
    } dl_slice_run;

    #ifdef DL_HAVE_PTHREADS
    static void* dl_slice_main(void* arg) {
        dl_slice_run* r = (dl_slice_run*)arg;
        if (dl_blas_local_threads) dl_blas_local_threads(1);
    #ifdef DL_PLACE_THREADS
        /* started away from the caller's CPU (see dl_run_slices); from here
           on the scheduler may move it anywhere the process may run */
        if (r->placed) sched_setaffinity(0, sizeof r->allowed, &r->allowed);
    #endif
        r->rc = r->fn(r->job, r->k);
        return NULL;
    }
    #endif

    /* fn(job, k) for k = 0..n-1, the sum of the results: with parallel, k > 0
       each on a thread of its own (where one cannot be started, on the
       calling thread); otherwise all on the calling thread.
       Linux starts a new thread on its creator's CPU and moves it only at
       the next load balancing, milliseconds later: until then it waits for
       the creator, which is busy with slice 0 (measured: 670 us from
       pthread_create to the thread running). So each thread is created
       with the caller's CPU excluded from its affinity mask (43 us). */
    static int dl_run_slices(dl_slice_fn fn, void* job, int n, int parallel) {
        dl_slice_run runs[64];
    #ifdef DL_HAVE_PTHREADS
        pthread_t threads[64];
        int started[64];
        pthread_attr_t attr;
        int have_attr = 0;
    #endif
        int k, rc = 0, previous = 0, local = parallel && n > 1 && dl_blas_local_threads;
        if (n > 64) n = 64;
    #ifdef _OPENMP
        if (dl_slices_openmp && parallel && n > 1) {
            #pragma omp parallel for num_threads(n) schedule(static, 1) reduction(+:rc)
            for (k = 0; k < n; k++) rc += fn(job, k);
            return rc;
        }
    #endif
        for (k = 0; k < n; k++) {
            runs[k].fn = fn; runs[k].job = job; runs[k].k = k; runs[k].rc = 0;
    #ifdef DL_PLACE_THREADS
            runs[k].placed = 0;
    #endif
        }
    #ifdef DL_HAVE_PTHREADS
        if (parallel && n > 1) {
            have_attr = pthread_attr_init(&attr) == 0;
    #ifdef DL_PLACE_THREADS
            if (have_attr) {
                cpu_set_t others;
                int cpu = sched_getcpu();
                if (cpu >= 0 && sched_getaffinity(0, sizeof others, &others) == 0) {
                    for (k = 1; k < n; k++) runs[k].allowed = others;
                    CPU_CLR(cpu, &others);
                    if (CPU_COUNT(&others) > 0 && pthread_attr_setaffinity_np(&attr, sizeof others, &others) == 0)
                        for (k = 1; k < n; k++) runs[k].placed = 1;
                }
            }
    #endif
        }
        for (k = 1; k < n; k++)
            started[k] = parallel && pthread_create(&threads[k], have_attr ? &attr : NULL, dl_slice_main,
                                                    &runs[k]) == 0;
        if (have_attr) pthread_attr_destroy(&attr);
    #endif
        if (local) previous = dl_blas_local_threads(1);
        runs[0].rc = fn(job, 0);
        for (k = 1; k < n; k++) {
    #ifdef DL_HAVE_PTHREADS
            if (started[k]) {
                pthread_join(threads[k], NULL);
                rc += runs[k].rc;
                continue;
            }
    #endif
            rc += fn(job, k);
        }
        if (local) dl_blas_local_threads(previous);
        return rc + runs[0].rc;
    }
    """
    ctypedef int (*dl_slice_fn)(void* job, int k) noexcept nogil
    int dl_run_slices(dl_slice_fn fn, void* job, int n, int parallel) noexcept nogil
    void dl_set_blas_local_threads(size_t address) noexcept nogil
    void dl_set_slices_openmp(int on) noexcept nogil


def _use_local_threads(size_t address=0):
    """The BLAS's per-thread thread-count setter (0: none), which the slice
    threads call to run their products on themselves; with one, the slices
    run as an OpenMP team (MKL's threads) instead of threads of their own."""
    global SLICES_OPENMP
    dl_set_blas_local_threads(address)
    dl_set_slices_openmp(address != 0)
    SLICES_OPENMP = address != 0


cdef enum SliceKind:
    RNN_FWD, RNN_BWD, LSTM_FWD, LSTM_BWD, GRU_FWD, GRU_BWD


cdef struct SliceJob:
    const Seq* s
    void* G        # gates (forward) or their gradient (backward)
    int P, kind
    Parts* parts


cdef int _slice_job(void* ctx, int k) noexcept nogil:
    """Run slice k of a job: rows _slice_start(k).._slice_start(k+1) of the batch."""
    cdef SliceJob* j = <SliceJob*>ctx
    cdef const Seq* s = j.s
    cdef int b0 = _slice_start(s.B, k, j.P), b1 = _slice_start(s.B, k + 1, j.P)
    cdef int nbias = j.parts.nb_ if j.parts != NULL else 0
    cdef double* acc = j.parts.bias + k * nbias if j.parts != NULL else NULL
    if s.dtype == cnp.NPY_FLOAT32:
        if j.kind == RNN_FWD:
            return _rnn_fwd_rows(s, <float*>j.G, b0, b1, True)
        if j.kind == LSTM_FWD:
            return _lstm_fwd_rows(s, <float*>j.G, b0, b1, True)
        if j.kind == GRU_FWD:
            return _gru_fwd_rows(s, <float*>j.G, b0, b1, True)
        if j.kind == RNN_BWD:
            return _rnn_bwd_rows(s, <float*>j.G, b0, b1, True, _part_w(j.parts, s, k, <float*>NULL),
                                 _part_r(j.parts, s, k, <float*>NULL), acc)
        if j.kind == LSTM_BWD:
            return _lstm_bwd_rows(s, <float*>j.G, b0, b1, True, _part_w(j.parts, s, k, <float*>NULL),
                                  _part_r(j.parts, s, k, <float*>NULL), acc)
        return _gru_bwd_rows(s, <float*>j.G, b0, b1, True, _part_w(j.parts, s, k, <float*>NULL),
                             _part_r(j.parts, s, k, <float*>NULL), acc)
    if j.kind == RNN_FWD:
        return _rnn_fwd_rows(s, <double*>j.G, b0, b1, True)
    if j.kind == LSTM_FWD:
        return _lstm_fwd_rows(s, <double*>j.G, b0, b1, True)
    if j.kind == GRU_FWD:
        return _gru_fwd_rows(s, <double*>j.G, b0, b1, True)
    if j.kind == RNN_BWD:
        return _rnn_bwd_rows(s, <double*>j.G, b0, b1, True, _part_w(j.parts, s, k, <double*>NULL),
                             _part_r(j.parts, s, k, <double*>NULL), acc)
    if j.kind == LSTM_BWD:
        return _lstm_bwd_rows(s, <double*>j.G, b0, b1, True, _part_w(j.parts, s, k, <double*>NULL),
                              _part_r(j.parts, s, k, <double*>NULL), acc)
    return _gru_bwd_rows(s, <double*>j.G, b0, b1, True, _part_w(j.parts, s, k, <double*>NULL),
                         _part_r(j.parts, s, k, <double*>NULL), acc)


cdef int _run_slices(const Seq* s, void* G, int P, int kind, Parts* parts) noexcept nogil:
    """Run a forward (parts NULL) or backward job in P batch slices, in
    parallel unless s.serial_slices."""
    cdef SliceJob job
    job.s, job.G, job.P, job.kind, job.parts = s, G, P, kind, parts
    return dl_run_slices(_slice_job, &job, P, not s.serial_slices)
