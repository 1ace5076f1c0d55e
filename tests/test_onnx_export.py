"""ONNX export, layer by layer: each small model is exported, passes onnx.checker (full check),
and onnxruntime's outputs match dl's predict at a batch size never used before (the batch
dimension is dynamic)."""

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from corelib import Input, Model, Sequential, layers  # noqa: E402

from _onnx import BATCH, check_export, randomize  # noqa: E402

ACTIVATIONS = ["relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "swish", "gelu", "leaky_relu",
               "hard_sigmoid", "linear"]


def _x(shape, seed=1):
    return np.random.default_rng(seed).normal(0.0, 1.5, (BATCH, *shape)).astype(np.float32)


def _seq(stack, shape):
    model = Sequential([Input(shape), *stack])
    randomize(model)
    return model, [_x(shape)]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_dense_with_each_activation(name, tmp_path):
    model, xs = _seq([layers.Dense(5, activation=name)], (4,))
    check_export(model, tmp_path, xs)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_layer(name, tmp_path):
    model, xs = _seq([layers.Activation(name)], (3, 4))
    check_export(model, tmp_path, xs)


LAYERS = {
    "relu_capped": ([layers.ReLU(max_value=1.0, threshold=0.2, negative_slope=0.1)], (6,)),
    "relu_leaky": ([layers.ReLU(negative_slope=0.3)], (6,)),
    "leaky_relu": ([layers.LeakyReLU(0.2)], (6,)),
    "elu": ([layers.ELU(0.7)], (6,)),
    "prelu": ([layers.PReLU(shared_axes=[1])], (3, 4)),
    "softmax_axis1": ([layers.Softmax(axis=1)], (3, 4)),
    "softmax_axes": ([layers.Softmax(axis=[1, 2])], (3, 4)),
    "dense_3d": ([layers.Dense(3, use_bias=False)], (5, 4)),
    "conv2d_same_strided": ([layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")], (9, 8, 3)),
    "conv2d_dilated_valid": ([layers.Conv2D(4, (3, 2), dilation_rate=2)], (9, 8, 2)),
    "conv2d_groups": ([layers.Conv2D(4, 3, groups=2, padding="same")], (6, 6, 4)),
    "conv2d_channels_first": ([layers.Conv2D(3, 3, data_format="channels_first", padding="same")], (2, 6, 5)),
    "conv1d_causal": ([layers.Conv1D(3, 3, padding="causal", dilation_rate=2)], (10, 2)),
    "conv1d_same": ([layers.Conv1D(3, 4, padding="same", strides=2, activation="tanh")], (9, 2)),
    "conv2d_transpose_same": ([layers.Conv2DTranspose(3, 3, strides=2, padding="same")], (4, 5, 2)),
    "conv2d_transpose_valid": ([layers.Conv2DTranspose(3, 2, strides=3, padding="valid")], (4, 3, 2)),
    "conv2d_transpose_pad": ([layers.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1)],
                             (3, 4, 2)),
    "maxpool2d_same": ([layers.MaxPooling2D(3, strides=2, padding="same")], (7, 6, 2)),
    "avgpool2d_same": ([layers.AveragePooling2D(3, strides=2, padding="same")], (7, 6, 2)),
    "avgpool2d": ([layers.AveragePooling2D(2)], (6, 6, 2)),
    "maxpool1d": ([layers.MaxPooling1D(2)], (8, 3)),
    "avgpool1d_same": ([layers.AveragePooling1D(3, padding="same")], (8, 3)),
    "global_max2d": ([layers.GlobalMaxPooling2D()], (4, 5, 3)),
    "global_avg2d_keepdims": ([layers.GlobalAveragePooling2D(keepdims=True)], (4, 5, 3)),
    "global_max1d": ([layers.GlobalMaxPooling1D()], (6, 3)),
    "global_avg1d": ([layers.GlobalAveragePooling1D()], (6, 3)),
    "batchnorm": ([layers.BatchNormalization()], (4, 4, 3)),
    "batchnorm_axis1": ([layers.BatchNormalization(axis=1, center=False)], (3, 4)),
    "flatten": ([layers.Conv2D(2, 2), layers.Flatten(), layers.Dense(3)], (4, 4, 2)),
    "flatten_channels_first": ([layers.Flatten(data_format="channels_first")], (2, 3, 4)),
    "reshape": ([layers.Reshape((4, -1))], (2, 6)),
    "dropouts": ([layers.Dropout(0.5), layers.SpatialDropout2D(0.3), layers.RandomFlip(), layers.RandomZoom(0.2),
                  layers.RandomRotation(0.1), layers.RandomTranslation(0.1, 0.1), layers.RandomContrast(0.2)],
                 (5, 5, 3)),
    "spatial_dropout1d": ([layers.SpatialDropout1D(0.2)], (5, 3)),
    "layer_norm": ([layers.LayerNormalization()], (3, 4)),
    "layer_norm_axes": ([layers.LayerNormalization(axis=[1, 2])], (3, 4)),
    "layer_norm_middle_axis": ([layers.LayerNormalization(axis=1)], (3, 4)),
    "layer_norm_rms": ([layers.LayerNormalization(rms_scaling=True)], (3, 4)),
    "rescaling": ([layers.Rescaling(1 / 255.0, offset=-0.5)], (4, 3)),
    "normalization": ([layers.Normalization(mean=[0.5, 1.0, -1.0], variance=[2.0, 0.5, 1.0])], (4, 3)),
    "zero_padding": ([layers.ZeroPadding2D(((1, 2), (0, 3)))], (3, 4, 2)),
    "cropping": ([layers.Cropping2D(((1, 0), (2, 1)))], (5, 6, 2)),
    "upsampling": ([layers.UpSampling2D((2, 3))], (3, 4, 2)),
    "repeat_vector": ([layers.RepeatVector(3)], (4,)),
    "time_distributed": ([layers.TimeDistributed(layers.Dense(3, activation="relu"))], (5, 4)),
    "simple_rnn": ([layers.SimpleRNN(4)], (5, 3)),
    "simple_rnn_relu_seq": ([layers.SimpleRNN(4, activation="relu", return_sequences=True)], (5, 3)),
    "lstm": ([layers.LSTM(4)], (6, 3)),
    "lstm_seq_backwards": ([layers.LSTM(4, return_sequences=True, go_backwards=True)], (6, 3)),
    "lstm_hard_sigmoid": ([layers.LSTM(3, recurrent_activation="hard_sigmoid", activation="relu")], (4, 2)),
    "gru": ([layers.GRU(4)], (6, 3)),
    "gru_reset_before": ([layers.GRU(4, reset_after=False, return_sequences=True)], (6, 3)),
    "gru_backwards": ([layers.GRU(3, go_backwards=True)], (5, 2)),
    "bidirectional_concat": ([layers.Bidirectional(layers.LSTM(3, return_sequences=True))], (5, 2)),
    "bidirectional_sum": ([layers.Bidirectional(layers.GRU(3), merge_mode="sum")], (5, 2)),
    "bidirectional_ave": ([layers.Bidirectional(layers.SimpleRNN(3, return_sequences=True), merge_mode="ave")],
                          (5, 2)),
    "bidirectional_mul": ([layers.Bidirectional(layers.LSTM(2), merge_mode="mul")], (5, 2)),
}


@pytest.mark.parametrize("key", sorted(LAYERS))
def test_layer(key, tmp_path):
    stack, shape = LAYERS[key]
    model, xs = _seq(stack, shape)
    check_export(model, tmp_path, xs)


def test_embedding_takes_float_or_integer_ids(tmp_path):
    model = Sequential([Input((5,)), layers.Embedding(10, 4), layers.GlobalAveragePooling1D()])
    randomize(model)
    ids = np.random.default_rng(0).integers(0, 10, (BATCH, 5)).astype(np.float32)
    check_export(model, tmp_path, [ids])
    ints = Input((5,), dtype="int32")
    graph = Model(ints, layers.Dense(2)(layers.Flatten()(layers.Embedding(10, 3)(ints))))
    randomize(graph)
    check_export(graph, tmp_path, [ids.astype(np.int64)])


@pytest.mark.parametrize("merge", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"])
def test_merge_layers(merge, tmp_path):
    a, b = Input((3, 4), name="a"), Input((3, 4), name="b")
    n = 2 if merge == "Subtract" else 3
    c = Input((3, 4), name="c")
    ins = [a, b] if n == 2 else [a, b, c]
    y = getattr(layers, merge)()(ins)
    model = Model(ins, layers.Dense(2)(y))
    randomize(model)
    check_export(model, tmp_path, [_x((3, 4), s) for s in range(n)])


@pytest.mark.parametrize("shapes, axes, normalize", [
    (((4,), (4,)), 1, False),
    (((4,), (4,)), 1, True),
    (((3, 4), (5, 4)), (2, 2), False),
    (((3, 4), (3, 5)), (1, 1), True),
    (((4,), (4, 5)), (1, 1), False),
    (((3, 4), (4,)), (2, 1), False),
])
def test_dot(shapes, axes, normalize, tmp_path):
    ins = [Input(s) for s in shapes]
    model = Model(ins, layers.Dot(axes=axes, normalize=normalize)(ins))
    check_export(model, tmp_path, [_x(s, k) for k, s in enumerate(shapes)])


def test_recurrent_return_state_and_multi_output_graph(tmp_path):
    x = Input((6, 3), name="sequence")
    y, h, c = layers.LSTM(4, return_sequences=True, return_state=True)(x)
    g, gh = layers.GRU(2, return_state=True)(y)
    model = Model(x, [layers.Dense(2, name="head")(g), h, c, gh])
    randomize(model)
    check_export(model, tmp_path, [_x((6, 3))])


def test_bidirectional_without_merge_and_with_states(tmp_path):
    x = Input((5, 2))
    outs = layers.Bidirectional(layers.LSTM(3, return_state=True), merge_mode=None)(x)
    model = Model(x, outs)
    randomize(model)
    assert len(check_export(model, tmp_path, [_x((5, 2))])) == 6


def test_nested_models_and_several_inputs(tmp_path):
    inner = Sequential([Input((4,)), layers.Dense(3, activation="tanh")], name="inner")
    a, b = Input((4,), name="left"), Input((2,), name="right")
    joined = layers.Concatenate()([inner(a), b])
    model = Model([a, b], [layers.Dense(1, name="score")(joined), layers.Dense(2, activation="softmax")(joined)])
    outer = Sequential([Input((4,)), inner, layers.Dense(2)], name="outer")
    for m in (model, outer):
        randomize(m)
    check_export(model, tmp_path, [_x((4,)), _x((2,), 2)])
    check_export(outer, tmp_path, [_x((4,))])


def test_a_float64_model_exports_as_float32(float64, tmp_path):
    model, xs = _seq([layers.Dense(4, activation="relu"), layers.Dense(2)], (3,))
    assert model.weights[0].value.dtype == np.float64
    check_export(model, tmp_path, xs, tolerance=1e-5)


def test_unknown_sequence_length_and_opset_18(tmp_path):
    model = Sequential([Input((None, 2)), layers.Conv1D(3, 3, padding="same"), layers.LSTM(4, return_sequences=True),
                        layers.LayerNormalization(rms_scaling=True), layers.GlobalMaxPooling1D()])
    randomize(model)
    for steps in (4, 9):
        check_export(model, tmp_path, [_x((steps, 2))], opset_version=18)
