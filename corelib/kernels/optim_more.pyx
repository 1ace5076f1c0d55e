"""More optimizer kernels (Keras 3's Adamax, Adadelta, Lion, Ftrl): one fused,
in-place update of a parameter and its state.

The conventions of corelib.kernels.optim: param and the state arrays are
C-contiguous, writeable, of one shape and dtype; grad has the same shape and
dtype and may be strided; scalars are Python floats the optimizer computes
(bias corrections, schedules). Every update is elementwise, so results do not
depend on the thread count.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport pow, powf

include "_common.pxi"
include "_fmath.pxi"
include "_optim_args.pxi"

__all__ = ["adamax", "adadelta", "lion", "ftrl"]


cdef inline floating f_pow(floating x, floating y) noexcept nogil:
    if floating is float:
        return powf(x, y)
    else:
        return pow(x, y)


# ---------------------------------------------------------------- chunk kernels


cdef void _adamax_chunk(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] u,
                        floating lr_t, floating one_b1, floating b2, floating eps,
                        Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, mi, ui
    for i in range(lo, hi):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * one_b1
        ui = f_max(b2 * u[i], f_abs(gi))
        m[i] = mi
        u[i] = ui
        p[i] -= lr_t * mi / (ui + eps)


cdef void _adadelta_chunk(floating[::1] p, const floating[::1] g, floating[::1] acc_g,
                          floating[::1] acc_d, floating lr, floating rho, floating one_rho,
                          floating eps, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, ag, delta
    for i in range(lo, hi):
        gi = g[i]
        ag = rho * acc_g[i] + one_rho * (gi * gi)
        acc_g[i] = ag
        delta = -f_sqrt(acc_d[i] + eps) * gi / f_sqrt(ag + eps)
        acc_d[i] = rho * acc_d[i] + one_rho * (delta * delta)
        p[i] += lr * delta


cdef void _lion_chunk(floating[::1] p, const floating[::1] g, floating[::1] m, floating lr,
                      floating one_b1, floating b2, floating one_b2,
                      Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, mi, c, zero = 0
    for i in range(lo, hi):
        gi = g[i]
        mi = m[i]
        c = mi + (gi - mi) * one_b1
        # sign(c), 0 at 0, without a branch
        p[i] -= lr * (<floating>(c > zero) - <floating>(c < zero))
        m[i] = mi * b2 + gi * one_b2


cdef void _ftrl_chunk(floating[::1] p, const floating[::1] g, floating[::1] acc,
                      floating[::1] lin, floating lr, floating power, bint sqrt_power,
                      floating l1, floating two_l2, floating two_shrink,
                      Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, pi, a_old, a_new, s_old, s_new, li, quad, clipped
    for i in range(lo, hi):
        gi = g[i]
        pi = p[i]
        a_old = acc[i]
        a_new = a_old + gi * gi
        if sqrt_power:  # learning_rate_power = -0.5, the default
            s_old = f_sqrt(a_old)
            s_new = f_sqrt(a_new)
        else:
            s_old = f_pow(a_old, power)
            s_new = f_pow(a_new, power)
        li = lin[i] + (gi + two_shrink * pi) - (s_new - s_old) / lr * pi
        lin[i] = li
        quad = s_new / lr + two_l2
        clipped = f_min(f_max(li, -l1), l1)
        p[i] = (clipped - li) / quad
        acc[i] = a_new


# ---------------------------------------------------------------- drivers
# Each splits [0, n) into one chunk per thread when the update is large
# enough to pay for a parallel region (see n_threads in _common.pxi).


cdef int _adamax(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] u,
                 double lr_t, double b1, double b2, double eps) except -1:
    cdef Py_ssize_t n = p.shape[0], step, c
    cdef int nt = n_threads(n * 6)
    with nogil:
        if nt > 1:
            step = chunk_step(n, nt)
            for c in prange((n + step - 1) // step, num_threads=nt, schedule="static"):
                _adamax_chunk(p, g, m, u, <floating>lr_t, <floating>(1 - b1), <floating>b2,
                              <floating>eps, c * step, min(n, (c + 1) * step))
        else:
            _adamax_chunk(p, g, m, u, <floating>lr_t, <floating>(1 - b1), <floating>b2,
                          <floating>eps, 0, n)
    return 0


cdef int _adadelta(floating[::1] p, const floating[::1] g, floating[::1] acc_g,
                   floating[::1] acc_d, double lr, double rho, double eps) except -1:
    cdef Py_ssize_t n = p.shape[0], step, c
    cdef int nt = n_threads(n * 8)
    with nogil:
        if nt > 1:
            step = chunk_step(n, nt)
            for c in prange((n + step - 1) // step, num_threads=nt, schedule="static"):
                _adadelta_chunk(p, g, acc_g, acc_d, <floating>lr, <floating>rho,
                                <floating>(1 - rho), <floating>eps, c * step,
                                min(n, (c + 1) * step))
        else:
            _adadelta_chunk(p, g, acc_g, acc_d, <floating>lr, <floating>rho,
                            <floating>(1 - rho), <floating>eps, 0, n)
    return 0


cdef int _lion(floating[::1] p, const floating[::1] g, floating[::1] m, double lr,
               double b1, double b2) except -1:
    cdef Py_ssize_t n = p.shape[0], step, c
    cdef int nt = n_threads(n * 4)
    with nogil:
        if nt > 1:
            step = chunk_step(n, nt)
            for c in prange((n + step - 1) // step, num_threads=nt, schedule="static"):
                _lion_chunk(p, g, m, <floating>lr, <floating>(1 - b1), <floating>b2,
                            <floating>(1 - b2), c * step, min(n, (c + 1) * step))
        else:
            _lion_chunk(p, g, m, <floating>lr, <floating>(1 - b1), <floating>b2,
                        <floating>(1 - b2), 0, n)
    return 0


cdef int _ftrl(floating[::1] p, const floating[::1] g, floating[::1] acc, floating[::1] lin,
               double lr, double lr_power, double l1, double l2, double shrink) except -1:
    cdef Py_ssize_t n = p.shape[0], step, c
    cdef bint sqrt_power = lr_power == -0.5
    cdef int nt = n_threads(n * (10 if sqrt_power else 40))
    with nogil:
        if nt > 1:
            step = chunk_step(n, nt)
            for c in prange((n + step - 1) // step, num_threads=nt, schedule="static"):
                _ftrl_chunk(p, g, acc, lin, <floating>lr, <floating>(-lr_power), sqrt_power,
                            <floating>l1, <floating>(2 * l2), <floating>(2 * shrink),
                            c * step, min(n, (c + 1) * step))
        else:
            _ftrl_chunk(p, g, acc, lin, <floating>lr, <floating>(-lr_power), sqrt_power,
                        <floating>l1, <floating>(2 * l2), <floating>(2 * shrink), 0, n)
    return 0


# ---------------------------------------------------------------- Python API


def adamax(param, grad, m, u, lr_t, beta1, beta2, epsilon):
    """Adamax step (Keras 3): m += (g - m) (1 - beta1); u = max(beta2 u, |g|);
    p -= lr_t m / (u + epsilon).

    Args:
        param: parameter array, updated in place.
        grad: its gradient (may be strided).
        m, u: first moment and exponentially weighted infinity norm, updated in place.
        lr_t: lr / (1 - beta1**t). beta1, beta2, epsilon: floats.
    """
    a, f32 = prepare_update("adamax", param, grad, (("m", m, True), ("u", u, True)))
    if f32:
        _adamax[float](a[0], a[1], a[2], a[3], lr_t, beta1, beta2, epsilon)
    else:
        _adamax[double](a[0], a[1], a[2], a[3], lr_t, beta1, beta2, epsilon)


def adadelta(param, grad, accumulated_grad, accumulated_delta, lr, rho, epsilon):
    """Adadelta step (Keras 3): ag = rho ag + (1 - rho) g**2;
    delta = -sqrt(ad + epsilon) g / sqrt(ag + epsilon);
    ad = rho ad + (1 - rho) delta**2; p += lr delta.

    Args:
        param, grad: as in `adamax`. accumulated_grad, accumulated_delta: buffers.
        lr, rho, epsilon: floats.
    """
    a, f32 = prepare_update("adadelta", param, grad, (("accumulated_grad", accumulated_grad, True),
                                                      ("accumulated_delta", accumulated_delta, True)))
    if f32:
        _adadelta[float](a[0], a[1], a[2], a[3], lr, rho, epsilon)
    else:
        _adadelta[double](a[0], a[1], a[2], a[3], lr, rho, epsilon)


def lion(param, grad, m, lr, beta1, beta2):
    """Lion step (Keras 3): p -= lr sign(m + (g - m) (1 - beta1));
    then m = beta2 m + (1 - beta2) g.

    Args:
        param, grad: as in `adamax`. m: momentum buffer. lr, beta1, beta2: floats.
    """
    a, f32 = prepare_update("lion", param, grad, (("m", m, True),))
    if f32:
        _lion[float](a[0], a[1], a[2], lr, beta1, beta2)
    else:
        _lion[double](a[0], a[1], a[2], lr, beta1, beta2)


def ftrl(param, grad, accumulator, linear, lr, lr_power, l1, l2, l2_shrinkage):
    """FTRL-Proximal step (Keras 3):
    n = acc + g**2; linear += g + 2 l2_shrinkage p - (n**-lr_power - acc**-lr_power) / lr * p;
    p = (clip(linear, -l1, l1) - linear) / (n**-lr_power / lr + 2 l2); acc = n.

    Args:
        param, grad: as in `adamax`. accumulator, linear: buffers.
        lr: the learning rate (> 0). lr_power: <= 0 (-0.5 takes square roots).
        l1: l1_regularization_strength. l2: l2_regularization_strength plus
        beta / (2 lr). l2_shrinkage: l2_shrinkage_regularization_strength.
    """
    a, f32 = prepare_update("ftrl", param, grad, (("accumulator", accumulator, True),
                                                  ("linear", linear, True)))
    if f32:
        _ftrl[float](a[0], a[1], a[2], a[3], lr, lr_power, l1, l2, l2_shrinkage)
    else:
        _ftrl[double](a[0], a[1], a[2], a[3], lr, lr_power, l1, l2, l2_shrinkage)
