"""corelib.kernels.optim against NumPy transcriptions of the formulas and torch.optim."""

import numpy as np
import pytest

from corelib.errors import ShapeError
from corelib.kernels import optim

from ._helpers import DTYPES, assert_close, layout

STEPS = 4


# NumPy transcriptions of the update formulas in the kernel API (CONTEXT.md),
# evaluated in the parameter's dtype, as the kernels do.

def np_sgd(p, g, v, lr, momentum, nesterov):
    if v is None:
        p -= lr * g
        return
    v[...] = momentum * v - lr * g
    p += momentum * v - lr * g if nesterov else v


def np_adam(p, g, m, v, vhat, lr_t, b1, b2, eps, decay):
    p -= decay * p
    m[...] = b1 * m + (1 - b1) * g
    v[...] = b2 * v + (1 - b2) * g * g
    if vhat is not None:
        vhat[...] = np.maximum(vhat, v)
    p -= lr_t * m / (np.sqrt(vhat if vhat is not None else v) + eps)


def np_rmsprop(p, g, vel, mom, avg, lr, rho, momentum, eps):
    vel[...] = rho * vel + (1 - rho) * g * g
    if avg is not None:
        avg[...] = rho * avg + (1 - rho) * g
        denom = vel - avg * avg + eps
    else:
        denom = vel + eps
    incr = lr * g / np.sqrt(denom)
    if mom is not None:
        mom[...] = momentum * mom + incr
        p -= mom
    else:
        p -= incr


def np_adagrad(p, g, acc, lr, eps):
    acc += g * g
    p -= lr * g / np.sqrt(acc + eps)


def np_nadam(p, g, m, v, lr, b1, b2, eps, c_m, c_g, v_scale):
    m[...] = b1 * m + (1 - b1) * g
    v[...] = b2 * v + (1 - b2) * g * g
    p -= lr * (c_m * m + c_g * g) / (np.sqrt(v * v_scale) + eps)


def _nadam_factors(t, b1, b2, decay=0.004):
    """(c_m, c_g, v_scale) of Keras 3 / torch Nadam at step t (1-based)."""
    mu = [b1 * (1 - 0.5 * 0.96 ** (s * decay)) for s in range(1, t + 2)]
    prod_t = np.prod(mu[:t])
    return mu[t] / (1 - prod_t * mu[t]), (1 - mu[t - 1]) / (1 - prod_t), 1 / (1 - b2**t)


def _case(name, variant, t, shape):
    """(kernel, reference, state names, scalar args) of one optimizer variant at step t."""
    if name == "sgd":
        mom = {"plain": 0.0, "momentum": 0.9, "nesterov": 0.9}[variant]
        states = ("velocity",) if variant != "plain" else (None,)
        return optim.sgd, np_sgd, states, (0.05, mom, variant == "nesterov")
    if name == "adam":
        lr_t = 0.01 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        decay = 0.01 * 0.1 if variant == "adamw" else 0.0
        states = ("m", "v", "vhat" if variant == "amsgrad" else None)
        return optim.adam, np_adam, states, (lr_t, 0.9, 0.999, 1e-7, decay)
    if name == "rmsprop":
        states = ("velocity", "mom" if variant in ("momentum", "both") else None,
                  "avg" if variant in ("centered", "both") else None)
        return optim.rmsprop, np_rmsprop, states, (0.01, 0.9, 0.5, 1e-7)
    if name == "adagrad":
        return optim.adagrad, np_adagrad, ("acc",), (0.1, 1e-7)
    return optim.nadam, np_nadam, ("m", "v"), (0.01, 0.9, 0.999, 1e-7, *_nadam_factors(t, 0.9, 0.999))


CASES = [("sgd", "plain"), ("sgd", "momentum"), ("sgd", "nesterov"), ("adam", "adam"),
         ("adam", "adamw"), ("adam", "amsgrad"), ("rmsprop", "plain"), ("rmsprop", "momentum"),
         ("rmsprop", "centered"), ("rmsprop", "both"), ("adagrad", "adagrad"), ("nadam", "nadam")]


def _run(name, variant, shape, dtype, grad_layout="c", seed=0):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(shape).astype(dtype)
    p_ref = p.copy()
    states = {s: np.full(shape, 0.1 if s == "acc" else 0.0, dtype) for s in
              ("velocity", "m", "v", "vhat", "mom", "avg", "acc")}
    ref_states = {k: a.copy() for k, a in states.items()}
    for t in range(1, STEPS + 1):
        g = rng.standard_normal(shape).astype(dtype)
        kernel, ref, names, scalars = _case(name, variant, t, shape)
        kernel(p, layout(g, grad_layout), *[states[s] if s else None for s in names], *scalars)
        ref(p_ref, g, *[ref_states[s] if s else None for s in names], *scalars)
        assert_close(p, p_ref, dtype, scale=np.abs(p_ref), rtol_factor=2)
        for s in names:
            if s:
                assert_close(states[s], ref_states[s], dtype, scale=np.abs(ref_states[s]), rtol_factor=2)
    return p


@pytest.mark.parametrize("name,variant", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("grad_layout", ["c", "strided"])
def test_matches_numpy_transcription(name, variant, dtype, grad_layout):
    _run(name, variant, (5, 7), dtype, grad_layout)


@pytest.mark.parametrize("name,variant", CASES)
@pytest.mark.parametrize("shape", [(7, 10, 13), (0, 4), (), (3,)])
def test_threaded_path_and_nd_parameters(name, variant, shape, threaded):
    p = _run(name, variant, shape, np.float32, seed=1)
    assert p.shape == shape


def _torch_run(torch, make_opt, kernel_step, steps=STEPS, shape=(4, 5)):
    rng = np.random.default_rng(2)
    p = rng.standard_normal(shape)
    pt = torch.tensor(p.copy(), requires_grad=True)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # else torch keeps step counters (Nadam's mu) in float32
    try:
        opt = make_opt([pt])
        for t in range(1, steps + 1):
            g = rng.standard_normal(shape)
            pt.grad = torch.tensor(g)
            opt.step()
            kernel_step(p, g, t)
            np.testing.assert_allclose(p, pt.detach().numpy(), rtol=1e-11, atol=1e-13)
    finally:
        torch.set_default_dtype(previous)


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_matches_torch(momentum, nesterov):
    torch = pytest.importorskip("torch")
    vel = np.zeros((4, 5)) if momentum else None
    _torch_run(torch, lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=momentum, nesterov=nesterov),
               lambda p, g, t: optim.sgd(p, g, vel, 0.05, momentum, nesterov))


@pytest.mark.parametrize("variant", ["adam", "adamw", "amsgrad"])
def test_adam_matches_torch(variant):
    # With epsilon 0 the Keras (epsilon-hat) and torch formulas coincide.
    torch = pytest.importorskip("torch")
    m, v, vhat = np.zeros((4, 5)), np.zeros((4, 5)), np.zeros((4, 5)) if variant == "amsgrad" else None
    cls = torch.optim.AdamW if variant == "adamw" else torch.optim.Adam
    wd = 0.1 if variant == "adamw" else 0.0

    def step(p, g, t):
        lr_t = 0.01 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        optim.adam(p, g, m, v, vhat, lr_t, 0.9, 0.999, 0.0, 0.01 * wd)

    _torch_run(torch, lambda ps: cls(ps, lr=0.01, eps=0.0, weight_decay=wd, amsgrad=variant == "amsgrad"), step)


@pytest.mark.parametrize("momentum,centered", [(0.0, False), (0.5, False), (0.0, True), (0.5, True)])
def test_rmsprop_matches_torch(momentum, centered):
    torch = pytest.importorskip("torch")
    vel = np.zeros((4, 5))
    mom = np.zeros((4, 5)) if momentum else None
    avg = np.zeros((4, 5)) if centered else None
    _torch_run(torch, lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=0.0, momentum=momentum,
                                                     centered=centered),
               lambda p, g, t: optim.rmsprop(p, g, vel, mom, avg, 0.01, 0.9, momentum, 0.0))


def test_adagrad_matches_torch():
    torch = pytest.importorskip("torch")
    acc = np.full((4, 5), 0.1)
    _torch_run(torch, lambda ps: torch.optim.Adagrad(ps, lr=0.1, eps=0.0, initial_accumulator_value=0.1),
               lambda p, g, t: optim.adagrad(p, g, acc, 0.1, 0.0))


def test_nadam_matches_torch():
    torch = pytest.importorskip("torch")
    m, v = np.zeros((4, 5)), np.zeros((4, 5))

    def step(p, g, t):
        optim.nadam(p, g, m, v, 0.01, 0.9, 0.999, 1e-7, *_nadam_factors(t, 0.9, 0.999))

    _torch_run(torch, lambda ps: torch.optim.NAdam(ps, lr=0.01, eps=1e-7), step, steps=6)


def test_errors():
    p, g = np.zeros((3, 4), np.float32), np.ones((3, 4), np.float32)
    m, v = np.zeros_like(p), np.zeros_like(p)
    with pytest.raises(ShapeError, match=r"v must have the same shape as param.*v.shape=\(4, 3\)"):
        optim.adam(p, g, m, np.zeros((4, 3), np.float32), None, 0.1, 0.9, 0.999, 1e-7, 0.0)
    with pytest.raises(ShapeError, match=r"grad must have the same shape as param.*\(12,\)"):
        optim.sgd(p, g.ravel(), None, 0.1, 0.0, False)
    with pytest.raises(TypeError, match="m must have the same dtype as param"):
        optim.adam(p, g, m.astype(np.float64), v, None, 0.1, 0.9, 0.999, 1e-7, 0.0)
    with pytest.raises(TypeError, match="param must be float32 or float64.*int64"):
        optim.sgd(np.zeros(3, np.int64), np.zeros(3), None, 0.1, 0.0, False)
    with pytest.raises(ValueError, match="v is required"):
        optim.adam(p, g, m, None, None, 0.1, 0.9, 0.999, 1e-7, 0.0)
    with pytest.raises(ValueError, match="accumulator is required"):
        optim.adagrad(p, g, None, 0.1, 1e-7)
    with pytest.raises(ValueError, match="param must be C-contiguous"):
        optim.sgd(np.zeros((4, 3), np.float32).T, g, None, 0.1, 0.0, False)
    with pytest.raises(ValueError, match="v must not share memory with m"):
        optim.adam(p, g, m, m, None, 0.1, 0.9, 0.999, 1e-7, 0.0)
    with pytest.raises(ValueError, match="velocity must not share memory with param"):
        optim.sgd(p, g, p, 0.1, 0.9, False)


def test_grad_sharing_state_memory_is_read_before_the_update():
    p = np.zeros(4)
    acc = np.full(4, 1.0)
    g = acc  # the kernel must copy grad first, as it reads what it writes
    optim.adagrad(p, g, acc, 1.0, 0.0)
    np.testing.assert_allclose(acc, 2.0)
    np.testing.assert_allclose(p, -1 / np.sqrt(2.0))
