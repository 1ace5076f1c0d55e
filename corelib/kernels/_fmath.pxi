# libm for the `floating` fused type: the float32 kernels call the float
# functions (expf, ...), so float32 math stays in single precision.

from libc.math cimport (erf, erff, exp, expf, expm1, expm1f, fabs, fabsf, log, log1p,
                        log1pf, logf, sqrt, sqrtf, tanh, tanhf)


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


cdef inline floating f_sigmoid(floating x) noexcept nogil:
    """1 / (1 + exp(-x)) without overflow for large |x|."""
    cdef floating e
    if x >= 0:
        return 1 / (1 + f_exp(-x))
    e = f_exp(x)
    return e / (1 + e)
