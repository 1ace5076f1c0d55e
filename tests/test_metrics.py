"""Metrics against hand computation: accuracies, errors, weights, state, resolution of "accuracy"."""

from __future__ import annotations

import math

import numpy as np
import pytest

from corelib import losses, metrics
from corelib.errors import ShapeError

PROBS = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]])
LABELS = np.array([1, 1, 2, 0])  # hits: yes, no, yes, no
ONEHOT = np.eye(3)[LABELS]


def _result(metric, *args, **kwargs):
    metric.reset_state()
    metric.update_state(*args, **kwargs)
    return metric.result()


def test_categorical_and_sparse_accuracy():
    assert _result(metrics.get("categorical_accuracy"), ONEHOT, PROBS) == 0.5
    assert _result(metrics.get("sparse_categorical_accuracy"), LABELS, PROBS) == 0.5
    assert _result(metrics.get("sparse_categorical_accuracy"), LABELS[:, None].astype(float), PROBS) == 0.5
    w = np.array([1.0, 0.0, 3.0, 0.0])  # weight only on the hits
    assert _result(metrics.get("categorical_accuracy"), ONEHOT, PROBS, sample_weight=w) == 1.0


def test_binary_accuracy_threshold_and_last_axis_mean():
    y_true = np.array([[1.0, 0.0], [0.0, 0.0]])
    y_pred = np.array([[0.6, 0.6], [0.4, 0.5]])  # 0.5 is not above the threshold
    assert _result(metrics.get("binary_accuracy"), y_true, y_pred) == 0.75
    assert _result(metrics.BinaryAccuracy(threshold=0.55), y_true, y_pred) == 0.75
    assert _result(metrics.BinaryAccuracy(threshold=0.3), y_true, y_pred) == 0.25
    assert _result(metrics.get("binary_accuracy"), np.array([1, 0, 1]), np.array([0.9, 0.2, 0.1])) == pytest.approx(2 / 3)


def test_top_k_categorical_accuracy():
    y_pred = np.array([[0.5, 0.3, 0.15, 0.05], [0.1, 0.2, 0.3, 0.4]])
    y_true = np.eye(4)[[2, 0]]  # third highest; lowest
    assert _result(metrics.TopKCategoricalAccuracy(k=3), y_true, y_pred) == 0.5
    assert _result(metrics.TopKCategoricalAccuracy(k=2), y_true, y_pred) == 0.0
    assert _result(metrics.get("top_k_categorical_accuracy"), y_true, y_pred) == 1.0  # k=5 default
    assert _result(metrics.SparseTopKCategoricalAccuracy(k=3), np.array([2, 0]), y_pred) == 0.5


def test_regression_metrics():
    y_true = np.array([[0.0, 1.0], [2.0, 2.0]])
    y_pred = np.array([[1.0, 1.0], [2.0, 5.0]])
    assert _result(metrics.get("mae"), y_true, y_pred) == pytest.approx((0.5 + 1.5) / 2)
    assert _result(metrics.get("mse"), y_true, y_pred) == pytest.approx((0.5 + 4.5) / 2)
    assert _result(metrics.get("rmse"), y_true, y_pred) == pytest.approx(math.sqrt(2.5))
    w = np.array([3.0, 1.0])
    assert _result(metrics.get("mse"), y_true, y_pred, sample_weight=w) == pytest.approx((3 * 0.5 + 4.5) / 4)


def test_state_accumulates_over_batches_and_resets():
    acc = metrics.get("sparse_categorical_accuracy")
    acc.update_state(LABELS[:2], PROBS[:2])                      # 1 of 2
    acc.update_state(LABELS[2:], PROBS[2:], sample_weight=[2, 2])  # 2 of 4 weight
    assert acc.result() == pytest.approx(3 / 6)
    acc.reset_state()
    assert acc.result() == 0.0


def test_accuracy_string_resolves_from_the_shapes_as_keras_3():
    """Keras 3 picks the kind of "accuracy" from the shapes, not from the loss."""
    acc = metrics.get("accuracy", loss="binary_crossentropy")
    assert isinstance(acc, metrics.CompileAccuracy) and acc.name == "accuracy"
    assert metrics.get("acc", loss=losses.SparseCategoricalCrossentropy(from_logits=True)).name == "acc"
    multi_hot = np.array([[1, 0, 1], [0, 1, 0]], dtype=float)
    probs = np.array([[0.9, 0.2, 0.1], [0.6, 0.7, 0.1]])
    acc.update_state(multi_hot, probs)  # categorical: argmax 0 is a 1 in row 0, argmax 1 in row 1
    assert acc.result() == pytest.approx(1.0)
    binary = metrics.get("accuracy")
    binary.update_state(np.array([[1.0], [0.0]]), np.array([[0.8], [0.7]]))
    assert binary.result() == pytest.approx(0.5)
    sparse = metrics.get("accuracy")
    sparse.update_state(np.array([2, 0]), np.array([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1]]))
    assert sparse.result() == pytest.approx(1.0)


def test_accuracy_class_counts_exact_matches_as_keras():
    acc = metrics.Accuracy()
    acc.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    assert acc.result() == pytest.approx(0.75)  # Keras's documented example
    acc.reset_state()
    acc.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]], sample_weight=[1, 1, 0, 0])
    assert acc.result() == pytest.approx(0.5)


def test_accuracy_without_a_loss_decides_from_shapes():
    acc = metrics.get("accuracy")
    assert _result(acc, LABELS, PROBS) == 0.5                 # sparse labels
    assert _result(acc, ONEHOT, PROBS) == 0.5                 # one-hot
    assert _result(acc, np.array([[1.0], [0.0]]), np.array([[0.8], [0.9]])) == 0.5  # binary


def test_names_follow_the_identifier():
    assert metrics.get("mae").name == "mae"
    assert metrics.get("mean_absolute_error").name == "mean_absolute_error"
    assert metrics.get("MeanAbsoluteError").name == "mean_absolute_error"
    assert metrics.get("rmse").name == "rmse"


def test_losses_and_functions_as_metrics():
    m = metrics.get("binary_crossentropy")
    y_true, y_pred = np.array([[1.0], [0.0]]), np.array([[0.9], [0.2]])
    assert _result(m, y_true, y_pred) == pytest.approx(-(np.log(0.9) + np.log(0.8)) / 2, rel=1e-6)

    def max_error(y_true, y_pred):
        return np.abs(y_true - y_pred).max(axis=-1)

    m = metrics.get(max_error)
    assert m.name == "max_error" and _result(m, y_true, y_pred) == pytest.approx(0.15)


def test_config_round_trip_and_errors():
    m = metrics.TopKCategoricalAccuracy(k=2, name="top2")
    again = metrics.deserialize(metrics.serialize(m))
    assert again.get_config() == {"name": "top2", "k": 2}
    with pytest.raises(ShapeError, match="Metric 'categorical_accuracy' expects y_true with the shape"):
        metrics.get("categorical_accuracy").update_state(np.zeros((4, 2)), PROBS)
    with pytest.raises(KeyError, match="Did you mean"):
        metrics.get("acuracy_top")
