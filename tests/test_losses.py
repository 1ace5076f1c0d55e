"""Losses against torch and NumPy references: values, gradients, weights, extremes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from corelib import losses
from corelib.errors import ConfigError, DataError, ShapeError

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(0)
N, C = 6, 4
LOGITS = RNG.standard_normal((N, C)) * 2
PROBS = np.exp(LOGITS) / np.exp(LOGITS).sum(1, keepdims=True)
LABELS = RNG.integers(0, C, N)
ONEHOT = np.eye(C)[LABELS]
BIN_TARGET = RNG.integers(0, 2, (N, 3)).astype(np.float64)
BIN_PROBS = RNG.uniform(0.05, 0.95, (N, 3))
WEIGHTS = RNG.uniform(0.2, 2.0, N)


def _torch_value_grad(fn, y_pred):
    t = torch.tensor(y_pred, requires_grad=True)
    value = fn(t)
    value.backward()
    return float(value.detach()), t.grad.numpy()


def _check(loss, y_true, y_pred, torch_fn, sample_weight=None):
    value, grad = loss.forward_backward(y_true, y_pred, sample_weight)
    ref_value, ref_grad = _torch_value_grad(torch_fn, y_pred)
    assert value == pytest.approx(ref_value, rel=1e-10)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-9, atol=1e-12)
    assert grad.shape == y_pred.shape and grad.dtype == y_pred.dtype


def _weighted_mean(per_sample, w):
    return (per_sample * torch.tensor(w)).sum() / len(w) if w is not None else per_sample.mean()


@pytest.mark.parametrize("w", [None, WEIGHTS])
def test_categorical_crossentropy_from_logits(w):
    fn = lambda t: _weighted_mean(F.cross_entropy(t, torch.tensor(LABELS), reduction="none"), w)
    _check(losses.CategoricalCrossentropy(from_logits=True), ONEHOT, LOGITS, fn, w)
    _check(losses.SparseCategoricalCrossentropy(from_logits=True), LABELS, LOGITS, fn, w)


@pytest.mark.parametrize("w", [None, WEIGHTS])
def test_categorical_crossentropy_on_probabilities(w):
    # Keras: p / sum(p), clipped to [1e-7, 1 - 1e-7]; here p is well inside.
    fn = lambda t: _weighted_mean(-(torch.tensor(ONEHOT) * torch.log(t / t.sum(1, keepdim=True))).sum(1), w)
    _check(losses.get("categorical_crossentropy"), ONEHOT, PROBS, fn, w)
    _check(losses.get("sparse_categorical_crossentropy"), LABELS, PROBS, fn, w)


@pytest.mark.parametrize("w", [None, WEIGHTS])
def test_binary_crossentropy(w):
    fn = lambda t: _weighted_mean(F.binary_cross_entropy(t, torch.tensor(BIN_TARGET), reduction="none").mean(1), w)
    _check(losses.get("binary_crossentropy"), BIN_TARGET, BIN_PROBS, fn, w)
    logits = LOGITS[:, :3]
    fn = lambda t: _weighted_mean(
        F.binary_cross_entropy_with_logits(t, torch.tensor(BIN_TARGET), reduction="none").mean(1), w)
    _check(losses.BinaryCrossentropy(from_logits=True), BIN_TARGET, logits, fn, w)


@pytest.mark.parametrize("w", [None, WEIGHTS])
def test_regression_losses(w):
    target = RNG.standard_normal((N, C))
    t = torch.tensor(target)
    _check(losses.get("mse"), target, LOGITS, lambda p: _weighted_mean(F.mse_loss(p, t, reduction="none").mean(1), w), w)
    _check(losses.get("mae"), target, LOGITS, lambda p: _weighted_mean(F.l1_loss(p, t, reduction="none").mean(1), w), w)
    for delta in (1.0, 0.3):
        _check(losses.Huber(delta=delta), target, LOGITS,
               lambda p: _weighted_mean(F.huber_loss(p, t, reduction="none", delta=delta).mean(1), w), w)


def test_label_smoothing_matches_torch():
    fn = lambda t: F.cross_entropy(t, torch.tensor(LABELS), label_smoothing=0.2)
    _check(losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), ONEHOT, LOGITS, fn)
    smoothed = BIN_TARGET * 0.8 + 0.1
    fn = lambda t: F.binary_cross_entropy_with_logits(t, torch.tensor(smoothed))
    _check(losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2), BIN_TARGET, LOGITS[:, :3], fn)


def test_sum_reduction_and_per_sample():
    loss = losses.MeanSquaredError(reduction="sum")
    target = np.zeros((N, C))
    assert loss(target, LOGITS) == pytest.approx(float((LOGITS**2).mean(1).sum()))
    np.testing.assert_allclose(losses.get("mse").per_sample(target, LOGITS), (LOGITS**2).mean(1))


def test_sequence_outputs_average_over_steps_and_weigh_samples():
    pred = RNG.standard_normal((3, 5, 2))
    target = RNG.standard_normal((3, 5, 2))
    w = np.array([1.0, 0.0, 2.0])
    value, grad = losses.get("mse").forward_backward(target, pred, w)
    per = ((pred - target) ** 2).mean(-1) * w[:, None]
    assert value == pytest.approx(per.sum() / 15)
    np.testing.assert_allclose(grad, 2 * (pred - target) / 2 * w[:, None, None] / 15)
    labels = RNG.integers(0, 2, (3, 5))
    assert losses.SparseCategoricalCrossentropy(from_logits=True).per_sample(labels, pred).shape == (3, 5)


@pytest.mark.parametrize("name, y_true, y_pred", [
    ("categorical_crossentropy", ONEHOT, ONEHOT),
    ("categorical_crossentropy", ONEHOT, 1.0 - ONEHOT),
    ("sparse_categorical_crossentropy", LABELS, 1.0 - ONEHOT),
    ("binary_crossentropy", BIN_TARGET, BIN_TARGET),
    ("binary_crossentropy", BIN_TARGET, 1.0 - BIN_TARGET),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_probabilities_of_exactly_zero_and_one_are_finite(name, y_true, y_pred, dtype):
    value, grad = losses.get(name).forward_backward(y_true, y_pred.astype(dtype))
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert value <= -np.log(1e-7) * 1.01


@pytest.mark.parametrize("scale", [1e4, -1e4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_are_finite(scale, dtype):
    logits = (LOGITS * scale).astype(dtype)
    for loss, target in [
        (losses.CategoricalCrossentropy(from_logits=True), ONEHOT),
        (losses.SparseCategoricalCrossentropy(from_logits=True), LABELS),
        (losses.BinaryCrossentropy(from_logits=True), np.eye(C)[LABELS]),
    ]:
        value, grad = loss.forward_backward(target, logits)
        assert np.isfinite(value) and np.all(np.isfinite(grad))
    ref = F.cross_entropy(torch.tensor(LOGITS * scale), torch.tensor(LABELS))
    assert losses.SparseCategoricalCrossentropy(from_logits=True)(LABELS, LOGITS * scale) == pytest.approx(float(ref))


def test_keras_clipping_of_probabilities():
    # A zero probability for the true class costs -log(1e-7), as in Keras.
    probs = np.array([[0.0, 1.0]])
    assert losses.get("categorical_crossentropy")(np.array([[1.0, 0.0]]), probs) == pytest.approx(-np.log(1e-7), rel=1e-6)


def test_shape_errors_name_the_loss_and_shapes():
    with pytest.raises(ShapeError, match=r"categorical_crossentropy expects one-hot y_true of shape \(6, 4\).*sparse"):
        losses.get("categorical_crossentropy")(LABELS, PROBS)
    with pytest.raises(ShapeError, match=r"expects integer labels y_true of shape \(6,\)"):
        losses.get("sparse_categorical_crossentropy")(ONEHOT, PROBS)
    with pytest.raises(ShapeError, match="same shape as y_pred"):
        losses.get("mse")(np.zeros((6, 3)), LOGITS)
    with pytest.raises(ShapeError, match="sample_weight"):
        losses.get("mse")(ONEHOT, LOGITS, sample_weight=np.ones(5))
    with pytest.raises(DataError, match="non-integer"):
        losses.get("sparse_categorical_crossentropy")(LABELS + 0.5, PROBS)
    with pytest.raises(ValueError, match="label"):
        losses.get("sparse_categorical_crossentropy")(LABELS + C, PROBS)


def test_names_aliases_and_config_round_trip():
    for name in ("mse", "MSE", "mean_squared_error", "MeanSquaredError"):
        assert isinstance(losses.get(name), losses.MeanSquaredError)
    assert isinstance(losses.get("mae"), losses.MeanAbsoluteError)
    assert isinstance(losses.get("huber"), losses.Huber)
    assert losses.get("mse").name == "mean_squared_error"
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, name="cce")
    again = losses.deserialize(json.loads(json.dumps(losses.serialize(loss))))
    assert again.get_config() == loss.get_config() and again.from_logits
    with pytest.raises(ConfigError, match="label_smoothing"):
        losses.CategoricalCrossentropy(label_smoothing=2)
    with pytest.raises(ConfigError, match="plain function has no gradient"):
        losses.get(lambda y_true, y_pred: 0.0)


def test_logits_variant_fuses_softmax_and_sigmoid():
    fused = losses.get("categorical_crossentropy").logits_variant("softmax")
    assert fused.from_logits and fused(ONEHOT, LOGITS) == pytest.approx(losses.get("categorical_crossentropy")(ONEHOT, PROBS))
    assert losses.get("sparse_categorical_crossentropy").logits_variant("softmax").from_logits
    assert losses.get("binary_crossentropy").logits_variant("sigmoid").from_logits
    assert losses.get("binary_crossentropy").logits_variant("softmax") is None
    assert losses.get("mse").logits_variant("softmax") is None


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402


@settings(max_examples=50, deadline=None)
@given(logits=hnp.arrays(np.float32, (3, 4), elements=st.floats(-1e4, 1e4, width=32)),
       labels=hnp.arrays(np.int64, (3,), elements=st.integers(0, 3)))
def test_cross_entropies_stay_finite_for_any_logits(logits, labels):
    onehot = np.eye(4, dtype=np.float32)[labels]
    probs = np.clip(np.abs(logits) / 1e4, 0, 1)
    for loss, y_true, y_pred in [
        (losses.CategoricalCrossentropy(from_logits=True), onehot, logits),
        (losses.SparseCategoricalCrossentropy(from_logits=True), labels, logits),
        (losses.BinaryCrossentropy(from_logits=True), onehot, logits),
        (losses.BinaryCrossentropy(), onehot, probs),
        (losses.CategoricalCrossentropy(), onehot, probs + 1e-3),
    ]:
        value, grad = loss.forward_backward(y_true, y_pred)
        assert np.isfinite(value) and np.all(np.isfinite(grad))
