"""Optimizers against torch.optim, plus clipping, schedules, state and config.

Epsilon placement differs between Keras (whose rules dl follows) and torch:
- Adam/AdamW/AMSGrad: Keras adds epsilon to sqrt(v) before the bias correction
  folded into lr_t ("epsilon hat" = eps * sqrt(1 - beta_2**t)), torch after it.
- RMSprop and Adagrad: Keras divides by sqrt(v + eps), torch by sqrt(v) + eps.
The reference runs therefore use a tiny epsilon (1e-12) in both, where the
placement changes the update by far less than the tolerances below; SGD and
Nadam (whose epsilon placements agree) are compared with the Keras default.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from corelib import optimizers
from corelib.errors import ConfigError
from corelib.layers.base import Parameter
from corelib.optimizers.schedules import CosineDecay, ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay

torch = pytest.importorskip("torch")

STEPS = 5
SHAPES = [(4, 3), (3,)]


def _params(seed: int = 0, dtype=np.float64) -> list[Parameter]:
    rng = np.random.default_rng(seed)
    return [Parameter(rng.standard_normal(s).astype(dtype), f"p{i}") for i, s in enumerate(SHAPES)]


def _grads(step: int, dtype=np.float64) -> list[np.ndarray]:
    rng = np.random.default_rng(100 + step)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def _run_dl(opt, steps: int = STEPS, dtype=np.float64) -> list[np.ndarray]:
    params = _params(dtype=dtype)
    for t in range(steps):
        for p, g in zip(params, _grads(t, dtype)):
            p.grad[...] = g
        opt.apply(params)
    return [p.value for p in params]


def _run_torch(make, steps: int = STEPS) -> list[np.ndarray]:
    tensors = [torch.tensor(p.value, requires_grad=True) for p in _params()]
    opt = make(tensors)
    for t in range(steps):
        for p, g in zip(tensors, _grads(t)):
            p.grad = torch.tensor(g)
        opt.step()
    return [p.detach().numpy() for p in tensors]


CASES = {
    "sgd": (lambda: optimizers.SGD(0.1), lambda ps: torch.optim.SGD(ps, lr=0.1)),
    "sgd_momentum": (
        lambda: optimizers.SGD(0.1, momentum=0.9),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
    ),
    "sgd_nesterov": (
        lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    ),
    "rmsprop": (
        lambda: optimizers.RMSprop(0.01, rho=0.9, epsilon=1e-12),
        lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-12),
    ),
    "rmsprop_momentum_centered": (
        lambda: optimizers.RMSprop(0.01, rho=0.9, momentum=0.5, centered=True, epsilon=1e-12),
        lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, momentum=0.5, centered=True, eps=1e-12),
    ),
    "adagrad": (
        lambda: optimizers.Adagrad(0.1, initial_accumulator_value=0.1, epsilon=1e-12),
        lambda ps: torch.optim.Adagrad(ps, lr=0.1, initial_accumulator_value=0.1, eps=1e-12),
    ),
    "adam": (
        lambda: optimizers.Adam(0.01, epsilon=1e-12),
        lambda ps: torch.optim.Adam(ps, lr=0.01, eps=1e-12),
    ),
    "amsgrad": (
        lambda: optimizers.Adam(0.01, amsgrad=True, epsilon=1e-12),
        lambda ps: torch.optim.Adam(ps, lr=0.01, amsgrad=True, eps=1e-12),
    ),
    "adamw": (
        lambda: optimizers.AdamW(0.01, weight_decay=0.1, epsilon=1e-12),
        lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1, eps=1e-12),
    ),
    # torch's momentum_decay=1.0 gives Keras's schedule mu_t = beta_1 (1 - 0.5 * 0.96**t);
    # torch's default (0.004) scales t.
    "nadam": (
        lambda: optimizers.Nadam(0.01),
        lambda ps: torch.optim.NAdam(ps, lr=0.01, eps=1e-7, momentum_decay=1.0),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch(case):
    make_dl, make_torch = CASES[case]
    got = _run_dl(make_dl())
    want = _run_torch(make_torch)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_follows_float64(case):
    got = _run_dl(CASES[case][0](), dtype=np.float32)
    want = _run_dl(CASES[case][0]())
    for g, w in zip(got, want):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_keras_epsilon_hat_differs_from_torch_as_documented():
    # Keras's Adam adds epsilon before the bias correction: with a large epsilon
    # the two rules part, which is why the reference runs use a tiny one.
    got = _run_dl(optimizers.Adam(0.01, epsilon=0.1), steps=1)
    want = _run_torch(lambda ps: torch.optim.Adam(ps, lr=0.01, eps=0.1), steps=1)
    assert not np.allclose(got[0], want[0], rtol=1e-6)
    p0, g0 = _params()[0].value, _grads(0)[0]
    lr_t = 0.01 * math.sqrt(1 - 0.999) / (1 - 0.9)
    keras = p0 - lr_t * (0.1 * g0) / (np.sqrt(0.001 * g0**2) + 0.1)
    np.testing.assert_allclose(got[0], keras, rtol=1e-12)


def test_keras_defaults():
    assert optimizers.get("sgd").get_config()["learning_rate"] == 0.01
    adam = optimizers.get("adam")
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon, adam.amsgrad) == (0.001, 0.9, 0.999, 1e-7, False)
    assert optimizers.get("adamw").weight_decay == 0.004
    rms = optimizers.get("rmsprop")
    assert (rms.rho, rms.momentum, rms.epsilon, rms.centered) == (0.9, 0.0, 1e-7, False)
    assert optimizers.get("adagrad").initial_accumulator_value == 0.1
    assert [optimizers.get(n).name for n in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Nadam")] == [
        "SGD", "adam", "adamw", "rmsprop", "adagrad", "nadam"]


def test_clipnorm_clips_each_gradient():
    opt = optimizers.SGD(1.0, clipnorm=1.0)
    params = [Parameter(np.zeros(2), "a"), Parameter(np.zeros(2), "b")]
    params[0].grad[...] = [3.0, 4.0]   # norm 5 -> scaled to norm 1
    params[1].grad[...] = [0.3, 0.4]   # norm 0.5 -> unchanged
    opt.apply(params)
    np.testing.assert_allclose(params[0].value, [-0.6, -0.8])
    np.testing.assert_allclose(params[1].value, [-0.3, -0.4])


def test_global_clipnorm_scales_all_gradients_together():
    opt = optimizers.SGD(1.0, global_clipnorm=1.0)
    params = [Parameter(np.zeros(1), "a"), Parameter(np.zeros(1), "b")]
    params[0].grad[...] = 3.0
    params[1].grad[...] = 4.0
    opt.apply(params)
    np.testing.assert_allclose([params[0].value[0], params[1].value[0]], [-0.6, -0.8])


def test_clipvalue():
    opt = optimizers.SGD(1.0, clipvalue=0.5)
    p = Parameter(np.zeros(3), "a")
    p.grad[...] = [-2.0, 0.1, 3.0]
    opt.apply([p])
    np.testing.assert_allclose(p.value, [0.5, -0.1, -0.5])


def test_clipping_leaves_grad_untouched():
    p = Parameter(np.zeros(2), "a")
    p.grad[...] = [3.0, 4.0]
    optimizers.SGD(1.0, clipnorm=1.0, clipvalue=0.1).apply([p])
    np.testing.assert_array_equal(p.grad, [3.0, 4.0])


def test_clipnorm_and_global_clipnorm_refused():
    with pytest.raises(ConfigError, match="only one of clipnorm and global_clipnorm"):
        optimizers.SGD(clipnorm=1.0, global_clipnorm=1.0)


def test_weight_decay_on_sgd_is_decoupled():
    p = Parameter(np.ones(2), "a")
    p.grad[...] = 0.0
    optimizers.SGD(0.1, weight_decay=0.5).apply([p])
    np.testing.assert_allclose(p.value, [0.95, 0.95])


def test_non_trainable_parameters_are_skipped():
    p = Parameter(np.ones(2), "a", trainable=False)
    p.grad[...] = 1.0
    optimizers.SGD(0.1).apply([p])
    np.testing.assert_array_equal(p.value, [1.0, 1.0])


def test_schedules_match_keras_formulas():
    exp = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert exp(0) == 0.1 and exp(10) == pytest.approx(0.05) and exp(5) == pytest.approx(0.1 * 0.5**0.5)
    stair = ExponentialDecay(0.1, 10, 0.5, staircase=True)
    assert stair(9) == 0.1 and stair(10) == pytest.approx(0.05)
    cos = CosineDecay(1.0, decay_steps=100, alpha=0.1)
    assert cos(0) == 1.0 and cos(100) == pytest.approx(0.1) and cos(500) == pytest.approx(0.1)
    assert cos(50) == pytest.approx(0.9 * 0.5 + 0.1)
    warm = CosineDecay(0.0, decay_steps=10, warmup_target=1.0, warmup_steps=4)
    assert warm(2) == pytest.approx(0.5) and warm(4) == pytest.approx(1.0) and warm(14) == pytest.approx(0.0)
    assert InverseTimeDecay(1.0, 10, 1.0)(10) == pytest.approx(0.5)
    pw = PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert (pw(10), pw(11), pw(21)) == (1.0, 0.5, 0.1)


def test_schedule_drives_the_learning_rate_and_round_trips():
    opt = optimizers.SGD(ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5))
    p = Parameter(np.zeros(1), "a")
    steps = []
    for _ in range(3):
        steps.append(opt.current_learning_rate())
        p.grad[...] = 1.0
        opt.apply([p])
    assert steps == [1.0, 0.5, 0.25]
    np.testing.assert_allclose(p.value, [-1.75])
    cfg = json.loads(json.dumps(optimizers.serialize(opt)))
    again = optimizers.deserialize(cfg)
    assert again.get_config() == opt.get_config()
    assert isinstance(again.learning_rate, ExponentialDecay)
    opt.learning_rate = 0.01  # what LR callbacks do
    assert opt.current_learning_rate() == 0.01


@pytest.mark.parametrize("case", sorted(CASES))
def test_state_restores_exactly(case):
    make = CASES[case][0]
    ref = make()
    params = _params()
    for t in range(2):
        for p, g in zip(params, _grads(t)):
            p.grad[...] = g
        ref.apply(params)
    state = ref.get_state()
    assert int(state["iterations"]) == 2
    saved = [p.value.copy() for p in params]
    fresh = optimizers.deserialize(optimizers.serialize(ref))
    copies = [Parameter(v.copy(), p.name) for v, p in zip(saved, params)]
    fresh.set_state(copies, state)
    for t in range(2, 4):
        for a, b, g in zip(params, copies, _grads(t)):
            a.grad[...] = g
            b.grad[...] = g
        ref.apply(params)
        fresh.apply(copies)
    for a, b in zip(params, copies):
        np.testing.assert_array_equal(a.value, b.value)


def test_set_state_mismatch_raises():
    opt = optimizers.Adam()
    params = _params()
    for p, g in zip(params, _grads(0)):
        p.grad[...] = g
    opt.apply(params)
    state = opt.get_state()
    with pytest.raises(ValueError, match="Missing"):
        optimizers.Adam().set_state(params[:1] + params, state)
    bad = dict(state)
    bad["0/m"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match="0/m"):
        optimizers.Adam().set_state(params, bad)


def test_apply_with_a_different_parameter_count_raises():
    opt = optimizers.SGD()
    params = _params()
    opt.apply(params)
    with pytest.raises(ValueError, match="built for 2 parameters, received 1"):
        opt.apply(params[:1])


@pytest.mark.parametrize("kwargs, message", [
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"learning_rate": "fast"}, "learning_rate"),
    ({"momentum": 1.5}, "momentum"),
    ({"clipnorm": 0}, "clipnorm"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        optimizers.SGD(**kwargs)


def test_get_accepts_names_dicts_and_instances():
    adam = optimizers.get({"class_name": "Adam", "config": {"learning_rate": 0.5}})
    assert isinstance(adam, optimizers.Adam) and adam.learning_rate == 0.5
    assert optimizers.get(adam) is adam
    assert isinstance(optimizers.get("rmsprop"), optimizers.RMSprop)
    with pytest.raises(KeyError, match="Did you mean"):
        optimizers.get("adma")
