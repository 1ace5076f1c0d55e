"""Adamax, Adadelta, Lion and Ftrl (issue 13): Keras 3's update rules.

Adamax and Adadelta are checked against torch.optim with matched settings,
Lion and Ftrl against NumPy transcriptions of Keras 3's published update
formulas written here; the kernels (corelib.kernels.optim_more) in float32 and
float64, strided gradients and the threaded path; and save / load of the
optimizer state through a model file.

Differences from torch, by construction of the rules (documented in docs/components.md):
- Adamax: Keras divides by (u + epsilon) with u = max(beta_2 u, |g|); torch keeps
  u = max(beta_2 u, |g| + epsilon). With epsilon 0 the two coincide.
- Adadelta: the same rule (epsilon inside both square roots, the update times
  the learning rate); only the defaults differ (Keras lr=0.001, rho=0.95,
  epsilon=1e-7; torch lr=1.0, rho=0.9, eps=1e-6).
"""

from __future__ import annotations

import numpy as np
import pytest

from corelib import layers, models, optimizers
from corelib.errors import ConfigError, ShapeError
from corelib.kernels import optim_more
from corelib.layers.base import Parameter
from corelib.testing import check_optimizer

STEPS = 6
SHAPES = [(4, 3), (5,)]


def _params(dtype=np.float64) -> list[Parameter]:
    rng = np.random.default_rng(0)
    return [Parameter(rng.standard_normal(s).astype(dtype), f"p{i}") for i, s in enumerate(SHAPES)]


def _grads(step: int, dtype=np.float64) -> list[np.ndarray]:
    rng = np.random.default_rng(100 + step)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def _run(opt, steps: int = STEPS, dtype=np.float64) -> list[np.ndarray]:
    params = _params(dtype)
    for t in range(steps):
        for p, g in zip(params, _grads(t, dtype)):
            p.grad[...] = g
        opt.apply(params)
    return [p.value for p in params]


def _run_reference(step, steps: int = STEPS) -> list[np.ndarray]:
    """`step(i, p, g, t)` updates parameter i in place at step t (1-based), in float64."""
    values = [p.value.copy() for p in _params()]
    for t in range(1, steps + 1):
        for i, (p, g) in enumerate(zip(values, _grads(t - 1))):
            step(i, p, g, t)
    return values


# -- Keras 3's formulas, transcribed ------------------------------------------------------


def keras_adamax(lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m = [np.zeros(s) for s in SHAPES]
    u = [np.zeros(s) for s in SHAPES]

    def step(i, p, g, t):
        m[i] += (g - m[i]) * (1 - beta_1)
        u[i] = np.maximum(beta_2 * u[i], np.abs(g))
        p -= lr * m[i] / ((1 - beta_1**t) * (u[i] + epsilon))

    return step


def keras_lion(lr=0.001, beta_1=0.9, beta_2=0.99):
    m = [np.zeros(s) for s in SHAPES]

    def step(i, p, g, t):
        p -= lr * np.sign(m[i] + (g - m[i]) * (1 - beta_1))
        m[i] = m[i] * beta_2 + g * (1 - beta_2)

    return step


def keras_ftrl(lr=0.001, power=-0.5, initial=0.1, l1=0.0, l2=0.0, shrinkage=0.0, beta=0.0):
    acc = [np.full(s, initial) for s in SHAPES]
    linear = [np.zeros(s) for s in SHAPES]

    def step(i, p, g, t):
        l2_reg = l2 + beta / (2.0 * lr)
        grad_to_use = g + 2 * shrinkage * p
        new_acc = acc[i] + g * g
        linear[i] += grad_to_use - (new_acc ** (-power) - acc[i] ** (-power)) / lr * p
        quadratic = new_acc ** (-power) / lr + 2 * l2_reg
        p[...] = (np.clip(linear[i], -l1, l1) - linear[i]) / quadratic
        acc[i] = new_acc

    return step


# -- against torch.optim ----------------------------------------------------------------


def _run_torch(make, steps: int = STEPS) -> list[np.ndarray]:
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(p.value, requires_grad=True) for p in _params()]
    opt = make(torch, tensors)
    for t in range(steps):
        for p, g in zip(tensors, _grads(t)):
            p.grad = torch.tensor(g)
        opt.step()
    return [p.detach().numpy() for p in tensors]


TORCH_CASES = {
    "adamax": (lambda: optimizers.Adamax(0.01, epsilon=0.0),
               lambda torch, ps: torch.optim.Adamax(ps, lr=0.01, eps=0.0)),
    "adamax_betas": (lambda: optimizers.Adamax(0.05, beta_1=0.8, beta_2=0.9, epsilon=0.0),
                     lambda torch, ps: torch.optim.Adamax(ps, lr=0.05, betas=(0.8, 0.9), eps=0.0)),
    "adadelta_keras_defaults": (lambda: optimizers.Adadelta(),
                                lambda torch, ps: torch.optim.Adadelta(ps, lr=0.001, rho=0.95, eps=1e-7)),
    "adadelta_torch_defaults": (lambda: optimizers.Adadelta(1.0, rho=0.9, epsilon=1e-6),
                                lambda torch, ps: torch.optim.Adadelta(ps)),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case):
    make_dl, make_torch = TORCH_CASES[case]
    for got, want in zip(_run(make_dl()), _run_torch(make_torch)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_adamax_epsilon_placement_differs_from_torch_as_documented():
    got = _run(optimizers.Adamax(0.01, epsilon=0.5), steps=2)
    want = _run_torch(lambda torch, ps: torch.optim.Adamax(ps, lr=0.01, eps=0.5), steps=2)
    assert not np.allclose(got[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(got[0], _run_reference(keras_adamax(0.01, epsilon=0.5), steps=2)[0], rtol=1e-12)


# -- against the transcribed Keras formulas -------------------------------------------------


REFERENCE_CASES = {
    "adamax_defaults": (lambda: optimizers.Adamax(), lambda: keras_adamax()),
    "adamax_large_epsilon": (lambda: optimizers.Adamax(0.02, epsilon=0.3), lambda: keras_adamax(0.02, epsilon=0.3)),
    "lion_defaults": (lambda: optimizers.Lion(), lambda: keras_lion()),
    "lion": (lambda: optimizers.Lion(0.03, beta_1=0.5, beta_2=0.8), lambda: keras_lion(0.03, 0.5, 0.8)),
    "lion_beta_1_one": (lambda: optimizers.Lion(0.03, beta_1=1.0), lambda: keras_lion(0.03, 1.0)),
    "ftrl_defaults": (lambda: optimizers.Ftrl(), lambda: keras_ftrl()),
    "ftrl_regularized": (
        lambda: optimizers.Ftrl(0.1, l1_regularization_strength=0.05, l2_regularization_strength=0.2,
                                l2_shrinkage_regularization_strength=0.1, beta=0.3),
        lambda: keras_ftrl(0.1, l1=0.05, l2=0.2, shrinkage=0.1, beta=0.3),
    ),
    "ftrl_power": (
        lambda: optimizers.Ftrl(0.2, learning_rate_power=-0.7, initial_accumulator_value=0.5,
                                l1_regularization_strength=0.01),
        lambda: keras_ftrl(0.2, power=-0.7, initial=0.5, l1=0.01),
    ),
    "ftrl_fixed_rate": (lambda: optimizers.Ftrl(0.1, learning_rate_power=0.0, initial_accumulator_value=0.0),
                        lambda: keras_ftrl(0.1, power=0.0, initial=0.0)),
}


@pytest.mark.parametrize("case", sorted(REFERENCE_CASES))
def test_matches_keras_formulas(case):
    make, reference = REFERENCE_CASES[case]
    for got, want in zip(_run(make()), _run_reference(reference())):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)


def test_ftrl_l1_sets_small_weights_to_exactly_zero():
    opt = optimizers.Ftrl(0.1, l1_regularization_strength=1000.0)
    values = _run(opt)
    assert all(np.all(v == 0.0) for v in values)


@pytest.mark.parametrize("case", sorted(REFERENCE_CASES) + sorted(TORCH_CASES))
def test_float32_follows_float64(case):
    make = {**REFERENCE_CASES, **TORCH_CASES}[case][0]
    for got, want in zip(_run(make(), dtype=np.float32), _run(make())):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5)


def test_weight_decay_is_applied_before_the_update():
    decayed = _run(optimizers.Lion(0.01, weight_decay=0.5))

    def step(i, p, g, t, inner=keras_lion(0.01)):
        p *= 1.0 - 0.01 * 0.5
        inner(i, p, g, t)

    for got, want in zip(decayed, _run_reference(step)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_clipvalue_applies_to_the_new_optimizers():
    clipped = _run(optimizers.Adamax(0.01, clipvalue=0.1, epsilon=0.0))
    want = _run_torch(lambda torch, ps: _ClippedTorch(torch, torch.optim.Adamax(ps, lr=0.01, eps=0.0), ps, 0.1))
    for got, ref in zip(clipped, want):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


class _ClippedTorch:
    def __init__(self, torch, opt, params, value):
        self.torch, self.opt, self.params, self.value = torch, opt, params, value

    def step(self):
        self.torch.nn.utils.clip_grad_value_(self.params, self.value)
        self.opt.step()


# -- the kernels ------------------------------------------------------------------------------


def _kernel_case(name):
    """(kernel, state names with initial values, scalars, NumPy reference step)."""
    if name == "adamax":
        def ref(p, g, s, lr_t, b1, b2, eps):
            s["m"] += (g - s["m"]) * (1 - b1)
            s["u"] = np.maximum(b2 * s["u"], np.abs(g))
            p -= lr_t * s["m"] / (s["u"] + eps)
        return optim_more.adamax, {"m": 0.0, "u": 0.0}, (0.01, 0.9, 0.999, 1e-7), ref
    if name == "adadelta":
        def ref(p, g, s, lr, rho, eps):
            s["ag"] = rho * s["ag"] + (1 - rho) * g * g
            delta = -np.sqrt(s["ad"] + eps) * g / np.sqrt(s["ag"] + eps)
            s["ad"] = rho * s["ad"] + (1 - rho) * delta * delta
            p += lr * delta
        return optim_more.adadelta, {"ag": 0.0, "ad": 0.0}, (0.5, 0.95, 1e-7), ref
    if name == "lion":
        def ref(p, g, s, lr, b1, b2):
            p -= lr * np.sign(s["m"] + (g - s["m"]) * (1 - b1))
            s["m"] = s["m"] * b2 + g * (1 - b2)
        return optim_more.lion, {"m": 0.0}, (0.01, 0.9, 0.99), ref

    def ref(p, g, s, lr, power, l1, l2, shrink):
        new = s["acc"] + g * g
        s["lin"] += g + 2 * shrink * p - (new ** -power - s["acc"] ** -power) / lr * p
        p[...] = (np.clip(s["lin"], -l1, l1) - s["lin"]) / (new ** -power / lr + 2 * l2)
        s["acc"] = new
    scalars = (0.1, -0.5, 0.01, 0.1, 0.05) if name == "ftrl" else (0.1, -0.3, 0.01, 0.1, 0.05)
    return optim_more.ftrl, {"acc": 0.1, "lin": 0.0}, scalars, ref


KERNELS = ["adamax", "adadelta", "lion", "ftrl", "ftrl_power"]


def _kernel_run(name, shape, dtype, grad_layout="c", seed=0):
    kernel, init, scalars, ref = _kernel_case(name)
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(shape).astype(dtype)
    p_ref = p.astype(np.float64)
    states = {k: np.full(shape, v, dtype) for k, v in init.items()}
    ref_states = {k: np.full(shape, v) for k, v in init.items()}
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for _ in range(4):
        g = rng.standard_normal(shape).astype(dtype)
        if grad_layout == "strided" and g.ndim:
            wide = np.zeros(shape[:-1] + (2 * shape[-1],), dtype)
            wide[..., ::2] = g
            g_in = wide[..., ::2]
        else:
            g_in = g
        kernel(p, g_in, *states.values(), *scalars)
        ref(p_ref, g.astype(np.float64), ref_states, *scalars)
        np.testing.assert_allclose(p, p_ref, rtol=tol, atol=tol)
        for key in states:
            np.testing.assert_allclose(states[key], ref_states[key], rtol=tol, atol=tol)
    return p


@pytest.mark.parametrize("name", KERNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("grad_layout", ["c", "strided"])
def test_kernels_match_numpy(name, dtype, grad_layout):
    _kernel_run(name, (5, 7), dtype, grad_layout)


@pytest.mark.parametrize("name", KERNELS)
@pytest.mark.parametrize("shape", [(7, 10, 13), (0, 4), (), (3,)])
def test_kernels_threaded_and_nd(name, shape):
    previous = optim_more._set_parallel_work(0)
    try:
        assert _kernel_run(name, shape, np.float32, seed=1).shape == shape
    finally:
        optim_more._set_parallel_work(previous)


def test_kernel_errors():
    p, g = np.zeros((3, 4), np.float32), np.ones((3, 4), np.float32)
    m = np.zeros_like(p)
    with pytest.raises(ShapeError, match=r"u must have the same shape as param.*u.shape=\(4, 3\)"):
        optim_more.adamax(p, g, m, np.zeros((4, 3), np.float32), 0.1, 0.9, 0.999, 1e-7)
    with pytest.raises(TypeError, match="m must have the same dtype as param"):
        optim_more.lion(p, g, m.astype(np.float64), 0.1, 0.9, 0.99)
    with pytest.raises(ValueError, match="linear is required"):
        optim_more.ftrl(p, g, m, None, 0.1, -0.5, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="accumulated_delta must not share memory with accumulated_grad"):
        optim_more.adadelta(p, g, m, m, 1.0, 0.95, 1e-7)
    with pytest.raises(ValueError, match="param must be C-contiguous"):
        optim_more.lion(np.zeros((4, 3), np.float32).T, g, m, 0.1, 0.9, 0.99)


def test_kernel_grad_sharing_state_memory_is_read_before_the_update():
    p, m = np.zeros(4), np.full(4, -1.0)
    optim_more.lion(p, m, m, 1.0, 0.5, 0.5)  # grad is the momentum buffer itself
    np.testing.assert_array_equal(p, 1.0)
    np.testing.assert_array_equal(m, -1.0)


# -- configuration, conformance, saving -----------------------------------------------------------


def test_keras_defaults_and_names():
    expected = {
        "Adamax": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "name": "adamax"},
        "Adadelta": {"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7, "name": "adadelta"},
        "Lion": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.99, "name": "lion"},
        "Ftrl": {"learning_rate": 0.001, "learning_rate_power": -0.5, "initial_accumulator_value": 0.1,
                 "l1_regularization_strength": 0.0, "l2_regularization_strength": 0.0,
                 "l2_shrinkage_regularization_strength": 0.0, "beta": 0.0, "name": "ftrl"},
    }
    for class_name, defaults in expected.items():
        for identifier in (class_name, class_name.lower()):
            opt = optimizers.get(identifier)
            assert type(opt).__name__ == class_name
            config = opt.get_config()
            assert {k: config[k] for k in defaults} == defaults
            assert config["weight_decay"] is None and config["clipnorm"] is None


@pytest.mark.parametrize("cls, kwargs, message", [
    ("Adamax", {"beta_1": 1.0}, "beta_1 must be a float in"),
    ("Adamax", {"epsilon": -1.0}, "epsilon"),
    ("Adadelta", {"rho": 1.5}, "rho must be a float in"),
    ("Lion", {"beta_1": 0.0}, r"beta_1 must be in \(0, 1\]"),
    ("Lion", {"beta_2": 1.5}, "beta_2"),
    ("Ftrl", {"learning_rate_power": 0.5}, "learning_rate_power must be a float <= 0"),
    ("Ftrl", {"initial_accumulator_value": -0.1}, "initial_accumulator_value must be a non-negative float"),
    ("Ftrl", {"l1_regularization_strength": -1.0}, "l1_regularization_strength"),
    ("Ftrl", {"l2_regularization_strength": -1.0}, "l2_regularization_strength"),
    ("Ftrl", {"l2_shrinkage_regularization_strength": -1.0}, "l2_shrinkage_regularization_strength"),
    ("Ftrl", {"learning_rate": 0.0}, "learning_rate must be positive"),
    ("Adamax", {"clipnorm": 1.0, "global_clipnorm": 1.0}, "only one of clipnorm and global_clipnorm"),
])
def test_bad_arguments(cls, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        optimizers.get({"class_name": cls, "config": kwargs})


@pytest.mark.parametrize("name", ["Adamax", "Adadelta", "Lion", "Ftrl"])
def test_conformance_with_common_options(name):
    check_optimizer(name, weight_decay=0.01, clipnorm=1.0)
    check_optimizer(name, global_clipnorm=0.5, clipvalue=0.2)


def _model(optimizer):
    rng = np.random.default_rng(7)
    dense = layers.Dense(2, input_shape=(3,), dtype="float64")
    model = models.Sequential([dense])
    dense.set_weights([rng.standard_normal((3, 2)), rng.standard_normal(2)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


@pytest.mark.parametrize("optimizer", [
    {"class_name": "Adamax", "config": {"learning_rate": 0.05}},
    {"class_name": "Adadelta", "config": {"learning_rate": 1.0}},
    {"class_name": "Lion", "config": {"learning_rate": 0.01, "weight_decay": 0.1}},
    {"class_name": "Ftrl", "config": {"learning_rate": 0.1, "l1_regularization_strength": 0.01, "beta": 0.1}},
])
def test_fit_save_load_continues_identically(optimizer, tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 2))
    model = _model(optimizer)
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    path = tmp_path / "model.dl"
    model.save(path)
    loaded = models.load_model(path)
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    saved, restored = model.optimizer.get_state(), loaded.optimizer.get_state()
    assert sorted(saved) == sorted(restored) and int(restored["iterations"]) == 8
    for key in saved:
        np.testing.assert_array_equal(restored[key], saved[key])
    first = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
    second = loaded.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
    assert first == second
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(b, a)
