"""The issue-13 losses (KLDivergence, Poisson, LogCosh, the hinges, the focal cross-entropies)
against torch (values and autograd gradients) and Keras's documented examples; and the
lowercase loss and metric functions of corelib.losses / corelib.metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from corelib import losses, metrics
from corelib.errors import ConfigError, ShapeError

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(13)
N, C = 6, 4
LOGITS = RNG.standard_normal((N, C)) * 2
PROBS = np.exp(LOGITS) / np.exp(LOGITS).sum(1, keepdims=True)
ONEHOT = np.eye(C)[RNG.integers(0, C, N)]
SOFT = RNG.dirichlet(np.ones(C), N)  # probability targets
BIN_TARGET = RNG.integers(0, 2, (N, 3)).astype(np.float64)
BIN_PROBS = RNG.uniform(0.05, 0.95, (N, 3))
COUNTS = RNG.poisson(2.0, (N, 3)).astype(np.float64)
RATES = RNG.uniform(0.2, 4.0, (N, 3))
WEIGHTS = RNG.uniform(0.2, 2.0, N)
EPS = 1e-7


def _margins(target):
    """Predictions whose margins t * p stay away from the hinge's kink at 1."""
    sign = 2 * target - 1
    magnitude = np.where(RNG.random(target.shape) < 0.5, RNG.uniform(-1.5, 0.8, target.shape),
                         RNG.uniform(1.2, 2.5, target.shape))
    return magnitude * sign


HINGE_PRED = _margins(BIN_TARGET)


# -- torch references: per-sample values from a tensor of predictions ---------------------------------


def t_(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


def ref_kld(y, p):
    y = t_(y).clamp(EPS, 1.0)
    return F.kl_div(torch.log(p.clamp(EPS, 1.0)), y, reduction="none").sum(-1)


def ref_poisson(y, p):
    return F.poisson_nll_loss(p, t_(y), log_input=False, full=False, eps=EPS, reduction="none").mean(-1)


def ref_log_cosh(y, p):
    return torch.log(torch.cosh(p - t_(y))).mean(-1)


def _signed(y):
    y = t_(y)
    return 2 * y - 1 if bool(((y == 0) | (y == 1)).all()) else y


def ref_hinge(y, p):
    return torch.clamp(1 - _signed(y) * p, min=0).mean(-1)


def ref_squared_hinge(y, p):
    return (torch.clamp(1 - _signed(y) * p, min=0) ** 2).mean(-1)


def ref_categorical_hinge(y, p):
    y = t_(y)
    return torch.clamp(((1 - y) * p).max(-1).values - (y * p).sum(-1) + 1, min=0)


def ref_binary_focal(y, p, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                     label_smoothing=0.0):
    y = t_(y)
    if label_smoothing:
        y = y * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        prob = torch.sigmoid(p)
        bce = F.binary_cross_entropy_with_logits(p, y, reduction="none")
    else:
        prob = p
        bce = F.binary_cross_entropy(p.clamp(EPS, 1 - EPS), y, reduction="none")
    p_t = y * prob + (1 - y) * (1 - prob)
    focal = (1 - p_t) ** gamma * bce
    if apply_class_balancing:
        focal = (y * alpha + (1 - y) * (1 - alpha)) * focal
    return focal.mean(-1)


def ref_categorical_focal(y, p, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0):
    y = t_(y)
    if label_smoothing:
        y = y * (1 - label_smoothing) + label_smoothing / y.shape[-1]
    q = torch.softmax(p, -1) if from_logits else p
    q = (q / q.sum(-1, keepdim=True)).clamp(EPS, 1 - EPS)
    return (t_(alpha) * (1 - q) ** gamma * -y * torch.log(q)).sum(-1)


CASES = [
    ("kl_divergence", {}, SOFT, PROBS, ref_kld),
    ("kl_divergence", {}, ONEHOT, PROBS, ref_kld),
    ("poisson", {}, COUNTS, RATES, ref_poisson),
    ("log_cosh", {}, BIN_PROBS, LOGITS[:, :3] * 3, ref_log_cosh),
    ("hinge", {}, BIN_TARGET, HINGE_PRED, ref_hinge),
    ("hinge", {}, 2 * BIN_TARGET - 1, HINGE_PRED, ref_hinge),
    ("squared_hinge", {}, BIN_TARGET, HINGE_PRED, ref_squared_hinge),
    ("categorical_hinge", {}, ONEHOT, LOGITS, ref_categorical_hinge),
    ("binary_focal_crossentropy", {}, BIN_TARGET, BIN_PROBS, ref_binary_focal),
    ("binary_focal_crossentropy", {"gamma": 0.5, "apply_class_balancing": True, "alpha": 0.7},
     BIN_TARGET, BIN_PROBS, ref_binary_focal),
    ("binary_focal_crossentropy", {"from_logits": True, "label_smoothing": 0.2, "gamma": 3.0},
     BIN_TARGET, LOGITS[:, :3], ref_binary_focal),
    ("categorical_focal_crossentropy", {}, ONEHOT, PROBS, ref_categorical_focal),
    ("categorical_focal_crossentropy", {}, ONEHOT, PROBS * 3.0, ref_categorical_focal),  # normalised first
    ("categorical_focal_crossentropy", {"from_logits": True, "alpha": [0.1, 0.2, 0.3, 0.4], "gamma": 1.5,
                                        "label_smoothing": 0.1}, ONEHOT, LOGITS, ref_categorical_focal),
    ("categorical_focal_crossentropy", {"gamma": 0.0, "alpha": 1.0}, SOFT, PROBS, ref_categorical_focal),
]
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


def _torch_value_grad(ref, kwargs, y_true, y_pred, sample_weight=None):
    p = torch.tensor(y_pred, requires_grad=True)
    per = ref(y_true, p, **kwargs)
    value = (per * t_(sample_weight)).sum() / len(per) if sample_weight is not None else per.mean()
    value.backward()
    return float(value.detach()), p.grad.numpy(), per.detach().numpy()


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_value_and_gradient_match_torch(case, weighted):
    name, kwargs, y_true, y_pred, ref = case
    loss = losses.get({"class_name": name, "config": kwargs})
    w = WEIGHTS if weighted else None
    value, grad = loss.forward_backward(y_true, y_pred, w)
    ref_value, ref_grad, ref_per = _torch_value_grad(ref, kwargs, y_true, y_pred, w)
    assert value == pytest.approx(ref_value, rel=1e-10)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(loss.per_sample(y_true, y_pred), ref_per, rtol=1e-10, atol=1e-14)
    assert grad.shape == y_pred.shape and grad.dtype == y_pred.dtype


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float32_follows_float64(case):
    name, kwargs, y_true, y_pred, _ = case
    loss = losses.get({"class_name": name, "config": kwargs})
    v64, g64 = loss.forward_backward(y_true, y_pred)
    v32, g32 = loss.forward_backward(y_true, y_pred.astype(np.float32))
    assert g32.dtype == np.float32 and loss.per_sample(y_true, y_pred.astype(np.float32)).dtype == np.float32
    assert v32 == pytest.approx(v64, rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(g32, g64, rtol=2e-4, atol=1e-5)


def test_keras_documented_examples():
    # keras.losses.BinaryFocalCrossentropy and binary_focal_crossentropy docstrings
    y_true, y_pred = np.array([0, 1, 0, 0]), np.array([-18.6, 0.51, 2.94, -12.8])
    assert losses.BinaryFocalCrossentropy(gamma=2, from_logits=True)(y_true, y_pred) == pytest.approx(0.691, abs=5e-4)
    balanced = losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=2, from_logits=True)
    assert balanced(y_true, y_pred) == pytest.approx(0.51, abs=5e-3)
    y_true, y_pred = np.array([[0, 1], [0, 0]]), np.array([[-18.6, 0.51], [2.94, -12.8]])
    assert losses.BinaryFocalCrossentropy(gamma=3, from_logits=True)(y_true, y_pred) == pytest.approx(0.647, abs=5e-4)
    balanced = losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=3, from_logits=True)
    assert balanced(y_true, y_pred) == pytest.approx(0.482, abs=5e-4)
    focal = losses.BinaryFocalCrossentropy(gamma=3, from_logits=True)
    assert focal(y_true, y_pred, sample_weight=[0.8, 0.2]) == pytest.approx(0.133, abs=5e-4)
    np.testing.assert_allclose(losses.BinaryFocalCrossentropy(gamma=5, from_logits=True).per_sample(y_true, y_pred),
                               [0.0017, 1.1561], atol=5e-5)
    np.testing.assert_allclose(losses.binary_focal_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], gamma=2),
                               [0.330, 0.206], atol=5e-4)
    # keras.losses.CategoricalFocalCrossentropy docstring
    y_true, y_pred = [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
    cfc = losses.CategoricalFocalCrossentropy()
    assert cfc(y_true, y_pred) == pytest.approx(0.23315276, rel=1e-5)
    assert cfc(y_true, y_pred, sample_weight=np.array([0.3, 0.7])) == pytest.approx(0.1632, abs=5e-5)
    assert losses.CategoricalFocalCrossentropy(reduction="sum")(y_true, y_pred) == pytest.approx(0.46631, abs=5e-6)
    np.testing.assert_allclose(cfc.per_sample(y_true, y_pred), [3.2058331e-05, 4.6627346e-01], rtol=1e-5)


def test_hinge_converts_only_all_binary_batches():
    pred = np.array([[0.3, -0.8]])
    assert losses.hinge([[1.0, 0.0]], pred) == pytest.approx(np.mean([1 - 0.3, 1 - 0.8]))  # 0 -> -1
    assert losses.hinge([[1.0, -1.0]], pred) == pytest.approx(np.mean([1 - 0.3, 1 - 0.8]))
    assert losses.hinge([[0.5, 0.0]], pred) == pytest.approx(np.mean([1 - 0.15, 1.0]))  # not binary: kept


def test_extreme_inputs_stay_finite():
    for name, y_true, y_pred, kwargs in [
        ("kl_divergence", ONEHOT, ONEHOT, {}),
        ("kl_divergence", ONEHOT, 1.0 - ONEHOT, {}),
        ("poisson", COUNTS, np.zeros_like(COUNTS), {}),
        ("log_cosh", BIN_TARGET, BIN_TARGET * 1e4, {}),
        ("binary_focal_crossentropy", BIN_TARGET, BIN_TARGET, {}),
        ("binary_focal_crossentropy", BIN_TARGET, 1.0 - BIN_TARGET, {"gamma": 0.5}),
        ("binary_focal_crossentropy", BIN_TARGET, (1.0 - 2 * BIN_TARGET) * 1e4, {"from_logits": True}),
        ("categorical_focal_crossentropy", ONEHOT, ONEHOT, {}),
        ("categorical_focal_crossentropy", ONEHOT, LOGITS * 1e4, {"from_logits": True}),
    ]:
        for dtype in (np.float32, np.float64):
            loss = losses.get({"class_name": name, "config": kwargs})
            value, grad = loss.forward_backward(y_true, y_pred.astype(dtype))
            assert np.isfinite(value) and np.all(np.isfinite(grad)), (name, kwargs, dtype)


def test_focal_axis_moves_the_class_axis():
    y_true = np.moveaxis(np.stack([ONEHOT, ONEHOT[::-1]], 1), -1, 1)  # (N, C, 2)
    y_pred = np.moveaxis(np.stack([PROBS, PROBS[::-1]], 1), -1, 1)
    for cls in (losses.CategoricalFocalCrossentropy, losses.BinaryFocalCrossentropy):
        along = cls(axis=1)
        last = cls()
        w = WEIGHTS[:, None] * np.array([1.0, 0.5])
        value, grad = along.forward_backward(y_true, y_pred, w)
        ref_value, ref_grad = last.forward_backward(np.moveaxis(y_true, 1, -1), np.moveaxis(y_pred, 1, -1), w)
        assert value == pytest.approx(ref_value, rel=1e-12)
        np.testing.assert_allclose(grad, np.moveaxis(ref_grad, -1, 1), rtol=1e-12)
        assert grad.shape == y_pred.shape and grad.flags.c_contiguous
        assert along.per_sample(y_true, y_pred).shape == (N, 2)
    with pytest.raises(ConfigError, match="axis"):
        losses.CategoricalFocalCrossentropy(axis=5)(y_true, y_pred)
    with pytest.raises(ConfigError, match="axis must be an int"):
        losses.BinaryFocalCrossentropy(axis=True)


def test_logits_variants_equal_the_probability_losses():
    for name, y_true, activation, probs in [
        ("binary_focal_crossentropy", BIN_TARGET, "sigmoid", 1 / (1 + np.exp(-LOGITS[:, :3]))),
        ("categorical_focal_crossentropy", ONEHOT, "softmax", PROBS),
    ]:
        loss = losses.get(name)
        logits = LOGITS[:, :3] if activation == "sigmoid" else LOGITS
        fused = loss.logits_variant(activation)
        assert fused.from_logits and loss.logits_variant("relu") is None
        assert fused(y_true, logits) == pytest.approx(loss(y_true, probs), rel=1e-10)
    assert losses.get("kld").logits_variant("softmax") is None


def test_names_aliases_and_configs():
    expected = {
        "KLDivergence": ("kl_divergence", ["kld", "KLD", "kl_divergence"]),
        "Poisson": ("poisson", ["poisson"]),
        "LogCosh": ("log_cosh", ["log_cosh"]),
        "Hinge": ("hinge", ["hinge"]),
        "SquaredHinge": ("squared_hinge", ["squared_hinge"]),
        "CategoricalHinge": ("categorical_hinge", ["categorical_hinge"]),
        "BinaryFocalCrossentropy": ("binary_focal_crossentropy", ["binary_focal_crossentropy"]),
        "CategoricalFocalCrossentropy": ("categorical_focal_crossentropy", ["categorical_focal_crossentropy"]),
    }
    for class_name, (log_name, aliases) in expected.items():
        for identifier in [class_name, *aliases]:
            loss = losses.get(identifier)
            assert type(loss).__name__ == class_name and loss.name == log_name
    bfc = losses.BinaryFocalCrossentropy()
    assert bfc.get_config() == {"name": "binary_focal_crossentropy", "reduction": "sum_over_batch_size",
                                "apply_class_balancing": False, "alpha": 0.25, "gamma": 2.0, "from_logits": False,
                                "label_smoothing": 0.0, "axis": -1}
    cfc = losses.CategoricalFocalCrossentropy(alpha=[0.1, 0.9], gamma=1.0, from_logits=True, name="cf")
    again = losses.deserialize(json.loads(json.dumps(losses.serialize(cfc))))
    assert again.get_config() == cfc.get_config() and again.alpha == [0.1, 0.9]
    with pytest.raises(ConfigError, match="gamma"):
        losses.BinaryFocalCrossentropy(gamma=-1.0)
    with pytest.raises(ConfigError, match="alpha"):
        losses.BinaryFocalCrossentropy(alpha=1.5)
    with pytest.raises(ConfigError, match="label_smoothing"):
        losses.CategoricalFocalCrossentropy(label_smoothing=2.0)
    with pytest.raises(ConfigError, match="alpha has 2 class weights but y_pred has 4 classes"):
        losses.CategoricalFocalCrossentropy(alpha=[0.5, 0.5])(ONEHOT, PROBS)
    with pytest.raises(ShapeError, match="kl_divergence expects y_true with the same shape"):
        losses.get("kld")(ONEHOT[:, :2], PROBS)


def test_new_losses_train_a_model():
    from corelib import layers, models

    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 5))
    y = (x[:, :1] > 0).astype(np.float64)
    for loss in ("binary_focal_crossentropy", "hinge", "squared_hinge", "poisson", "log_cosh"):
        activation = "sigmoid" if loss in ("binary_focal_crossentropy", "poisson") else "linear"
        model = models.Sequential([layers.Dense(1, activation=activation, input_shape=(5,))])
        model.compile(optimizer="adam", loss=loss, metrics=["kld" if loss == "poisson" else "accuracy"])
        history = model.fit(x, y, epochs=15, batch_size=8, verbose=0).history
        assert history["loss"][-1] < history["loss"][0], loss


# -- the lowercase functions ----------------------------------------------------------------------------


FUNCTION_CASES = [
    ("mean_squared_error", "MeanSquaredError", {}, SOFT, PROBS),
    ("mse", "MeanSquaredError", {}, SOFT, PROBS),
    ("mean_absolute_error", "MeanAbsoluteError", {}, SOFT, PROBS),
    ("mae", "MeanAbsoluteError", {}, SOFT, PROBS),
    ("binary_crossentropy", "BinaryCrossentropy", {"label_smoothing": 0.1}, BIN_TARGET, BIN_PROBS),
    ("binary_crossentropy", "BinaryCrossentropy", {"from_logits": True}, BIN_TARGET, LOGITS[:, :3]),
    ("categorical_crossentropy", "CategoricalCrossentropy", {"from_logits": True}, ONEHOT, LOGITS),
    ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy", {}, ONEHOT.argmax(1), PROBS),
    ("huber", "Huber", {"delta": 0.5}, SOFT, LOGITS),
    ("kl_divergence", "KLDivergence", {}, SOFT, PROBS),
    ("kld", "KLDivergence", {}, SOFT, PROBS),
    ("poisson", "Poisson", {}, COUNTS, RATES),
    ("log_cosh", "LogCosh", {}, SOFT, LOGITS),
    ("hinge", "Hinge", {}, BIN_TARGET, HINGE_PRED),
    ("squared_hinge", "SquaredHinge", {}, BIN_TARGET, HINGE_PRED),
    ("categorical_hinge", "CategoricalHinge", {}, ONEHOT, LOGITS),
    ("binary_focal_crossentropy", "BinaryFocalCrossentropy", {"apply_class_balancing": True, "gamma": 1.0},
     BIN_TARGET, BIN_PROBS),
    ("categorical_focal_crossentropy", "CategoricalFocalCrossentropy", {"from_logits": True}, ONEHOT, LOGITS),
]


@pytest.mark.parametrize("fn_name, class_name, kwargs, y_true, y_pred", FUNCTION_CASES)
def test_loss_functions_give_the_class_per_sample_values(fn_name, class_name, kwargs, y_true, y_pred):
    fn = getattr(losses, fn_name)
    assert callable(fn) and not isinstance(fn, type)
    got = fn(y_true, y_pred, **kwargs)
    want = losses.get({"class_name": class_name, "config": kwargs}).per_sample(y_true, y_pred)
    assert got.shape == (N,)
    np.testing.assert_array_equal(got, want)
    if fn_name in metrics.__all__:
        np.testing.assert_array_equal(getattr(metrics, fn_name)(y_true, y_pred, **kwargs), want)


def test_loss_functions_follow_keras():
    # mean over the last axis: a 1-D input is one sample
    assert float(losses.mean_squared_error([1.0, 2.0], [0.0, 0.0])) == pytest.approx(2.5)
    assert np.shape(losses.mean_squared_error([1.0, 2.0], [0.0, 0.0])) == ()
    y_true, y_pred = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.6, 0.4], [0.4, 0.6]])
    np.testing.assert_allclose(losses.binary_crossentropy(y_true, y_pred), [0.916, 0.714], atol=5e-4)
    np.testing.assert_allclose(losses.categorical_crossentropy([[0, 1, 0], [0, 0, 1]],
                                                               [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]),
                               [0.0513, 2.303], atol=5e-4)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]),
                               [0.0513, 2.303], atol=5e-4)
    # axis: the class axis first
    z = LOGITS.T.copy()
    np.testing.assert_allclose(losses.categorical_crossentropy(ONEHOT.T, z, from_logits=True, axis=0),
                               losses.categorical_crossentropy(ONEHOT, LOGITS, from_logits=True), rtol=1e-12)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(ONEHOT.argmax(1), z, axis=0, from_logits=True),
                               losses.sparse_categorical_crossentropy(ONEHOT.argmax(1), LOGITS, from_logits=True),
                               rtol=1e-12)
    with pytest.raises(ConfigError, match="axis must be an int"):
        losses.binary_crossentropy(BIN_TARGET, BIN_PROBS, axis=2)
    with pytest.raises(ConfigError, match="ignore_class is not supported"):
        losses.sparse_categorical_crossentropy([1, 2], PROBS[:2], ignore_class=0)


def test_compile_strings_still_name_the_classes():
    assert isinstance(losses.get("mean_squared_error"), losses.MeanSquaredError)
    assert isinstance(losses.get("kl_divergence"), losses.KLDivergence)
    assert isinstance(metrics.get("mean_squared_error"), metrics.MeanSquaredError)
    assert metrics.get("binary_accuracy").name == "binary_accuracy"
    # a registered name without a function is still the registered object
    assert losses.huber_loss is losses.Huber


def test_metric_functions_follow_keras():
    # Keras 3 returns one value per entry (not per sample) from binary_accuracy
    np.testing.assert_array_equal(metrics.binary_accuracy([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]]),
                                  [[1.0], [1.0], [1.0], [0.0]])
    np.testing.assert_array_equal(metrics.binary_accuracy([[1, 0]], [[0.3, 0.2]], threshold=0.35), [[0.0, 1.0]])
    y_true, y_pred = [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]
    np.testing.assert_array_equal(metrics.categorical_accuracy(y_true, y_pred), [0.0, 1.0])
    np.testing.assert_array_equal(metrics.top_k_categorical_accuracy(y_true, y_pred, k=1), [0.0, 1.0])
    np.testing.assert_array_equal(metrics.top_k_categorical_accuracy(y_true, y_pred, k=2), [1.0, 1.0])
    sparse_pred = [[0.1, 0.6, 0.3], [0.05, 0.95, 0]]
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy([[2], [1]], sparse_pred), [0.0, 1.0])
    np.testing.assert_array_equal(metrics.sparse_top_k_categorical_accuracy([2, 1], sparse_pred, k=2), [1.0, 1.0])
    assert metrics.categorical_accuracy(y_true, np.asarray(y_pred, np.float64)).dtype == np.float64
    assert metrics.categorical_accuracy(y_true, np.asarray(y_pred, np.float32)).dtype == np.float32


def test_metric_functions_equal_the_metric_classes_and_compile():
    labels = ONEHOT.argmax(1)
    for fn, metric, y_true in [
        (metrics.binary_accuracy, "BinaryAccuracy", BIN_TARGET),
        (metrics.categorical_accuracy, "CategoricalAccuracy", ONEHOT),
        (metrics.sparse_categorical_accuracy, "SparseCategoricalAccuracy", labels),
        (metrics.top_k_categorical_accuracy, "TopKCategoricalAccuracy", ONEHOT),
        (metrics.sparse_top_k_categorical_accuracy, "SparseTopKCategoricalAccuracy", labels),
    ]:
        y_pred = BIN_PROBS if metric == "BinaryAccuracy" else PROBS
        kwargs = {"k": 2} if "TopK" in metric else {}
        m = metrics.get({"class_name": metric, "config": kwargs})
        m.update_state(y_true, y_pred, sample_weight=WEIGHTS)
        values = fn(y_true, y_pred, **kwargs)
        if metric == "BinaryAccuracy":  # one value per entry, as Keras 3: the class averages each row
            assert values.shape == y_pred.shape
            values = values.mean(axis=-1)
        assert values.shape == (N,)
        assert m.result() == pytest.approx(float(np.dot(values, WEIGHTS) / WEIGHTS.sum()), rel=1e-12)
        wrapped = metrics.get(fn)  # a function is a metric too, named after it
        assert wrapped.name == fn.__name__
