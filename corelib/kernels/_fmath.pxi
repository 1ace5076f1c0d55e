# libm for the `floating` fused type: the float32 kernels call the float
# functions (expf, ...), so float32 math stays in single precision.
#
# Where setup.py found glibc's libmvec (DL_USE_MVEC), the functions are
# redeclared with GCC's simd attribute so that -O3 vectorizes loops calling
# them (SSE entry points that dispatch to AVX2/AVX-512 at run time; a few ulp,
# well inside float32 tolerance). Loops stay vectorizable only when the call
# is unconditional, which is why the kernels compute e.g. exp(min(x, 0)) and
# select afterwards instead of branching around the call.

from libc.math cimport (erf, erff, exp, expf, expm1, expm1f, fabs, fabsf, log, log1p,
                        log1pf, logf, sqrt, sqrtf, tanh, tanhf)

cdef extern from *:
    """
    #if defined(DL_USE_MVEC) && defined(__GNUC__) && defined(__x86_64__)
    #define DL_SIMD __attribute__((__simd__("notinbranch")))
    extern float expf(float) DL_SIMD;
    extern float expm1f(float) DL_SIMD;
    extern float logf(float) DL_SIMD;
    extern float log1pf(float) DL_SIMD;
    extern float tanhf(float) DL_SIMD;
    extern float erff(float) DL_SIMD;
    extern double exp(double) DL_SIMD;
    extern double expm1(double) DL_SIMD;
    extern double log(double) DL_SIMD;
    extern double log1p(double) DL_SIMD;
    extern double tanh(double) DL_SIMD;
    extern double erf(double) DL_SIMD;
    #endif
    """


cdef inline floating f_exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating f_expm1(floating x) noexcept nogil:
    if floating is float:
        return expm1f(x)
    else:
        return expm1(x)


cdef inline floating f_log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating f_log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating f_tanh(floating x) noexcept nogil:
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)


cdef inline floating f_erf(floating x) noexcept nogil:
    if floating is float:
        return erff(x)
    else:
        return erf(x)


cdef inline floating f_sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline floating f_abs(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)


cdef inline floating f_min(floating a, floating b) noexcept nogil:
    """min(a, b); a NaN `a` comes back as is."""
    return b if b < a else a


cdef inline floating f_max(floating a, floating b) noexcept nogil:
    """max(a, b); a NaN `a` comes back as is."""
    return b if b > a else a


cdef inline floating f_sigmoid(floating x) noexcept nogil:
    """1 / (1 + exp(-x)) without overflow for large |x| (branch-free)."""
    cdef floating one = 1, zero = 0
    cdef floating e = f_exp(-f_abs(x))
    cdef floating s = one / (one + e)
    return s if x >= zero else e * s


# Row reductions with four interleaved partial results: a single running sum
# is bound by the add latency; four in a fixed order are ~4x faster and still
# give the same bits on every call (no dependence on threads or alignment).

cdef inline floating row_max(const floating[:, ::1] z, Py_ssize_t r) noexcept nogil:
    """max(z[r, :]) of a row with at least one element (NaNs are skipped)."""
    cdef Py_ssize_t j, d = z.shape[1], d4 = d - d % 4
    cdef floating m0 = z[r, 0], m1 = m0, m2 = m0, m3 = m0
    for j in range(0, d4, 4):
        m0 = f_max(m0, z[r, j])
        m1 = f_max(m1, z[r, j + 1])
        m2 = f_max(m2, z[r, j + 2])
        m3 = f_max(m3, z[r, j + 3])
    for j in range(d4, d):
        m0 = f_max(m0, z[r, j])
    return f_max(f_max(m0, m1), f_max(m2, m3))


cdef inline double row_sum(const floating[:, ::1] z, Py_ssize_t r) noexcept nogil:
    """sum(z[r, :]) in double."""
    cdef Py_ssize_t j, d = z.shape[1], d4 = d - d % 4
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    for j in range(0, d4, 4):
        s0 += z[r, j]
        s1 += z[r, j + 1]
        s2 += z[r, j + 2]
        s3 += z[r, j + 3]
    for j in range(d4, d):
        s0 += z[r, j]
    return (s0 + s1) + (s2 + s3)


cdef inline double row_dot(const floating[:, ::1] a, const floating[:, ::1] b,
                           Py_ssize_t r) noexcept nogil:
    """sum(a[r, :] * b[r, :]) in double."""
    cdef Py_ssize_t j, d = a.shape[1], d4 = d - d % 4
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    for j in range(0, d4, 4):
        s0 += <double>a[r, j] * b[r, j]
        s1 += <double>a[r, j + 1] * b[r, j + 1]
        s2 += <double>a[r, j + 2] * b[r, j + 2]
        s3 += <double>a[r, j + 3] * b[r, j + 3]
    for j in range(d4, d):
        s0 += <double>a[r, j] * b[r, j]
    return (s0 + s1) + (s2 + s3)
