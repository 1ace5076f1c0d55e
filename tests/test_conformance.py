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

from corelib import activations, initializers, losses, regularizers
from corelib.registry import get_registry
from corelib.testing import check_activation, check_layer, check_loss, check_metric, check_optimizer

# layer name -> list of (input shape with batch, or a list of them, constructor kwargs)
LAYER_CASES: dict[str, list[tuple[tuple | list, dict]]] = {
    "InputLayer": [((3, 5), {"shape": (5,)}), ((2, 4, 3), {"shape": (4, 3)})],
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
    # merge layers take a list of input shapes (more cases in tests/test_merge_layers.py)
    "Concatenate": [([(2, 3), (2, 4)], {}), ([(2, 3, 4), (2, 1, 4), (2, 2, 4)], {"axis": 1})],
    "Add": [([(2, 3), (2, 3), (2, 3)], {})],
    "Subtract": [([(2, 3, 2), (2, 3, 2)], {})],
    "Multiply": [([(2, 3), (2, 3), (2, 3)], {})],
    "Average": [([(2, 3), (2, 3)], {})],
    "Maximum": [([(2, 3), (2, 3), (2, 3)], {})],
    "Minimum": [([(2, 4), (2, 4)], {})],
    "Dot": [([(2, 4), (2, 4)], {"axes": 1}), ([(2, 3, 4), (2, 4, 5)], {"axes": [2, 1], "normalize": True})],
    # images and sequences (more cases in tests/test_conv_layers*.py, PyTorch in tests/kernels/test_conv*.py)
    "Conv1D": [
        ((2, 7, 3), {"filters": 4, "kernel_size": 3}),
        ((2, 7, 4), {"filters": 2, "kernel_size": 3, "padding": "causal", "dilation_rate": 2, "groups": 2,
                     "activation": "tanh"}),
        ((1, 3, 6), {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same", "data_format": "channels_first"}),
    ],
    "Conv2D": [
        ((2, 5, 6, 3), {"filters": 4, "kernel_size": 3}),
        ((2, 5, 6, 4), {"filters": 4, "kernel_size": (3, 2), "strides": 2, "padding": "same", "groups": 2,
                        "activation": "relu", "kernel_regularizer": "l2"}),
        ((1, 2, 6, 5), {"filters": 3, "kernel_size": 2, "dilation_rate": 2, "data_format": "channels_first",
                        "activation": "swish"}),
        ((2, 3, 3, 2), {"filters": 3, "kernel_size": 1, "use_bias": False}),
    ],
    "MaxPooling1D": [((2, 7, 3), {}), ((2, 7, 3), {"pool_size": 3, "strides": 2, "padding": "same"})],
    "MaxPooling2D": [
        ((2, 5, 6, 3), {}),
        ((1, 2, 5, 7), {"pool_size": (3, 2), "strides": (2, 1), "padding": "same", "data_format": "channels_first"}),
    ],
    "AveragePooling1D": [((2, 7, 3), {"pool_size": 3, "strides": 2, "padding": "same"})],
    "AveragePooling2D": [((2, 5, 6, 3), {}), ((2, 5, 7, 2), {"pool_size": 3, "strides": 2, "padding": "same"})],
    "GlobalMaxPooling1D": [((2, 5, 3), {}), ((2, 3, 5), {"data_format": "channels_first", "keepdims": True})],
    "GlobalMaxPooling2D": [((2, 4, 5, 3), {}), ((2, 3, 4, 5), {"data_format": "channels_first", "keepdims": True})],
    "GlobalAveragePooling1D": [((2, 5, 3), {}), ((2, 3, 5), {"data_format": "channels_first", "keepdims": True})],
    "GlobalAveragePooling2D": [((2, 4, 5, 3), {"keepdims": True})],
    "BatchNormalization": [
        ((6, 3), {}),
        ((4, 3, 3, 2), {"momentum": 0.9, "gamma_regularizer": "l2"}),
        ((3, 3, 4, 2), {"axis": 1, "center": False}),
        ((5, 4), {"scale": False, "epsilon": 0.1}),
    ],
    "ZeroPadding2D": [
        ((2, 3, 4, 2), {}),
        ((1, 2, 3, 4), {"padding": ((1, 0), (2, 3)), "data_format": "channels_first"}),
    ],
    "Cropping2D": [
        ((2, 5, 6, 2), {"cropping": ((1, 2), (0, 3))}),
        ((1, 2, 4, 5), {"cropping": 1, "data_format": "channels_first"}),
    ],
    "UpSampling2D": [
        ((2, 3, 4, 2), {}),
        ((1, 2, 3, 2), {"size": (1, 3), "data_format": "channels_first"}),
        ((2, 3, 4, 2), {"size": (2, 3), "interpolation": "bilinear"}),
    ],
    "SpatialDropout1D": [((2, 5, 4), {"rate": 0.5})],
    "SpatialDropout2D": [((2, 3, 4, 5), {"rate": 0.4}), ((2, 5, 3, 4), {"rate": 0.5, "data_format": "channels_first"})],
    # sequences (torch checks and the multi-output cases, return_state and merge_mode=None,
    # in tests/test_recurrent*.py)
    "SimpleRNN": [
        ((2, 4, 3), {"units": 3}),
        ((2, 4, 3), {"units": 2, "activation": "relu", "return_sequences": True, "go_backwards": True,
                     "recurrent_regularizer": "l2"}),
    ],
    "LSTM": [
        ((2, 4, 3), {"units": 3}),
        ((2, 3, 2), {"units": 2, "return_sequences": True, "dropout": 0.3,
                     "recurrent_dropout": 0.4, "recurrent_activation": "hard_sigmoid"}),
    ],
    "GRU": [
        ((2, 4, 3), {"units": 3, "return_sequences": True}),
        ((2, 4, 3), {"units": 2, "reset_after": False, "go_backwards": True, "recurrent_dropout": 0.3}),
    ],
    "Bidirectional": [
        ((2, 4, 3), {"layer": {"class_name": "LSTM", "config": {"units": 2, "return_sequences": True}}}),
        ((2, 4, 3), {"layer": {"class_name": "GRU", "config": {"units": 2}}, "merge_mode": "mul"}),
        ((2, 3, 2), {"layer": {"class_name": "SimpleRNN", "config": {"units": 2, "return_sequences": True}},
                     "merge_mode": "sum"}),
        ((2, 3, 2), {"layer": {"class_name": "GRU", "config": {"units": 2, "reset_after": False}},
                     "merge_mode": "ave"}),
    ],
    "Embedding": [
        ((3, 4), {"input_dim": 6, "output_dim": 3,
                  "input_data": np.array([[0, 1, 5, 1], [2, 2, 3, 0], [4, 1, 0, 0]], dtype=np.int64)}),
    ],
    "TimeDistributed": [((2, 3, 4), {"layer": {"class_name": "Dense", "config": {"units": 2, "activation": "tanh"}}})],
    "RepeatVector": [((2, 3), {"n": 4})],
    # issue 13: activation layers, Conv2DTranspose, LayerNormalization (tests/test_keras_layers.py)
    "ReLU": [((3, 5), {}), ((3, 5), {"max_value": 0.8, "negative_slope": 0.1, "threshold": 0.3})],
    "LeakyReLU": [((3, 5), {}), ((2, 3, 4), {"negative_slope": 0.05})],
    "PReLU": [((3, 5), {"alpha_initializer": "random_normal"}),
              ((2, 3, 4, 2), {"alpha_initializer": "random_normal", "shared_axes": [1, 2]})],
    "ELU": [((3, 5), {}), ((3, 5), {"alpha": 0.5})],
    "Softmax": [((2, 3, 4), {}), ((2, 3, 4), {"axis": 1}), ((2, 3, 4), {"axis": [1, 2]})],
    "Conv2DTranspose": [
        ((2, 3, 4, 2), {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same",
                        "bias_initializer": "random_normal"}),
        ((2, 2, 3, 4), {"filters": 2, "kernel_size": (2, 3), "strides": (2, 1), "output_padding": (1, 0),
                        "data_format": "channels_first", "dilation_rate": (2, 1), "activation": "tanh"}),
    ],
    "LayerNormalization": [((3, 5), {}), ((2, 3, 4), {"axis": [1, 2], "gamma_initializer": "random_normal"})],
    # issue 13: preprocessing and augmentation layers (tests/test_preprocessing_layers.py)
    # (the random layers run in training mode here, with draws from corelib.config.rng(): no seed)
    "Rescaling": [((2, 3, 4), {"scale": 1 / 255}), ((2, 4, 3), {"scale": [0.5, 2.0, -1.0], "offset": [0.1, 0.2, 0.3]})],
    "Resizing": [
        ((2, 5, 6, 3), {"height": 3, "width": 8}),
        ((2, 4, 7, 2), {"height": 5, "width": 3, "interpolation": "nearest"}),
        ((1, 2, 5, 7), {"height": 4, "width": 4, "crop_to_aspect_ratio": True, "data_format": "channels_first"}),
        ((2, 6, 3, 1), {"height": 4, "width": 4, "pad_to_aspect_ratio": True, "fill_value": 0.5}),
    ],
    "Normalization": [
        ((3, 4), {}),
        ((3, 4), {"mean": [0.5, -1.0, 2.0, 0.0], "variance": [1.0, 4.0, 0.25, 2.0]}),
        ((2, 3, 4), {"axis": [1, 2], "mean": [1.0, 2.0, 3.0, 4.0], "variance": [2.0, 1.0, 0.5, 3.0]}),
        ((3, 5), {"axis": None, "mean": 2.0, "variance": 3.0, "invert": True}),
    ],
    "RandomFlip": [((4, 3, 4, 2), {}), ((4, 2, 3, 4), {"mode": "horizontal", "data_format": "channels_first"})],
    "RandomRotation": [
        ((2, 5, 6, 2), {"factor": 0.2}),
        ((2, 5, 4, 1), {"factor": (-0.3, 0.1), "fill_mode": "constant", "fill_value": 0.5, "interpolation": "nearest"}),
        ((2, 2, 4, 5), {"factor": 0.5, "fill_mode": "wrap", "data_format": "channels_first"}),
    ],
    "RandomZoom": [
        ((2, 5, 6, 2), {"height_factor": 0.3}),
        ((2, 5, 4, 1), {"height_factor": (-0.4, -0.1), "width_factor": (0.2, 0.5), "fill_mode": "nearest"}),
    ],
    "RandomTranslation": [
        ((2, 5, 6, 2), {"height_factor": 0.3, "width_factor": (-0.4, 0.2), "fill_mode": "constant"}),
        ((2, 1, 5, 4), {"height_factor": 0.5, "width_factor": 0.5, "fill_mode": "wrap", "interpolation": "nearest",
                        "data_format": "channels_first"}),
    ],
    "RandomCrop": [((2, 6, 7, 2), {"height": 4, "width": 5}), ((2, 3, 4, 2), {"height": 5, "width": 5})],
    "RandomContrast": [
        ((2, 4, 5, 3), {"factor": 0.5}),
        ((2, 3, 4, 5), {"factor": (0.2, 0.8), "value_range": (-10, 10), "data_format": "channels_first"}),
    ],
    # the dl-transformer plugin, when installed (PyTorch checks in plugins/dl-transformer/tests)
    "MultiHeadAttention": [
        ((2, 3, 4), {"num_heads": 2, "key_dim": 3}),
        ([(2, 3, 4), (2, 5, 6), (2, 5, 3)], {"num_heads": 2, "key_dim": 2, "value_dim": 3, "dropout": 0.2}),
    ],
    "PositionalEmbedding": [((2, 3, 4), {"sequence_length": 5})],
    "TransformerEncoder": [((2, 3, 4), {"intermediate_dim": 6, "num_heads": 2, "dropout": 0.1})],
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
    if kind.startswith("ctc"):  # (n, T=6, 4 classes); labels 1..3 then -1 padding
        y_true = np.array([[1, 2, 2], [3, -1, -1], [1, 3, -1], [-1, -1, -1], [2, 1, 3]][:n])
        z = rng.standard_normal((n, 6, c))
        return y_true, (z if kind == "ctc_logits" else np.exp(z) / np.exp(z).sum(-1, keepdims=True))
    if kind == "hinge":  # 0/1 targets, margins t * p away from the kink at 1
        target = rng.integers(0, 2, (n, c)).astype(float)
        margin = np.where(rng.random((n, c)) < 0.5, rng.uniform(-1.0, 0.8, (n, c)), rng.uniform(1.2, 2.0, (n, c)))
        return target, margin * (2 * target - 1)
    if kind == "categorical_hinge":  # one-hot targets, no tie for the largest wrong score, away from the kink
        target = np.eye(c)[labels]
        scores = rng.permutation(np.arange(n * c, dtype=float)).reshape(n, c) / (n * c)
        scores[np.arange(n), labels] += np.where(np.arange(n) % 2 == 0, 1.53, 0.27)
        return target, scores
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
    "CTC": [({}, "ctc_probs"), ({"from_logits": True, "blank_index": 0}, "ctc_logits")],
    # issue 13: more Keras losses (tests/test_keras_losses.py)
    "KLDivergence": [({}, "categorical_probs")],
    "Poisson": [({}, "binary_probs")],
    "LogCosh": [({}, "regression")],
    "Hinge": [({}, "hinge")],
    "SquaredHinge": [({}, "hinge")],
    "CategoricalHinge": [({}, "categorical_hinge")],
    "BinaryFocalCrossentropy": [
        ({}, "binary_probs"),
        ({"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5, "from_logits": True, "label_smoothing": 0.1},
         "binary_logits"),
    ],
    "CategoricalFocalCrossentropy": [
        ({}, "categorical_probs"),
        ({"alpha": [0.2, 0.3, 0.4, 0.5], "gamma": 1.0, "from_logits": True, "label_smoothing": 0.1},
         "categorical_logits"),
    ],
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
        if "layer" in kwargs:  # wrappers: check_layer's own first argument is called `layer`
            kwargs = dict(kwargs)
            check_layer(cls(**kwargs), shape, input_data=kwargs.pop("input_data", None))
        else:
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
    check_optimizer(name)
    check_optimizer(name, learning_rate=0.05)


def _metric_data(name: str):
    """(y_true, y_pred) of the kind a metric expects: integer labels for the sparse ones."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 8)
    y_pred = rng.uniform(0.05, 1.0, (8, 3))
    return (labels if "sparse" in name.lower() else np.eye(3)[labels]), y_pred


@pytest.mark.parametrize("name", _names("metrics"))
def test_metric_conformance(name):
    check_metric(name, *_metric_data(name))


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
