"""dl against Keras 3 itself (its torch backend) on the same inputs (issue 13).

Every test builds the Keras object and the dl object with the same arguments
(and, for layers and models, the same weights, copied from Keras with
`set_weights`: the two use one weight layout), feeds both the same data and
compares what comes out: pad_sequences, losses (values and gradients), metrics,
optimizer steps, layers (outputs, input and weight gradients), a functional
model with a nested Sequential, and `fit`'s History.

Precision. Keras follows JAX's default of computing 64-bit inputs in 32 bits
(`keras.backend.result_type` maps float64 to float32, so `ops.mean`,
`ops.matmul` and the layer norm round to float32 even on float64 data). The
`k64` fixture turns that off for the test (the equivalent of JAX's
`jax_enable_x64`) and sets Keras's floatx to float64, so both sides compute in
float64 and most comparisons hold to 1e-12. Where Keras still rounds to float32
inside (weighted AUC counts) the tolerance says so.

Keras is imported only inside the fixtures: it imports `colorsys`, which
tests/test_model_file_safety.py checks is absent when the suite is collected.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import corelib
from corelib import layers, losses, metrics, models, optimizers
from corelib.layers.base import Parameter
from corelib.utils import pad_sequences

TIGHT = dict(rtol=1e-12, atol=1e-12)  # float64 on both sides

# Keras 3.15 on NumPy 2 warns from inside its own array conversions.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


# -- fixtures ------------------------------------------------------------------------------------


@contextlib.contextmanager
def keras_dtype(keras, dtype: str):
    """Keras's floatx and its global dtype policy both `dtype` (the policy is cached on first use)."""
    previous = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(previous[0])
        keras.config.set_dtype_policy(previous[1])


@pytest.fixture
def k64(keras, monkeypatch):
    """Keras computing in float64 throughout (floatx float64, no 64-to-32-bit demotion)."""
    from keras.src.backend.common import dtypes

    monkeypatch.setattr(dtypes, "BIT64_TO_BIT32_DTYPE", {})
    with keras_dtype(keras, "float64"):
        yield keras


@pytest.fixture
def k32(keras):
    """Keras with its default floatx, float32."""
    with keras_dtype(keras, "float32"):
        yield keras


def _np(t) -> np.ndarray:
    """A torch tensor, a Keras variable or an array as a NumPy array."""
    if hasattr(t, "detach"):
        return t.detach().cpu().numpy()
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


# -- utils.pad_sequences ---------------------------------------------------------------------------


def _random_sequences(rng, case: int):
    """A list of sequences (lists, arrays, or sequences of vectors) and pad_sequences kwargs."""
    n = int(rng.integers(1, 7))
    vector = case % 5 in (1, 3)
    dtype = ["int32", "int64", "float32", "float64"][case % 4]
    floats = dtype.startswith("float") or case % 5 == 0  # float data into an int dtype truncates on both sides
    seqs = []
    for _ in range(n):
        length = int(rng.integers(0, 8))
        shape = (length, 2) if vector else (length,)
        data = rng.normal(0, 5, shape) if floats else rng.integers(1, 50, shape)
        seqs.append(data if case % 3 == 0 else data.tolist())
    kwargs = {"dtype": dtype, "padding": ["pre", "post"][int(rng.integers(2))],
              "truncating": ["pre", "post"][int(rng.integers(2))]}
    if rng.random() < 0.7 or all(len(s) == 0 for s in seqs):
        kwargs["maxlen"] = int(rng.integers(1, 9))
    if rng.random() < 0.6:
        kwargs["value"] = float(rng.normal(0, 3)) if dtype.startswith("float") else int(rng.integers(-3, 4))
    return seqs, kwargs


@pytest.mark.parametrize("case", range(30))
def test_pad_sequences_matches_keras(keras, case):
    seqs, kwargs = _random_sequences(np.random.default_rng(case), case)
    expected = keras.utils.pad_sequences(seqs, **kwargs)
    got = pad_sequences(seqs, **kwargs)
    assert got.dtype == expected.dtype and got.shape == expected.shape, (kwargs, got.shape, expected.shape)
    np.testing.assert_array_equal(got, expected)


def test_pad_sequences_of_strings_matches_keras(keras):
    seqs = [["a", "b"], [], ["c", "d", "e", "f"], ["g"]]
    for padding in ("pre", "post"):
        kwargs = dict(maxlen=3, dtype=object, padding=padding, truncating="post", value="<pad>")
        np.testing.assert_array_equal(pad_sequences(seqs, **kwargs), keras.utils.pad_sequences(seqs, **kwargs))


# -- losses ----------------------------------------------------------------------------------------

N, C = 7, 5


def _loss_data():
    rng = np.random.default_rng(13)
    logits = rng.standard_normal((N, C)) * 2
    binary = rng.integers(0, 2, (N, C)).astype(np.float64)
    onehot = np.eye(C)[rng.integers(0, C, N)]
    return {
        "logits": logits,
        "probs": np.exp(logits) / np.exp(logits).sum(1, keepdims=True),
        "onehot": onehot,
        "labels": onehot.argmax(1),
        "soft": rng.dirichlet(np.ones(C), N),
        "binary": binary,
        "signs": 2 * binary - 1,
        "bprobs": rng.uniform(0.02, 0.98, (N, C)),
        "target": rng.standard_normal((N, C)),
        "pred": rng.standard_normal((N, C)) * 1.5,
        "counts": rng.poisson(2.0, (N, C)).astype(np.float64),
        "rates": rng.uniform(0.1, 4.0, (N, C)),
        "weights": rng.uniform(0.1, 2.0, N),
    }


LOSS_CASES = [
    # (class name, kwargs, y_true key, y_pred key)
    ("MeanSquaredError", {}, "target", "pred"),
    ("MeanAbsoluteError", {}, "target", "pred"),
    ("Huber", {"delta": 0.7}, "target", "pred"),
    ("BinaryCrossentropy", {}, "binary", "bprobs"),
    ("BinaryCrossentropy", {"label_smoothing": 0.2}, "binary", "bprobs"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "binary", "pred"),
    ("CategoricalCrossentropy", {}, "soft", "probs"),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "onehot", "logits"),
    ("SparseCategoricalCrossentropy", {}, "labels", "probs"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "labels", "logits"),
    ("KLDivergence", {}, "soft", "probs"),
    ("Poisson", {}, "counts", "rates"),
    ("LogCosh", {}, "target", "pred"),
    ("Hinge", {}, "binary", "pred"),  # 0/1 targets become -1/1
    ("Hinge", {}, "signs", "pred"),
    ("SquaredHinge", {}, "binary", "pred"),
    ("SquaredHinge", {}, "signs", "pred"),
    ("CategoricalHinge", {}, "onehot", "pred"),
    ("BinaryFocalCrossentropy", {}, "binary", "bprobs"),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5}, "binary", "bprobs"),
    ("BinaryFocalCrossentropy", {"label_smoothing": 0.1, "gamma": 3.0}, "binary", "bprobs"),
    ("BinaryFocalCrossentropy", {"from_logits": True}, "binary", "pred"),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "from_logits": True, "label_smoothing": 0.1},
     "binary", "pred"),
    ("CategoricalFocalCrossentropy", {}, "onehot", "probs"),
    ("CategoricalFocalCrossentropy", {"alpha": 0.5, "gamma": 3.0, "label_smoothing": 0.1}, "soft", "probs"),
    ("CategoricalFocalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "onehot", "logits"),
]


@pytest.mark.parametrize("name,kwargs,true_key,pred_key", LOSS_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(LOSS_CASES)])
def test_loss_matches_keras(k64, name, kwargs, true_key, pred_key):
    """Per-sample values, the weighted reduced value and its gradient, in float64 (rtol 1e-12)."""
    import torch

    data = _loss_data()
    y_true, y_pred, w = data[true_key], data[pred_key], data["weights"]
    ours = getattr(losses, name)(**kwargs)

    theirs_per_sample = getattr(k64.losses, name)(**kwargs, reduction=None)(y_true, y_pred)
    np.testing.assert_allclose(ours.per_sample(y_true, y_pred), _np(theirs_per_sample), **TIGHT)

    for reduction in ("sum_over_batch_size", "sum"):
        pred_t = torch.tensor(y_pred, requires_grad=True)
        value_t = getattr(k64.losses, name)(**kwargs, reduction=reduction)(y_true, pred_t, sample_weight=w)
        value_t.backward()
        value, grad = getattr(losses, name)(**kwargs, reduction=reduction).forward_backward(y_true, y_pred, w)
        np.testing.assert_allclose(value, float(value_t.detach()), **TIGHT)
        np.testing.assert_allclose(grad, _np(pred_t.grad), **TIGHT)


def test_losses_on_sequences_weigh_every_step_like_keras(k64):
    """y_pred (N, T, D) gives N * T losses; weights (N, 1) weigh all steps of a sample, and so do
    weights (N,) in dl (Keras 3's Loss refuses those unless T is 1; Keras 2 documented them)."""
    rng = np.random.default_rng(3)
    y_true, y_pred = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 2))
    w = rng.uniform(0.2, 2.0, (4, 1))
    for name in ("MeanSquaredError", "LogCosh", "Huber"):
        expected = float(getattr(k64.losses, name)()(y_true, y_pred, sample_weight=w))
        for weights in (w, w[:, 0]):
            np.testing.assert_allclose(getattr(losses, name)()(y_true, y_pred, sample_weight=weights), expected,
                                       **TIGHT)


KERAS_2_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "kld": "kl_divergence"}

LOSS_FUNCTIONS = [
    # (function name, kwargs, y_true key, y_pred key)
    ("mean_squared_error", {}, "target", "pred"),
    ("mse", {}, "target", "pred"),
    ("mean_absolute_error", {}, "target", "pred"),
    ("mae", {}, "target", "pred"),
    ("huber", {"delta": 0.5}, "target", "pred"),
    ("binary_crossentropy", {}, "binary", "bprobs"),
    ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.2}, "binary", "pred"),
    ("categorical_crossentropy", {}, "soft", "probs"),
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, "onehot", "logits"),
    ("sparse_categorical_crossentropy", {}, "labels", "probs"),
    ("sparse_categorical_crossentropy", {"from_logits": True}, "labels", "logits"),
    ("kl_divergence", {}, "soft", "probs"),
    ("kld", {}, "soft", "probs"),
    ("poisson", {}, "counts", "rates"),
    ("log_cosh", {}, "target", "pred"),
    ("hinge", {}, "binary", "pred"),
    ("squared_hinge", {}, "signs", "pred"),
    ("categorical_hinge", {}, "onehot", "pred"),
    ("binary_focal_crossentropy", {"apply_class_balancing": True, "gamma": 1.0}, "binary", "bprobs"),
    ("binary_focal_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, "binary", "pred"),
    ("categorical_focal_crossentropy", {"alpha": 0.3, "gamma": 1.5}, "onehot", "probs"),
    ("categorical_focal_crossentropy", {"from_logits": True}, "onehot", "logits"),
]


@pytest.mark.parametrize("name,kwargs,true_key,pred_key", LOSS_FUNCTIONS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(LOSS_FUNCTIONS)])
def test_loss_function_matches_keras(k64, name, kwargs, true_key, pred_key):
    """corelib.losses.<fn>(y_true, y_pred): per-sample values as keras.losses.<fn>, also for one 1-D sample."""
    data = _loss_data()
    y_true, y_pred = data[true_key], data[pred_key]
    # Keras 3 keeps the short names only as legacy aliases (keras._legacy.losses.mse)
    ours, theirs = getattr(losses, name), getattr(k64.losses, KERAS_2_ALIASES.get(name, name))
    np.testing.assert_allclose(ours(y_true, y_pred, **kwargs), _np(theirs(y_true, y_pred, **kwargs)), **TIGHT)
    if name != "sparse_categorical_crossentropy":
        one = ours(y_true[0], y_pred[0], **kwargs)
        assert np.shape(one) == ()
        np.testing.assert_allclose(one, _np(theirs(y_true[0], y_pred[0], **kwargs)), **TIGHT)


@pytest.mark.parametrize("name", ["binary_crossentropy", "categorical_crossentropy", "binary_focal_crossentropy",
                                  "categorical_focal_crossentropy"])
def test_loss_function_axis_matches_keras(k64, name):
    """The class axis given as `axis=1` of (N, C, T) data."""
    rng = np.random.default_rng(5)
    y_pred = rng.dirichlet(np.ones(4), (6, 3)).transpose(0, 2, 1)  # (6, 4, 3), probabilities along axis 1
    y_true = np.eye(4)[rng.integers(0, 4, (6, 3))].transpose(0, 2, 1)
    expected = _np(getattr(k64.losses, name)(y_true, y_pred, axis=1))
    np.testing.assert_allclose(getattr(losses, name)(y_true, y_pred, axis=1), expected, **TIGHT)


# -- metrics ---------------------------------------------------------------------------------------


def _metric_batches(kind: str, seed: int):
    """Three batches (y_true, y_pred, sample_weight) of one kind of data."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(3):
        if kind == "binary":
            y, p = rng.integers(0, 2, (20, 4)).astype(np.float64), rng.uniform(0, 1, (20, 4))
        elif kind == "logits":
            y, p = rng.integers(0, 2, (20, 4)).astype(np.float64), rng.standard_normal((20, 4)) * 2
        elif kind == "onehot":
            y, p = np.eye(4)[rng.integers(0, 4, 20)], rng.dirichlet(np.ones(4), 20)
        elif kind == "multihot":
            y, p = rng.integers(0, 2, (20, 4)).astype(np.float64), rng.dirichlet(np.ones(4), 20)
        elif kind == "sparse":
            y, p = rng.integers(0, 4, 20), rng.dirichlet(np.ones(4), 20)
        else:  # regression
            y = rng.standard_normal((20, 3))
            p = y + 0.7 * rng.standard_normal((20, 3))
        out.append((y, p, rng.uniform(0.1, 2.0, 20)))
    return out


METRIC_CASES = [
    # (class name, kwargs, kind of data)
    ("AUC", {}, "binary"),
    ("AUC", {"curve": "PR"}, "binary"),
    ("AUC", {"num_thresholds": 13}, "binary"),
    ("AUC", {"num_thresholds": 13, "curve": "PR"}, "binary"),
    ("AUC", {"summation_method": "minoring"}, "binary"),
    ("AUC", {"summation_method": "majoring", "curve": "PR"}, "binary"),
    ("AUC", {"thresholds": [0.2, 0.5, 0.7]}, "binary"),
    ("AUC", {"multi_label": True, "num_labels": 4}, "binary"),
    ("AUC", {"multi_label": True, "curve": "PR"}, "binary"),
    ("AUC", {"multi_label": True, "label_weights": [0.1, 0.5, 1.0, 2.0]}, "binary"),
    ("AUC", {"label_weights": [0.1, 0.5, 1.0, 2.0]}, "binary"),
    ("AUC", {"from_logits": True}, "logits"),
    ("Precision", {}, "binary"),
    ("Precision", {"thresholds": [0.3, 0.5, 0.8]}, "binary"),
    ("Precision", {"top_k": 2}, "binary"),
    ("Precision", {"class_id": 2}, "binary"),
    ("Precision", {"class_id": 1, "top_k": 2, "thresholds": 0.3}, "binary"),
    ("Precision", {"top_k": 3, "thresholds": [0.2, 0.6]}, "binary"),
    ("Recall", {}, "binary"),
    ("Recall", {"thresholds": [0.3, 0.5, 0.8]}, "binary"),
    ("Recall", {"top_k": 2}, "binary"),
    ("Recall", {"class_id": 3}, "binary"),
    ("Recall", {"class_id": 0, "top_k": 1}, "binary"),
    ("F1Score", {}, "onehot"),
    ("F1Score", {"average": "micro"}, "onehot"),
    ("F1Score", {"average": "macro"}, "onehot"),
    ("F1Score", {"average": "weighted"}, "onehot"),
    ("F1Score", {"threshold": 0.3}, "multihot"),
    ("F1Score", {"average": "macro", "threshold": 0.3}, "multihot"),
    ("FBetaScore", {"beta": 2.0}, "onehot"),
    ("FBetaScore", {"beta": 0.5, "average": "micro", "threshold": 0.4}, "multihot"),
    ("FBetaScore", {"beta": 2.0, "average": "macro"}, "onehot"),
    ("FBetaScore", {"beta": 2.0, "average": "weighted", "threshold": 0.25}, "multihot"),
    ("R2Score", {}, "regression"),
    ("R2Score", {"class_aggregation": "variance_weighted_average"}, "regression"),
    ("R2Score", {"class_aggregation": None}, "regression"),
    ("R2Score", {"num_regressors": 2}, "regression"),
    ("BinaryAccuracy", {}, "binary"),
    ("BinaryAccuracy", {"threshold": 0.7}, "binary"),
    ("CategoricalAccuracy", {}, "onehot"),
    ("SparseCategoricalAccuracy", {}, "sparse"),
    ("TopKCategoricalAccuracy", {"k": 2}, "onehot"),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse"),
    ("MeanAbsoluteError", {}, "regression"),
    ("MeanSquaredError", {}, "regression"),
    ("RootMeanSquaredError", {}, "regression"),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("name,kwargs,kind", METRIC_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(METRIC_CASES)])
def test_metric_matches_keras(k64, name, kwargs, kind, weighted):
    """result() after three update_state batches equals Keras's (1e-12; weighted AUC 1e-7, see below)."""
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(k64.metrics, name)(**kwargs)
    for y_true, y_pred, w in _metric_batches(kind, seed=len(name) + len(kwargs)):
        ours.update_state(y_true, y_pred, sample_weight=w if weighted else None)
        theirs.update_state(y_true, y_pred, sample_weight=w if weighted else None)
    expected = _np(theirs.result())
    # Keras accumulates AUC's weighted confusion counts (sample or label weights) at float32
    # precision even in float64: relative error about 3e-7 on the counts, where dl's equal a
    # float64 NumPy sum to 1e-14.
    tolerance = dict(rtol=0, atol=1e-7) if name == "AUC" and (weighted or "label_weights" in kwargs) else TIGHT
    got = np.asarray(ours.result())
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, **tolerance)


def test_accuracy_class_matches_keras_on_its_documented_example(k64):
    y_true, y_pred = [[1], [2], [3], [4]], [[0], [2], [3], [4]]
    for weights in (None, [1, 1, 0, 0]):
        ours, theirs = metrics.Accuracy(), k64.metrics.Accuracy()
        ours.update_state(y_true, y_pred, sample_weight=weights)
        theirs.update_state(np.array(y_true), np.array(y_pred), sample_weight=weights)
        np.testing.assert_allclose(ours.result(), _np(theirs.result()), **TIGHT)


def test_accuracy_class_counts_exact_matches_like_keras(k64):
    y_true, y_pred = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[0.3, 0.7], [0.6, 0.4]])
    ours, theirs = metrics.Accuracy(), k64.metrics.Accuracy()
    ours.update_state(y_true, y_pred)
    theirs.update_state(y_true, y_pred)
    assert float(_np(theirs.result())) == 0.0  # no entry of y_pred equals its target
    np.testing.assert_allclose(ours.result(), _np(theirs.result()), **TIGHT)


METRIC_FUNCTIONS = [
    ("binary_accuracy", {}, "binary"),
    ("binary_accuracy", {"threshold": 0.3}, "binary"),
    ("categorical_accuracy", {}, "onehot"),
    ("sparse_categorical_accuracy", {}, "sparse"),
    ("top_k_categorical_accuracy", {"k": 2}, "onehot"),
    ("sparse_top_k_categorical_accuracy", {"k": 3}, "sparse"),
    ("mean_squared_error", {}, "regression"),
    ("binary_crossentropy", {}, "binary"),
]


@pytest.mark.parametrize("name,kwargs,kind", METRIC_FUNCTIONS, ids=[f"{c[0]}-{i}" for i, c in enumerate(METRIC_FUNCTIONS)])
def test_metric_function_matches_keras(k64, name, kwargs, kind):
    y_true, y_pred, _ = _metric_batches(kind, seed=7)[0]
    expected = _np(getattr(k64.metrics, name)(y_true, y_pred, **kwargs))
    if name == "binary_accuracy":  # Keras 3 gives one value per entry here; so does dl
        assert expected.shape == y_pred.shape
    np.testing.assert_allclose(getattr(metrics, name)(y_true, y_pred, **kwargs), expected, **TIGHT)


# -- optimizers --------------------------------------------------------------------------------------

OPT_SHAPES = [(4, 3), (5,)]

OPTIMIZER_CASES = [
    ("Adamax", {}),
    ("Adamax", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-3}),
    ("Adadelta", {}),
    ("Adadelta", {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6}),
    ("Lion", {}),
    ("Lion", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.9}),
    ("Ftrl", {}),
    ("Ftrl", {"learning_rate": 0.1, "learning_rate_power": -0.7, "initial_accumulator_value": 0.3,
              "l1_regularization_strength": 0.01, "l2_regularization_strength": 0.02,
              "l2_shrinkage_regularization_strength": 0.03, "beta": 0.5}),
    ("Ftrl", {"learning_rate": 0.05, "l1_regularization_strength": 0.5}),  # l1 big enough to zero entries
    ("Adam", {}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    ("AdamW", {"learning_rate": 0.01}),
    ("RMSprop", {}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.9, "centered": True}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"learning_rate": 0.1, "weight_decay": 0.1}),
    ("Nadam", {}),
    ("Nadam", {"learning_rate": 0.01, "beta_1": 0.8}),
    ("Adagrad", {}),
    ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5}),
    ("Adam", {"clipnorm": 1.0}),
    ("Adam", {"global_clipnorm": 1.0}),
    ("SGD", {"learning_rate": 0.1, "clipvalue": 0.5}),
]


def _optimizer_run(keras, name: str, kwargs: dict, dtype: str, steps: int = 5):
    """The same starting weights and gradient sequence through dl's and Keras's optimizer."""
    import torch

    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s).astype(dtype) for s in OPT_SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in OPT_SHAPES] for _ in range(steps)]
    params = [Parameter(w.copy(), f"w{i}") for i, w in enumerate(start)]
    variables = [keras.Variable(w.copy(), dtype=dtype) for w in start]
    ours, theirs = _make(optimizers, name, kwargs), _make(keras.optimizers, name, kwargs)
    for step in grads:
        for p, g in zip(params, step):
            p.grad[...] = g
        ours.apply(params)
        theirs.apply_gradients([(torch.tensor(g), v) for g, v in zip(step, variables)])
    assert ours.iterations == int(_np(theirs.iterations)) == steps
    moved = max(float(np.abs(p.value - w).max()) for p, w in zip(params, start))
    assert moved > 0
    return [p.value for p in params], [_np(v.value) for v in variables], moved


def _make(module, name: str, kwargs: dict):
    kwargs = dict(kwargs)
    schedule = kwargs.pop("schedule", None)
    if schedule is not None:
        kwargs["learning_rate"] = getattr(module.schedules, schedule[0])(**schedule[1])
    return getattr(module, name)(**kwargs)


@pytest.mark.parametrize("name,kwargs", OPTIMIZER_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(OPTIMIZER_CASES)])
def test_optimizer_steps_match_keras(k64, name, kwargs):
    """Five steps in float64: the weights agree to 1e-12."""
    ours, theirs, _ = _optimizer_run(k64, name, kwargs, "float64")
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, **TIGHT)


@pytest.mark.parametrize("name", ["Adamax", "Adadelta", "Lion", "Ftrl", "Adam", "RMSprop", "Nadam", "Adagrad"])
def test_optimizer_steps_match_keras_in_float32(k32, name):
    """The float32 kernels: within float32 rounding of the distance moved (1e-5 relative)."""
    ours, theirs, moved = _optimizer_run(k32, name, {}, "float32")
    for a, b in zip(ours, theirs):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * moved + 1e-7)


@pytest.mark.parametrize("schedule", [
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5}),
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5, "staircase": True}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.7}),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 4, "alpha": 0.1}),
    ("PiecewiseConstantDecay", {"boundaries": [1, 3], "values": [0.1, 0.05, 0.01]}),
], ids=lambda s: s[0])
def test_learning_rate_schedules_match_keras(k64, schedule):
    ours, theirs, _ = _optimizer_run(k64, "SGD", {"schedule": schedule, "momentum": 0.5}, "float64")
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, **TIGHT)


# -- layers ------------------------------------------------------------------------------------------


def _compare_layer(theirs, ours, x, seed=0, same_names=True):
    """Keras layer vs dl layer with Keras's weights: output, input gradient and weight gradients."""
    import torch

    x_t = torch.tensor(x, requires_grad=True)
    y_t = theirs(x_t)
    dy = np.random.default_rng(seed).standard_normal(tuple(y_t.shape))
    (y_t * torch.tensor(dy)).sum().backward()

    ours.ensure_built((None,) + x.shape[1:])
    ours.set_weights(theirs.get_weights())
    y, backprop = ours.forward(x, training=False)
    for p in ours.weights:
        p.grad[...] = 0
    dx = backprop(dy)
    np.testing.assert_allclose(y, _np(y_t), **TIGHT)
    np.testing.assert_allclose(dx, _np(x_t.grad), **TIGHT)
    assert len(ours.trainable_weights) == len(theirs.trainable_weights)
    if same_names:
        assert [p.name for p in ours.trainable_weights] == [v.name for v in theirs.trainable_weights]
    for p, v in zip(ours.trainable_weights, theirs.trainable_weights):
        np.testing.assert_allclose(p.grad, _np(v.value.grad), **TIGHT)


LAYER_CASES = [
    # (Keras class name, kwargs, input shape, dl kwargs when they differ)
    ("ReLU", {}, (4, 5), None),
    ("ReLU", {"max_value": 0.8, "negative_slope": 0.1, "threshold": 0.3}, (4, 5), None),
    ("ReLU", {"max_value": 1.0}, (4, 3, 5), None),
    ("ReLU", {"negative_slope": 0.2, "threshold": 0.5}, (4, 5), None),
    ("LeakyReLU", {}, (4, 5), None),
    ("LeakyReLU", {"negative_slope": 0.05}, (4, 3, 5), None),
    ("PReLU", {"alpha_initializer": ("uniform", 0.0, 0.5)}, (4, 6, 5), None),
    ("PReLU", {"alpha_initializer": ("uniform", 0.0, 0.5), "shared_axes": [1, 2]}, (2, 3, 4, 5), None),
    ("ELU", {}, (4, 5), None),
    ("ELU", {"alpha": 0.4}, (4, 3, 5), None),
    ("Softmax", {}, (4, 5), None),
    ("Softmax", {"axis": 1}, (3, 4, 5), None),
    ("Softmax", {"axis": [1, 2]}, (3, 4, 5), None),
    ("LayerNormalization", {"beta_initializer": "random_normal", "gamma_initializer": "random_normal"}, (4, 5), None),
    ("LayerNormalization", {"axis": [1, 2], "epsilon": 1e-5, "beta_initializer": "random_normal",
                            "gamma_initializer": "random_normal"}, (4, 3, 5), None),
    ("LayerNormalization", {"center": False, "gamma_initializer": "random_normal"}, (4, 3, 5), None),
    ("LayerNormalization", {"scale": False, "beta_initializer": "random_normal"}, (4, 3, 5), None),
    # Keras 3.15 deprecated rms_scaling (its code divides by the standard deviation, as its warning
    # says); dl's rms_scaling is the root-mean-square scaling Keras documented, Keras's RMSNormalization.
    ("RMSNormalization", {"epsilon": 1e-4}, (4, 3, 5), ("LayerNormalization", {"rms_scaling": True, "epsilon": 1e-4})),
    ("RMSNormalization", {"axis": [1, 2], "epsilon": 1e-3}, (4, 3, 5),
     ("LayerNormalization", {"rms_scaling": True, "axis": [1, 2]})),
    ("Rescaling", {"scale": 1 / 255, "offset": -0.5}, (2, 4, 4, 3), None),
    ("Rescaling", {"scale": [0.5, 2.0, 3.0], "offset": [0.1, 0.2, 0.3]}, (2, 4, 4, 3), None),
    ("Dense", {"units": 4, "activation": "tanh", "bias_initializer": "random_normal"}, (3, 5), None),
    ("Dense", {"units": 4, "bias_initializer": "random_normal"}, (3, 2, 5), None),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu",
                "bias_initializer": "random_normal"}, (2, 7, 6, 3), None),
    ("Conv2D", {"filters": 4, "kernel_size": (2, 3), "dilation_rate": 2, "bias_initializer": "random_normal"},
     (2, 7, 8, 3), None),
    ("LSTM", {"units": 4, "bias_initializer": "random_normal"}, (2, 5, 3), None),
    ("LSTM", {"units": 4, "return_sequences": True, "go_backwards": True}, (2, 5, 3), None),
    ("GRU", {"units": 4, "bias_initializer": "random_normal"}, (2, 5, 3), None),
    ("GRU", {"units": 4, "reset_after": False, "return_sequences": True, "bias_initializer": "random_normal"},
     (2, 5, 3), None),
]

CONV_TRANSPOSE_CASES = [
    # (kernel_size, strides, padding, output_padding, dilation_rate)
    (3, 1, "valid", None, 1),
    (3, 2, "valid", None, 1),
    (3, 2, "same", None, 1),
    ((3, 2), (2, 3), "same", None, 1),
    (3, 2, "valid", 1, 1),
    ((4, 3), (3, 2), "same", (1, 1), 1),
    ((4, 3), (3, 2), "valid", (2, 0), 1),
    (4, 2, "same", None, 1),
    (4, 1, "same", None, 1),
    (2, 3, "valid", None, 1),
    (5, 2, "same", 1, 1),
    (1, 2, "same", None, 1),
    (3, 1, "valid", None, 2),
    (3, 1, "same", None, (2, 1)),
]


def _keras_kwargs(keras, kwargs: dict) -> dict:
    out = dict(kwargs)
    init = out.get("alpha_initializer")
    if isinstance(init, tuple):
        out["alpha_initializer"] = keras.initializers.RandomUniform(init[1], init[2], seed=1)
    return out


@pytest.mark.parametrize("name,kwargs,shape,dl", LAYER_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(LAYER_CASES)])
def test_layer_matches_keras(k64, name, kwargs, shape, dl):
    """Output, input gradient and weight gradients with the same weights, float64, 1e-12."""
    theirs = getattr(k64.layers, name)(**_keras_kwargs(k64, kwargs))
    dl_name, dl_kwargs = dl or (name, {k: v for k, v in kwargs.items() if k != "alpha_initializer"})
    ours = getattr(layers, dl_name)(**dl_kwargs, dtype="float64")
    x = np.random.default_rng(len(name)).standard_normal(shape)
    _compare_layer(theirs, ours, x, same_names=dl is None)


@pytest.mark.parametrize("kernel_size,strides,padding,output_padding,dilation_rate", CONV_TRANSPOSE_CASES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv2d_transpose_matches_keras(k64, kernel_size, strides, padding, output_padding, dilation_rate,
                                        data_format):
    """Keras's kernel layout (kh, kw, filters, in_channels) copied as is; shapes, values and gradients."""
    kwargs = dict(filters=3, kernel_size=kernel_size, strides=strides, padding=padding,
                  output_padding=output_padding, dilation_rate=dilation_rate, data_format=data_format)
    theirs = k64.layers.Conv2DTranspose(**kwargs, bias_initializer="random_normal")
    ours = layers.Conv2DTranspose(**kwargs, dtype="float64")
    shape = (2, 5, 6, 4) if data_format == "channels_last" else (2, 4, 5, 6)
    x = np.random.default_rng(1).standard_normal(shape)
    _compare_layer(theirs, ours, x)
    assert ours.get_weights()[0].shape[2:] == (3, 4)
    assert ours.compute_output_shape((None,) + shape[1:]) == tuple(theirs.compute_output_shape((None,) + shape[1:]))


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("size", [(3, 5), (8, 9), (6, 4), (5, 7)])
@pytest.mark.parametrize("aspect", [None, "crop_to_aspect_ratio", "pad_to_aspect_ratio"])
def test_resizing_matches_keras(k64, interpolation, size, aspect):
    kwargs = dict(height=size[0], width=size[1], interpolation=interpolation)
    if aspect is not None:
        kwargs[aspect] = True
    if aspect == "pad_to_aspect_ratio":
        kwargs["fill_value"] = 0.5
    theirs = k64.layers.Resizing(**kwargs)
    ours = layers.Resizing(**kwargs, dtype="float64")
    x = np.random.default_rng(2).standard_normal((2, 5, 7, 3))
    _compare_layer(theirs, ours, x)


def test_resizing_channels_first_matches_keras(k64):
    for interpolation in ("bilinear", "nearest"):
        kwargs = dict(height=4, width=9, interpolation=interpolation, data_format="channels_first",
                      crop_to_aspect_ratio=True)
        x = np.random.default_rng(3).standard_normal((2, 3, 6, 7))
        _compare_layer(k64.layers.Resizing(**kwargs), layers.Resizing(**kwargs, dtype="float64"), x)


@pytest.mark.parametrize("axis,shape", [(-1, (30, 4)), (-1, (10, 3, 4)), ((1, 2), (10, 3, 4)), (1, (10, 3, 4)),
                                        (None, (12, 5))])
def test_normalization_adapt_matches_keras(k64, axis, shape):
    """adapt() on the same data: the same mean and variance and the same outputs; batches combine exactly."""
    rng = np.random.default_rng(4)
    data = rng.standard_normal(shape) * 3 + 1
    theirs = k64.layers.Normalization(axis=axis)
    theirs.adapt(data)
    ours = layers.Normalization(axis=axis, dtype="float64")
    ours.adapt([data[:3], data[3:7], data[7:]])
    mean, variance = ours.get_weights()
    np.testing.assert_allclose(mean.ravel(), _np(theirs.mean).ravel(), **TIGHT)
    np.testing.assert_allclose(variance.ravel(), _np(theirs.variance).ravel(), **TIGHT)
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(ours(x), _np(theirs(x)), **TIGHT)


def test_normalization_with_given_statistics_and_invert_matches_keras(k64):
    mean, variance = [1.0, -2.0, 0.5], [4.0, 0.25, 0.0]  # both divide by max(sqrt(variance), 1e-7)
    x = np.random.default_rng(5).standard_normal((6, 3))
    for invert in (False, True):
        theirs = k64.layers.Normalization(mean=mean, variance=variance, invert=invert)
        ours = layers.Normalization(mean=mean, variance=variance, invert=invert, dtype="float64")
        np.testing.assert_allclose(ours(x), _np(theirs(x)), **TIGHT)


def test_embedding_matches_keras(k64):
    import torch

    ids = np.random.default_rng(6).integers(0, 10, (3, 4))
    theirs = k64.layers.Embedding(10, 5)
    y_t = theirs(torch.tensor(ids))
    dy = np.random.default_rng(7).standard_normal(tuple(y_t.shape))
    (y_t * torch.tensor(dy)).sum().backward()
    ours = layers.Embedding(10, 5, dtype="float64")
    ours.ensure_built((None, 4))
    ours.set_weights(theirs.get_weights())
    y, backprop = ours.forward(ids, training=False)
    ours.weights[0].grad[...] = 0
    backprop(dy, need_input_grad=False)
    np.testing.assert_allclose(y, _np(y_t), **TIGHT)
    np.testing.assert_allclose(ours.weights[0].grad, _np(theirs.embeddings.value.grad), **TIGHT)


# -- models ------------------------------------------------------------------------------------------


def _nested_model(L, Model, Input, Sequential):
    """Dense -> (a nested Sequential with BatchNormalization) -> Concatenate with its input -> softmax."""
    inner = Sequential([L.Dense(6, activation="relu"), L.BatchNormalization(), L.Dense(5, activation="tanh")],
                       name="inner")
    inp = Input(shape=(4,))
    a = L.Dense(8, activation="relu")(inp)
    b = inner(a)
    out = L.Dense(3, activation="softmax")(L.Concatenate()([a, b]))
    return Model(inp, out), inner


def _counts(model) -> tuple:
    return (model.count_params(), len(model.trainable_weights), len(model.non_trainable_weights),
            sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def test_nested_functional_model_matches_keras(k64, float64):
    """The same weights give the same predictions; counts agree before and after freezing the nested
    model; a fit with it frozen moves the same weights the same way (frozen BatchNorm in inference mode)."""
    rng = np.random.default_rng(8)
    theirs, their_inner = _nested_model(k64.layers, k64.Model, k64.Input, k64.Sequential)
    ours, our_inner = _nested_model(layers, models.Model, corelib.Input, models.Sequential)
    weights = theirs.get_weights()
    weights[6] = weights[6] + rng.uniform(0.1, 0.5, weights[6].shape)  # moving mean, moving variance
    weights[7] = weights[7] + rng.uniform(0.5, 1.5, weights[7].shape)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in weights]
    x, y = rng.standard_normal((12, 4)), rng.integers(0, 3, 12)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), **TIGHT)
    assert _counts(ours) == _counts(theirs)

    their_inner.trainable = False
    our_inner.trainable = False
    assert _counts(ours) == _counts(theirs)
    assert _counts(ours)[1:3] == (4, 8)
    theirs.compile(optimizer=k64.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    ours.compile(optimizer=optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    fit = dict(batch_size=5, epochs=2, shuffle=False, verbose=0)
    expected = theirs.fit(x, y, **fit).history
    got = ours.fit(x, y, **fit).history
    np.testing.assert_allclose(got["loss"], expected["loss"], **TIGHT)
    for a, b, before in zip(ours.get_weights(), theirs.get_weights(), weights):
        np.testing.assert_allclose(a, b, **TIGHT)
    for i in range(2, 8):  # the frozen inner model, BatchNorm statistics included
        np.testing.assert_array_equal(ours.get_weights()[i], weights[i])


# -- fit ---------------------------------------------------------------------------------------------


def _regression_data(dtype):
    rng = np.random.default_rng(9)
    x, xv = rng.standard_normal((30, 4)), rng.standard_normal((11, 4))
    def target(a):
        return np.stack([2 * a[:, 0] - a[:, 1], np.sin(a[:, 2])], 1)
    y = target(x) + 0.1 * rng.standard_normal((30, 2))
    w, wv = rng.uniform(0.2, 2.0, 30), rng.uniform(0.2, 2.0, 11)
    cast = [a.astype(dtype) for a in (x, y, xv, target(xv))]
    return cast[0], cast[1], w, (cast[2], cast[3], wv)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fit_history_matches_keras(keras, monkeypatch, dtype):
    """SGD with momentum, shuffle=False, 30 samples in batches of 8 (the last one short), sample
    weights, validation data with weights every 2nd epoch, plain and weighted metrics: the same
    History keys and numbers (float64: 1e-12; float32: 1e-5 relative), the same final weights."""
    from keras.src.backend.common import dtypes

    if dtype == "float64":
        monkeypatch.setattr(dtypes, "BIT64_TO_BIT32_DTYPE", {})
    corelib.config.set_floatx(dtype)
    with keras_dtype(keras, dtype):
        x, y, w, validation = _regression_data(dtype)
        theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"),
                                   keras.layers.Dense(2)])
        ours = models.Sequential([corelib.Input((4,)), layers.Dense(8, activation="tanh"), layers.Dense(2)])
        ours.set_weights(theirs.get_weights())
        compile_args = dict(loss="mse", metrics=["mae", "mse"], weighted_metrics=["mae"])
        theirs.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.5), **compile_args)
        ours.compile(optimizer=optimizers.SGD(0.05, momentum=0.5), **compile_args)
        fit = dict(batch_size=8, epochs=5, shuffle=False, sample_weight=w, validation_data=validation,
                   validation_freq=2, verbose=0)
        expected = theirs.fit(x, y, **fit).history
        got = ours.fit(x, y, **fit).history
        final = ours.get_weights(), theirs.get_weights()
    assert sorted(got) == sorted(expected) == sorted(
        ["loss", "mae", "mse", "weighted_mae", "val_loss", "val_mae", "val_mse", "val_weighted_mae"])
    tolerance = TIGHT if dtype == "float64" else dict(rtol=1e-5, atol=1e-6)
    for key, values in expected.items():
        assert len(got[key]) == len(values) == (2 if key.startswith("val_") else 5), key
        np.testing.assert_allclose(got[key], values, **tolerance, err_msg=key)
    for a, b in zip(*final):
        np.testing.assert_allclose(a, b, **tolerance)


def test_fit_classification_history_matches_keras(k64, float64):
    """Softmax + sparse categorical cross-entropy, class_weight, "accuracy" as a plain and a weighted
    metric, a loss name as a weighted metric, validation on the listed epochs; then evaluate."""
    rng = np.random.default_rng(10)
    x, xv = rng.standard_normal((40, 5)), rng.standard_normal((13, 5))
    def label(a):
        return (a[:, 0] + a[:, 1] > 0).astype(int) + (a[:, 2] > 1)
    theirs = k64.Sequential([k64.Input((5,)), k64.layers.Dense(6, activation="relu"),
                             k64.layers.Dense(3, activation="softmax")])
    ours = models.Sequential([corelib.Input((5,)), layers.Dense(6, activation="relu"),
                              layers.Dense(3, activation="softmax")])
    ours.set_weights(theirs.get_weights())
    compile_args = dict(loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                        weighted_metrics=["accuracy", "sparse_categorical_crossentropy"])
    theirs.compile(optimizer=k64.optimizers.SGD(0.1), **compile_args)
    ours.compile(optimizer=optimizers.SGD(0.1), **compile_args)
    fit = dict(batch_size=16, epochs=4, shuffle=False, class_weight={0: 1.0, 1: 2.0, 2: 0.5},
               validation_data=(xv, label(xv)), validation_freq=[1, 3], verbose=0)
    expected = theirs.fit(x, label(x), **fit).history
    got = ours.fit(x, label(x), **fit).history
    assert sorted(got) == sorted(expected)
    assert "weighted_accuracy" in got and "val_weighted_accuracy" in got
    for key, values in expected.items():
        assert len(got[key]) == len(values) == (2 if key.startswith("val_") else 4), key
        np.testing.assert_allclose(got[key], values, **TIGHT, err_msg=key)
    theirs_eval = theirs.evaluate(xv, label(xv), verbose=0, return_dict=True)
    ours_eval = ours.evaluate(xv, label(xv), verbose=0, return_dict=True)
    assert sorted(ours_eval) == sorted(theirs_eval)
    for key, value in theirs_eval.items():
        np.testing.assert_allclose(ours_eval[key], value, **TIGHT, err_msg=key)


def _two_dense(L, Sequential, Input, activation):
    return Sequential([Input((5,)), L.Dense(6, activation="relu"), L.Dense(3, activation=activation)])


@pytest.mark.parametrize("samples", [
    40,
    37,  # Keras 3 trains on floor(37 * 0.7) = 25 samples and validates on 12
])
def test_fit_validation_split_matches_keras(k64, float64, samples):
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal((samples, 5)), rng.standard_normal((samples, 3))
    theirs = _two_dense(k64.layers, k64.Sequential, k64.Input, None)
    ours = _two_dense(layers, models.Sequential, corelib.Input, None)
    ours.set_weights(theirs.get_weights())
    theirs.compile(optimizer=k64.optimizers.SGD(0.05), loss="mse")
    ours.compile(optimizer=optimizers.SGD(0.05), loss="mse")
    fit = dict(batch_size=4, epochs=2, shuffle=False, validation_split=0.3, verbose=0)
    expected, got = theirs.fit(x, y, **fit).history, ours.fit(x, y, **fit).history
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(got[key], expected[key], **TIGHT, err_msg=key)


def test_accuracy_string_follows_the_shapes_like_keras(k64, float64):
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal((20, 5)), rng.integers(0, 2, (20, 3)).astype(np.float64)
    theirs = _two_dense(k64.layers, k64.Sequential, k64.Input, "sigmoid")
    ours = _two_dense(layers, models.Sequential, corelib.Input, "sigmoid")
    ours.set_weights(theirs.get_weights())
    theirs.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    ours.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    expected = theirs.evaluate(x, y, verbose=0, return_dict=True)
    got = ours.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(got["loss"], expected["loss"], **TIGHT)
    np.testing.assert_allclose(got["accuracy"], expected["accuracy"], **TIGHT)
