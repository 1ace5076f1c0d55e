"""The shared conformance test: every registered component meets the contract.

It walks the registry, so a plugin's components are checked as soon as the
plugin is installed. Layers and losses need sample arguments and data: a layer
or loss registered without an entry in the tables below FAILS, so whoever adds
one adds its entry here (and gets the checks for free).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from corelib import activations, initializers, losses, metrics, optimizers, regularizers
from corelib.layer import Parameter
from corelib.registry import get_registry
from corelib.testing import check_activation, check_layer, check_loss

# layer name -> list of (input shape with batch, constructor kwargs)
LAYER_CASES: dict[str, list[tuple[tuple, dict]]] = {
    "Dense": [
        ((3, 4), {"units": 5}),
        ((2, 3, 4), {"units": 2, "activation": "tanh", "use_bias": False}),
        ((3, 4), {"units": 3, "activation": "softmax", "kernel_regularizer": "l2"}),
        ((3, 4), {"units": 3, "activation": "swish"}),
    ],
    "Activation": [((3, 5), {"activation": "gelu"}), ((2, 2, 3), {"activation": "softmax"})],
    "Dropout": [((4, 6), {"rate": 0.4}), ((2, 3, 4), {"rate": 0.5, "noise_shape": [None, 1, 4]})],
    "Flatten": [((2, 3, 4), {}), ((2, 3, 4), {"data_format": "channels_first"})],
    "Reshape": [((2, 12), {"target_shape": [3, -1]})],
}


def _loss_data(kind: str, rng: np.random.Generator):
    n, c = 5, 4
    labels = rng.integers(0, c, n)
    logits = rng.standard_normal((n, c))
    if kind == "categorical_probs":
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        return np.eye(c)[labels], p
    if kind == "sparse_probs":
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        return labels, p
    if kind == "binary_probs":
        return rng.integers(0, 2, (n, 3)).astype(float), rng.uniform(0.1, 0.9, (n, 3))
    if kind == "categorical_logits":
        return np.eye(c)[labels], logits
    if kind == "sparse_logits":
        return labels, logits
    if kind == "binary_logits":
        return rng.integers(0, 2, (n, 3)).astype(float), logits[:, :3]
    # regression: |error| away from 0 (MAE's kink)
    target = rng.standard_normal((n, c))
    magnitude = np.where(rng.random((n, c)) < 0.5, rng.uniform(0.1, 0.8, (n, c)), rng.uniform(1.2, 2.5, (n, c)))
    return target, target + magnitude * rng.choice([-1.0, 1.0], (n, c))


# loss name -> list of (constructor kwargs, data kind)
LOSS_CASES: dict[str, list[tuple[dict, str]]] = {
    "CategoricalCrossentropy": [
        ({}, "categorical_probs"),
        ({"from_logits": True}, "categorical_logits"),
        ({"from_logits": True, "label_smoothing": 0.1}, "categorical_logits"),
    ],
    "SparseCategoricalCrossentropy": [({}, "sparse_probs"), ({"from_logits": True}, "sparse_logits")],
    "BinaryCrossentropy": [({}, "binary_probs"), ({"from_logits": True, "label_smoothing": 0.2}, "binary_logits")],
    "MeanSquaredError": [({}, "regression")],
    "MeanAbsoluteError": [({}, "regression")],
    "Huber": [({}, "regression"), ({"delta": 0.5}, "regression")],
}


def _names(kind: str) -> list[str]:
    return [e.name for e in get_registry().entries(kind)]


@pytest.mark.parametrize("name", _names("layers"))
def test_layer_conformance(name):
    assert name in LAYER_CASES, (
        f"Layer {name!r} is registered but has no entry in LAYER_CASES (tests/test_conformance.py); "
        "add sample input shapes and constructor kwargs for it."
    )
    cls = get_registry().get("layers", name)
    for shape, kwargs in LAYER_CASES[name]:
        check_layer(cls, shape, **kwargs)


@pytest.mark.parametrize("name", _names("losses"))
def test_loss_conformance(name):
    assert name in LOSS_CASES, (
        f"Loss {name!r} is registered but has no entry in LOSS_CASES (tests/test_conformance.py); "
        "add constructor kwargs and a data kind for it."
    )
    cls = get_registry().get("losses", name)
    rng = np.random.default_rng(0)
    for kwargs, kind in LOSS_CASES[name]:
        y_true, y_pred = _loss_data(kind, rng)
        check_loss(cls(**kwargs), y_true, y_pred)


@pytest.mark.parametrize("name", _names("activations"))
def test_activation_conformance(name):
    check_activation(name)
    check_activation(name, shape=(2, 3, 4), seed=1)


@pytest.mark.parametrize("name", _names("optimizers"))
def test_optimizer_conformance(name):
    opt = optimizers.get(name)
    cfg = json.loads(json.dumps(optimizers.serialize(opt)))
    assert optimizers.deserialize(cfg).get_config() == opt.get_config()
    opt = optimizers.deserialize({"class_name": name, "config": {"learning_rate": 0.05}})
    params = [Parameter(np.full((3, 2), 2.0), "w"), Parameter(np.full((2,), -1.0), "b")]
    start = sum(float((p.value**2).sum()) for p in params)
    for _ in range(20):  # minimise 0.5 * ||p||^2, gradient p
        for p in params:
            p.grad[...] = p.value
        opt.apply(params)
    assert opt.iterations == 20
    assert sum(float((p.value**2).sum()) for p in params) < start
    state = opt.get_state()
    twin = optimizers.deserialize(json.loads(json.dumps(optimizers.serialize(opt))))
    copies = [Parameter(p.value.copy(), p.name) for p in params]
    twin.set_state(copies, state)
    for p, q in zip(params, copies):
        p.grad[...] = p.value
        q.grad[...] = q.value
    opt.apply(params)
    twin.apply(copies)
    for p, q in zip(params, copies):
        np.testing.assert_array_equal(p.value, q.value)


@pytest.mark.parametrize("name", _names("metrics"))
def test_metric_conformance(name):
    metric = metrics.get(name)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 8)
    y_pred = rng.uniform(0.05, 1.0, (8, 3))
    sparse = "sparse" in metrics.serialize(metric)["class_name"].lower()
    y_true = labels if sparse else np.eye(3)[labels]
    metric.update_state(y_true, y_pred)
    first = metric.result()
    assert isinstance(first, float) and np.isfinite(first)
    metric.update_state(y_true, y_pred, sample_weight=np.ones(8))
    assert metric.result() == pytest.approx(first)
    metric.reset_state()
    metric.update_state(y_true, y_pred)
    assert metric.result() == pytest.approx(first)
    again = metrics.deserialize(json.loads(json.dumps(metrics.serialize(metric))))
    assert again.get_config() == metric.get_config()


@pytest.mark.parametrize("name", _names("initializers"))
def test_initializer_conformance(name):
    init = initializers.get(name)
    for dtype in ("float32", "float64"):
        w = init((4, 3), dtype)
        assert w.shape == (4, 3) and w.dtype == dtype and np.all(np.isfinite(w))
    again = initializers.deserialize(json.loads(json.dumps(initializers.serialize(init))))
    assert again.get_config() == init.get_config()


@pytest.mark.parametrize("name", _names("regularizers"))
def test_regularizer_conformance(name):
    reg = regularizers.get(name)
    w = np.random.default_rng(0).standard_normal((3, 4))
    eps = 1e-6
    numeric = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        e = np.zeros_like(w)
        e[i] = eps
        numeric[i] = (reg(w + e) - reg(w - e)) / (2 * eps)
    np.testing.assert_allclose(reg.gradient(w), numeric, rtol=1e-6, atol=1e-10)
    again = regularizers.deserialize(json.loads(json.dumps(regularizers.serialize(reg))))
    assert again.get_config() == reg.get_config()


def test_every_registered_activation_round_trips_through_serialize():
    for name in _names("activations"):
        act = activations.get(name)
        assert activations.deserialize(json.loads(json.dumps(activations.serialize(act)))) == act


def test_losses_resolve_by_their_snake_case_names():
    for entry in get_registry().entries("losses"):
        for alias in entry.aliases:
            assert type(losses.get(alias)) is entry.obj


# -- the checks catch what they should ----------------------------------------------------


class _WrongGradient(__import__("corelib").Layer):
    """y = 2x, but backprop claims dx = dy and the shape inference is off."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] + 1,)

    def forward(self, x, training=False):
        return 2 * x, lambda dy, need_input_grad=True: dy if need_input_grad else None


def test_check_layer_names_the_failed_checks():
    from corelib.testing import ConformanceError

    with pytest.raises(ConformanceError) as info:
        check_layer(_WrongGradient, (2, 3))
    message = str(info.value)
    assert "[shape inference]" in message and "[input gradient] relative error 0.5" in message


def test_check_loss_and_activation_catch_wrong_derivatives():
    from corelib.activations import Activation
    from corelib.testing import ConformanceError

    class Cube(Activation):
        name = "cube"
        needs_input = True

        def forward(self, x, out):
            np.power(x, 3, out=out)
            return out

        def backward(self, x, y, dy, dx):
            np.multiply(dy, 2 * x * x, out=dx)  # should be 3 x^2
            return dx

    with pytest.raises(ConformanceError, match=r"\[gradient\] relative error 0.33"):
        check_activation(Cube())

    class Halved(losses.MeanSquaredError):
        def compute(self, pred, target, loss_out, grad_out):
            super().compute(pred, target, loss_out, grad_out)
            grad_out *= 0.5

    rng = np.random.default_rng(0)
    with pytest.raises(ConformanceError, match=r"(?s)check_loss\(halved\) failed .*\[gradient\] relative error 0.5"):
        check_loss(Halved(), rng.standard_normal((3, 2)), rng.standard_normal((3, 2)))
