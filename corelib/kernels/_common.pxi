# Shared helpers for the kernel modules, textually included by each .pyx:
# argument checks for the Python-facing wrappers and the thread-count rule
# for the nogil loops. (An include rather than a cimported module, so the
# checks inline into each wrapper and there is no extra runtime module.)

cimport numpy as cnp
import numpy as np

from corelib.errors import ShapeError

cnp.import_array()

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int dl_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int dl_max_threads(void) { return 1; }
    #endif
    """
    int dl_max_threads() noexcept nogil


cdef enum:
    DEFAULT_SERIAL_WORK = 1 << 30


# Loops run on one thread unless they have at least PAR_WORK units of work
# (elements times a rough per-element cost; see `n_threads`). The default
# depends on the BLAS (`corelib.kernels.blas`). With SciPy's OpenBLAS, whose
# threads are its own pthreads, only enormous loops are threaded: measured on
# the 2-core build box, libgomp's workers spin for milliseconds after a
# parallel region next to OpenBLAS's spinning threads and the two pools starve
# each other (a 784-512-512-10 MLP step took 64 ms with threaded loops from
# 64k elements up, 4 ms with serial ones; the digits CNN 46 vs 17.5 ms at
# 128k). With MKL on its GNU threading layer, MKL's threads *are* libgomp's,
# the loops and the products share one pool, and loops from 128k units up are
# threaded (the CNN step 16.3 -> 11.5 ms). Each module's threshold can be
# changed (`_set_parallel_work`), e.g. for many-core hosts, and tests lower it
# to reach the threaded code paths with small arrays.
cdef Py_ssize_t DEFAULT_PAR_WORK = DEFAULT_SERIAL_WORK
cdef Py_ssize_t PAR_WORK = DEFAULT_SERIAL_WORK


def _set_parallel_work(Py_ssize_t work=-1) -> int:
    """Set this module's threshold for threaded loops (-1: the default for
    the BLAS in use); returns the previous one."""
    global PAR_WORK
    previous = PAR_WORK
    PAR_WORK = DEFAULT_PAR_WORK if work < 0 else work
    return previous


def _set_default_parallel_work(Py_ssize_t work) -> None:
    """The default threshold (`corelib.kernels.blas` sets it per BLAS); a
    module still at its old default follows."""
    global PAR_WORK, DEFAULT_PAR_WORK
    if PAR_WORK == DEFAULT_PAR_WORK:
        PAR_WORK = work
    DEFAULT_PAR_WORK = work


def _initial_parallel_work():
    from corelib.kernels import blas

    _set_default_parallel_work(blas._initial_parallel_work())


_initial_parallel_work()


cdef inline int n_threads(Py_ssize_t work) noexcept nogil:
    """Threads for a loop with `work` units of work: 1 below PAR_WORK (and
    for no work at all, which the chunking arithmetic does not expect)."""
    if work <= 0 or work < PAR_WORK:
        return 1
    return dl_max_threads()


cdef inline str shape_str(cnp.ndarray a):
    return str(tuple([a.shape[i] for i in range(a.ndim)]))


cdef inline cnp.ndarray as_ndarray(object a, str fn, str name):
    """`a` as an ndarray, or TypeError naming the argument."""
    if not cnp.PyArray_Check(a):
        raise TypeError(
            f"{fn}: {name} must be a numpy.ndarray. Received: {name} of type {type(a).__name__}"
        )
    return <cnp.ndarray>a


cdef inline int float_typenum(cnp.ndarray a, str fn, str name) except -1:
    """The type number of `a`, which must be float32 or float64."""
    cdef int t = cnp.PyArray_TYPE(a)
    if t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64:
        raise TypeError(
            f"{fn}: {name} must be float32 or float64. Received: {name}.dtype={a.dtype}"
        )
    return t


cdef inline int check_same_dtype(cnp.ndarray a, int typenum, str fn, str name, str ref) except -1:
    if cnp.PyArray_TYPE(a) != typenum:
        raise TypeError(
            f"{fn}: {name} must have the same dtype as {ref} "
            f"({'float32' if typenum == cnp.NPY_FLOAT32 else 'float64'}). "
            f"Received: {name}.dtype={a.dtype}"
        )
    return 0


cdef inline cnp.ndarray output_array(object a, str fn, str name):
    """`a` checked as an output: float ndarray, C-contiguous, aligned, native, writeable."""
    cdef cnp.ndarray arr = as_ndarray(a, fn, name)
    float_typenum(arr, fn, name)
    if not cnp.PyArray_ISCARRAY(arr):
        if not cnp.PyArray_ISWRITEABLE(arr):
            raise ValueError(f"{fn}: {name} must be writeable. Received: a read-only array")
        if not cnp.PyArray_IS_C_CONTIGUOUS(arr):
            raise ValueError(
                f"{fn}: {name} must be C-contiguous. Received: {name} with "
                f"shape={shape_str(arr)}, strides={(<object>arr).strides}"
            )
        raise ValueError(
            f"{fn}: {name} must be aligned and in native byte order. "
            f"Received: {name}.dtype={arr.dtype}"
        )
    return arr


cdef inline int check_shape(cnp.ndarray a, tuple expected, str fn, str name, str meaning) except -1:
    """ShapeError unless a.shape == expected; `meaning` says where expected comes from."""
    cdef Py_ssize_t i, nd = len(expected)
    cdef bint ok = cnp.PyArray_NDIM(a) == nd
    if ok:
        for i in range(nd):
            if cnp.PyArray_DIM(a, i) != <Py_ssize_t>expected[i]:
                ok = False
                break
    if not ok:
        raise ShapeError(
            f"{fn}: {name} must have shape {expected} {meaning}. "
            f"Received: {name}.shape={shape_str(a)}"
        )
    return 0


cdef inline int check_ndim(cnp.ndarray a, int nd, str fn, str name, str what) except -1:
    if cnp.PyArray_NDIM(a) != nd:
        raise ShapeError(
            f"{fn}: {name} must be {nd}D {what}. Received: {name}.shape={shape_str(a)}"
        )
    return 0


cdef inline void extent(cnp.ndarray a, char** lo, char** hi) noexcept:
    """The byte range [lo, hi) that `a`'s elements occupy."""
    cdef int i
    cdef char* p = cnp.PyArray_BYTES(a)
    cdef char* q = p
    cdef cnp.npy_intp span
    for i in range(cnp.PyArray_NDIM(a)):
        span = (cnp.PyArray_DIM(a, i) - 1) * cnp.PyArray_STRIDE(a, i)
        if span < 0:
            p += span
        else:
            q += span
    lo[0] = p
    hi[0] = q + cnp.PyArray_ITEMSIZE(a)


cdef inline bint overlaps(cnp.ndarray a, cnp.ndarray b) noexcept:
    """Whether the memory of `a` and `b` may overlap (a cheap bounds test)."""
    cdef char *alo
    cdef char *ahi
    cdef char *blo
    cdef char *bhi
    if cnp.PyArray_SIZE(a) == 0 or cnp.PyArray_SIZE(b) == 0:
        return False
    extent(a, &alo, &ahi)
    extent(b, &blo, &bhi)
    return alo < bhi and blo < ahi


cdef inline bint same_view(cnp.ndarray a, cnp.ndarray b) noexcept:
    """Whether `a` and `b` view exactly the same elements in the same layout."""
    cdef int i
    if cnp.PyArray_BYTES(a) != cnp.PyArray_BYTES(b) or cnp.PyArray_NDIM(a) != cnp.PyArray_NDIM(b):
        return False
    for i in range(cnp.PyArray_NDIM(a)):
        if cnp.PyArray_DIM(a, i) != cnp.PyArray_DIM(b, i):
            return False
        if cnp.PyArray_DIM(a, i) > 1 and cnp.PyArray_STRIDE(a, i) != cnp.PyArray_STRIDE(b, i):
            return False
    return True


cdef inline cnp.ndarray contiguous_input(cnp.ndarray a, cnp.ndarray out):
    """`a` ready for a loop that writes `out`: C-contiguous, aligned, native,
    and either disjoint from `out` or exactly `out` (elementwise aliasing is
    safe). Copies only when one of these does not hold."""
    if cnp.PyArray_ISCARRAY_RO(a) and (not overlaps(a, out) or same_view(a, out)):
        return a
    return fresh_copy(a)


cdef inline cnp.ndarray fresh_copy(cnp.ndarray a):
    """A new C-contiguous, aligned, native-order copy of float array `a`."""
    return np.array(a, dtype=np.float32 if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32 else np.float64,
                    order="C", copy=True)


cdef inline int check_same_shape(cnp.ndarray a, cnp.ndarray ref, str fn, str name,
                                 str refname) except -1:
    """ShapeError unless `a` has exactly the shape of `ref`."""
    cdef int i
    cdef bint ok = cnp.PyArray_NDIM(a) == cnp.PyArray_NDIM(ref)
    if ok:
        for i in range(cnp.PyArray_NDIM(a)):
            if cnp.PyArray_DIM(a, i) != cnp.PyArray_DIM(ref, i):
                ok = False
                break
    if not ok:
        raise ShapeError(
            f"{fn}: {name} must have the same shape as {refname}. "
            f"Received: {name}.shape={shape_str(a)}, {refname}.shape={shape_str(ref)}"
        )
    return 0


cdef inline cnp.ndarray same_input(object a, cnp.ndarray out, str fn, str name, str outname):
    """Input `a` checked to match `out` in dtype and shape, made ready for an
    elementwise loop writing `out` (see contiguous_input)."""
    cdef cnp.ndarray arr = as_ndarray(a, fn, name)
    check_same_dtype(arr, cnp.PyArray_TYPE(out), fn, name, outname)
    check_same_shape(arr, out, fn, name, outname)
    return contiguous_input(arr, out)


cdef inline object flat(cnp.ndarray a):
    """A 1D view of C-contiguous `a`."""
    return cnp.PyArray_Ravel(a, cnp.NPY_CORDER)


cdef inline Py_ssize_t chunk_step(Py_ssize_t n, int nt) noexcept nogil:
    """Length of each of nt chunks of n elements, rounded up to 16 elements
    so threads do not write the same cache line."""
    return ((n + nt - 1) // nt + 15) & ~(<Py_ssize_t>15)
