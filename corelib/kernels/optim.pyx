"""Optimizer kernels: one fused, in-place update of a parameter and its state.

param and the state arrays are C-contiguous, writeable, of one shape and
dtype; grad has the same shape and dtype and may be strided. Scalars are
Python floats that the Python optimizer computes (bias corrections,
schedules). Every update is elementwise, so results do not depend on the
thread count.
"""

from cython cimport floating
from cython.parallel cimport prange

include "_common.pxi"
include "_fmath.pxi"
include "_optim_args.pxi"

__all__ = ["sgd", "adam", "rmsprop", "adagrad", "nadam"]


# ---------------------------------------------------------------- chunk kernels


cdef void _sgd_chunk(floating[::1] p, const floating[::1] g, floating[::1] vel, bint has_v,
                     floating lr, floating mom, bint nesterov,
                     Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating v
    if not has_v:
        for i in range(lo, hi):
            p[i] -= lr * g[i]
    elif nesterov:
        for i in range(lo, hi):
            v = mom * vel[i] - lr * g[i]
            vel[i] = v
            p[i] += mom * v - lr * g[i]
    else:
        for i in range(lo, hi):
            v = mom * vel[i] - lr * g[i]
            vel[i] = v
            p[i] += v


cdef void _adam_chunk(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] v,
                      floating[::1] vhat, bint amsgrad, floating lr_t, floating b1,
                      floating one_b1, floating b2, floating one_b2, floating eps,
                      floating decay, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, mi, vi, pi, zero = 0
    for i in range(lo, hi):  # the loop-invariant ifs are unswitched by the compiler
        pi = p[i]
        if decay != zero:
            pi = pi - decay * pi
        gi = g[i]
        mi = b1 * m[i] + one_b1 * gi
        vi = b2 * v[i] + one_b2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        if amsgrad:
            vi = f_max(vhat[i], vi)
            vhat[i] = vi
        p[i] = pi - lr_t * mi / (f_sqrt(vi) + eps)


cdef void _rmsprop_chunk(floating[::1] p, const floating[::1] g, floating[::1] vel,
                         floating[::1] mom_buf, bint has_mom, floating[::1] avg, bint centered,
                         floating lr, floating rho, floating one_rho, floating mom,
                         floating eps, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, vi, ai, denom, incr
    for i in range(lo, hi):
        gi = g[i]
        vi = rho * vel[i] + one_rho * (gi * gi)
        vel[i] = vi
        if centered:
            ai = rho * avg[i] + one_rho * gi
            avg[i] = ai
            denom = vi - ai * ai + eps
        else:
            denom = vi + eps
        incr = lr * gi / f_sqrt(denom)
        if has_mom:
            incr = mom * mom_buf[i] + incr
            mom_buf[i] = incr
        p[i] -= incr


cdef void _adagrad_chunk(floating[::1] p, const floating[::1] g, floating[::1] acc,
                         floating lr, floating eps, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, a
    for i in range(lo, hi):
        gi = g[i]
        a = acc[i] + gi * gi
        acc[i] = a
        p[i] -= lr * gi / f_sqrt(a + eps)


cdef void _nadam_chunk(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] v,
                       floating lr, floating b1, floating one_b1, floating b2, floating one_b2,
                       floating eps, floating c_m, floating c_g, floating v_scale,
                       Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, mi, vi
    for i in range(lo, hi):
        gi = g[i]
        mi = b1 * m[i] + one_b1 * gi
        vi = b2 * v[i] + one_b2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        p[i] -= lr * (c_m * mi + c_g * gi) / (f_sqrt(vi * v_scale) + eps)


# ---------------------------------------------------------------- drivers
# Each splits [0, n) into one chunk per thread when the update is large
# enough to pay for a parallel region (see n_threads in _common.pxi).


cdef int _sgd(floating[::1] p, const floating[::1] g, floating[::1] vel, bint has_v,
              double lr, double mom, bint nesterov) except -1:
    cdef Py_ssize_t n = p.shape[0], step, c
    cdef int nt = n_threads(n * (2 if has_v else 1))
    with nogil:
        if nt > 1:
            step = chunk_step(n, nt)
            for c in prange((n + step - 1) // step, num_threads=nt, schedule="static"):
                _sgd_chunk(p, g, vel, has_v, <floating>lr, <floating>mom, nesterov,
                           c * step, min(n, (c + 1) * step))
        else:
            _sgd_chunk(p, g, vel, has_v, <floating>lr, <floating>mom, nesterov, 0, n)
    return 0


cdef int _adam(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] v,
               floating[::1] vhat, bint amsgrad, double lr_t, double b1, double b2,
               double eps, double decay) except -1:
    cdef Py_ssize_t n = p.shape[0], step, c
    cdef int nt = n_threads(n * 6)
    with nogil:
        if nt > 1:
            step = chunk_step(n, nt)
            for c in prange((n + step - 1) // step, num_threads=nt, schedule="static"):
                _adam_chunk(p, g, m, v, vhat, amsgrad, <floating>lr_t, <floating>b1,
                            <floating>(1 - b1), <floating>b2, <floating>(1 - b2),
                            <floating>eps, <floating>decay, c * step, min(n, (c + 1) * step))
        else:
            _adam_chunk(p, g, m, v, vhat, amsgrad, <floating>lr_t, <floating>b1,
                        <floating>(1 - b1), <floating>b2, <floating>(1 - b2),
                        <floating>eps, <floating>decay, 0, n)
    return 0


cdef int _rmsprop(floating[::1] p, const floating[::1] g, floating[::1] vel,
                  floating[::1] mom_buf, bint has_mom, floating[::1] avg, bint centered,
                  double lr, double rho, double mom, double eps) except -1:
    cdef Py_ssize_t n = p.shape[0], step, c
    cdef int nt = n_threads(n * 6)
    with nogil:
        if nt > 1:
            step = chunk_step(n, nt)
            for c in prange((n + step - 1) // step, num_threads=nt, schedule="static"):
                _rmsprop_chunk(p, g, vel, mom_buf, has_mom, avg, centered, <floating>lr,
                               <floating>rho, <floating>(1 - rho), <floating>mom,
                               <floating>eps, c * step, min(n, (c + 1) * step))
        else:
            _rmsprop_chunk(p, g, vel, mom_buf, has_mom, avg, centered, <floating>lr,
                           <floating>rho, <floating>(1 - rho), <floating>mom, <floating>eps, 0, n)
    return 0


cdef int _adagrad(floating[::1] p, const floating[::1] g, floating[::1] acc,
                  double lr, double eps) except -1:
    cdef Py_ssize_t n = p.shape[0], step, c
    cdef int nt = n_threads(n * 6)
    with nogil:
        if nt > 1:
            step = chunk_step(n, nt)
            for c in prange((n + step - 1) // step, num_threads=nt, schedule="static"):
                _adagrad_chunk(p, g, acc, <floating>lr, <floating>eps, c * step,
                               min(n, (c + 1) * step))
        else:
            _adagrad_chunk(p, g, acc, <floating>lr, <floating>eps, 0, n)
    return 0


cdef int _nadam(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] v,
                double lr, double b1, double b2, double eps, double c_m, double c_g,
                double v_scale) except -1:
    cdef Py_ssize_t n = p.shape[0], step, c
    cdef int nt = n_threads(n * 6)
    with nogil:
        if nt > 1:
            step = chunk_step(n, nt)
            for c in prange((n + step - 1) // step, num_threads=nt, schedule="static"):
                _nadam_chunk(p, g, m, v, <floating>lr, <floating>b1, <floating>(1 - b1),
                             <floating>b2, <floating>(1 - b2), <floating>eps, <floating>c_m,
                             <floating>c_g, <floating>v_scale, c * step, min(n, (c + 1) * step))
        else:
            _nadam_chunk(p, g, m, v, <floating>lr, <floating>b1, <floating>(1 - b1),
                         <floating>b2, <floating>(1 - b2), <floating>eps, <floating>c_m,
                         <floating>c_g, <floating>v_scale, 0, n)
    return 0


# ---------------------------------------------------------------- Python API


def sgd(param, grad, velocity, lr, momentum, nesterov):
    """SGD step (Keras): with velocity, v = momentum * v - lr * g and
    p += v (nesterov: p += momentum * v - lr * g); without, p -= lr * g.

    Args:
        param: parameter array, updated in place.
        grad: its gradient (may be strided).
        velocity: momentum buffer, updated in place, or None (momentum 0).
        lr, momentum: floats. nesterov: bool.
    """
    a, f32 = prepare_update("sgd", param, grad, (("velocity", velocity, False),))
    if f32:
        _sgd[float](a[0], a[1], a[2], velocity is not None, lr, momentum, nesterov)
    else:
        _sgd[double](a[0], a[1], a[2], velocity is not None, lr, momentum, nesterov)


def adam(param, grad, m, v, vhat, lr_t, beta1, beta2, epsilon, decay):
    """Adam / AdamW step: p -= decay * p; m = b1 m + (1 - b1) g;
    v = b2 v + (1 - b2) g**2; with vhat (amsgrad) vhat = max(vhat, v) is used
    for v; p -= lr_t * m / (sqrt(v) + epsilon).

    Args:
        param, grad: as in `sgd`. m, v: moment buffers. vhat: amsgrad buffer or None.
        lr_t: lr * sqrt(1 - beta2**t) / (1 - beta1**t). beta1, beta2, epsilon: floats.
        decay: lr * weight_decay (0 for Adam).
    """
    a, f32 = prepare_update("adam", param, grad,
                      (("m", m, True), ("v", v, True), ("vhat", vhat, False)))
    if f32:
        _adam[float](a[0], a[1], a[2], a[3], a[4], vhat is not None, lr_t, beta1, beta2,
                     epsilon, decay)
    else:
        _adam[double](a[0], a[1], a[2], a[3], a[4], vhat is not None, lr_t, beta1, beta2,
                      epsilon, decay)


def rmsprop(param, grad, velocity, momentum_buffer, average_grad, lr, rho, momentum, epsilon):
    """RMSprop step (Keras 3): velocity = rho velocity + (1 - rho) g**2;
    centered (average_grad given): average_grad = rho ag + (1 - rho) g and
    denom = velocity - ag**2 + epsilon, else denom = velocity + epsilon;
    incr = lr g / sqrt(denom); with momentum_buffer: buf = momentum buf + incr,
    p -= buf; else p -= incr.

    Args:
        param, grad: as in `sgd`. velocity: buffer. momentum_buffer, average_grad:
        buffers or None. lr, rho, momentum, epsilon: floats.
    """
    a, f32 = prepare_update("rmsprop", param, grad, (("velocity", velocity, True),
                                               ("momentum_buffer", momentum_buffer, False),
                                               ("average_grad", average_grad, False)))
    if f32:
        _rmsprop[float](a[0], a[1], a[2], a[3], momentum_buffer is not None, a[4],
                        average_grad is not None, lr, rho, momentum, epsilon)
    else:
        _rmsprop[double](a[0], a[1], a[2], a[3], momentum_buffer is not None, a[4],
                         average_grad is not None, lr, rho, momentum, epsilon)


def adagrad(param, grad, accumulator, lr, epsilon):
    """Adagrad step: acc += g**2; p -= lr g / sqrt(acc + epsilon).

    Args:
        param, grad: as in `sgd`. accumulator: buffer. lr, epsilon: floats.
    """
    a, f32 = prepare_update("adagrad", param, grad, (("accumulator", accumulator, True),))
    if f32:
        _adagrad[float](a[0], a[1], a[2], lr, epsilon)
    else:
        _adagrad[double](a[0], a[1], a[2], lr, epsilon)


def nadam(param, grad, m, v, lr, beta1, beta2, epsilon, c_m, c_g, v_scale):
    """Nadam step (Keras 3): m, v as in Adam; m_hat = c_m m + c_g g;
    v_hat = v v_scale; p -= lr m_hat / (sqrt(v_hat) + epsilon).

    Args:
        param, grad: as in `sgd`. m, v: buffers. lr, beta1, beta2, epsilon: floats.
        c_m, c_g, v_scale: the momentum-schedule and bias-correction factors.
    """
    a, f32 = prepare_update("nadam", param, grad, (("m", m, True), ("v", v, True)))
    if f32:
        _nadam[float](a[0], a[1], a[2], a[3], lr, beta1, beta2, epsilon, c_m, c_g, v_scale)
    else:
        _nadam[double](a[0], a[1], a[2], a[3], lr, beta1, beta2, epsilon, c_m, c_g, v_scale)
