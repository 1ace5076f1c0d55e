# The matrix product every kernel module uses, textually included by dense,
# conv and recurrent. It calls BLAS through two function pointers, which start
# at SciPy's OpenBLAS (scipy.linalg.cython_blas) and which `corelib.kernels.blas`
# points at another library's Fortran-interface sgemm/dgemm (Intel MKL when it
# is installed: see docs/benchmarks.md, "Choosing the BLAS") in every module at
# once through `_use_gemm`. Both pointers take the LP64 Fortran signature,
# which SciPy's and MKL's LP64 interface share.

from scipy.linalg.cython_blas cimport dgemm as _scipy_dgemm, sgemm as _scipy_sgemm

ctypedef void (*_sgemm_t)(char*, char*, int*, int*, int*, float*, float*, int*, float*, int*,
                          float*, float*, int*) noexcept nogil
ctypedef void (*_dgemm_t)(char*, char*, int*, int*, int*, double*, double*, int*, double*, int*,
                          double*, double*, int*) noexcept nogil

cdef _sgemm_t _SGEMM = _scipy_sgemm
cdef _dgemm_t _DGEMM = _scipy_dgemm


def _use_gemm(size_t sgemm_address=0, size_t dgemm_address=0):
    """Point this module's gemm at the functions at these addresses (both or
    neither; 0, 0: back to SciPy's OpenBLAS)."""
    global _SGEMM, _DGEMM
    if (sgemm_address == 0) != (dgemm_address == 0):
        raise ValueError("_use_gemm: give both addresses or neither")
    if sgemm_address == 0:
        _SGEMM, _DGEMM = _scipy_sgemm, _scipy_dgemm
    else:
        _SGEMM, _DGEMM = <_sgemm_t>sgemm_address, <_dgemm_t>dgemm_address


def _initial_gemm():
    """Point this module at the BLAS `corelib.kernels.blas` chose (DL_BLAS)
    as it is imported; returns the per-thread thread setter's address."""
    from corelib.kernels import blas

    sgemm, dgemm, local = blas._initial_addresses()
    _use_gemm(sgemm, dgemm)
    return local


_LOCAL_THREADS = _initial_gemm()


cdef void _gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                const floating* a, int lda, const floating* b, int ldb, floating beta,
                floating* c, int ldc, bint openblas=False) noexcept nogil:
    """Row-major C(m, n) = alpha * op(A)(m, k) @ op(B)(k, n) + beta * C.

    A is stored row-major as (m, k) with leading dimension lda, or as (k, m)
    when trans_a; likewise B. Column-major BLAS sees C^T = op(B)^T @ op(A)^T,
    so the operands are handed over swapped, with no copies. `openblas` runs
    it on SciPy's OpenBLAS whatever the choice: the recurrent kernels' small
    per-slice products, for which OpenBLAS has unpacked small-matrix kernels
    (LSTM(128) training step with MKL and two slices, two builds alternated
    twice: 10.6 and 11.5 ms with the sliced products on OpenBLAS, 14.0 and
    12.0 ms on MKL; GRU(128) level, 8.4-8.9 ms).
    """
    cdef char ta = b"T" if trans_a else b"N"
    cdef char tb = b"T" if trans_b else b"N"
    if floating is float:
        (_scipy_sgemm if openblas else _SGEMM)(&tb, &ta, &n, &m, &k, &alpha, <float*>b, &ldb, <float*>a, &lda,
                                               &beta, c, &ldc)
    else:
        (_scipy_dgemm if openblas else _DGEMM)(&tb, &ta, &n, &m, &k, &alpha, <double*>b, &ldb, <double*>a,
                                               &lda, &beta, c, &ldc)


cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static void dl_set_max_threads(int n) { omp_set_num_threads(n); }
    #else
    static void dl_set_max_threads(int n) { (void)n; }
    #endif
    """
    void dl_set_max_threads(int n) noexcept nogil


def _set_omp_threads(int n):
    """The OpenMP thread count of the calling thread and of threads it starts
    (one libgomp for every module: any module's call sets it for all)."""
    if n < 1:
        raise ValueError(f"_set_omp_threads: n must be >= 1. Received: n={n}")
    dl_set_max_threads(n)


def _omp_threads() -> int:
    """The OpenMP thread count a parallel region would get now."""
    return dl_max_threads()
