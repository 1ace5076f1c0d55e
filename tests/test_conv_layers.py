"""Conv1D / Conv2D and the pooling layers: Keras's weights and arguments, PyTorch
agreement through the layers, shape inference that refuses stacks that do not fit."""

import numpy as np
import pytest

import corelib
from corelib import layers, models
from corelib.errors import ConfigError, ShapeError

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _grads(layer, x, dy):
    for p in layer.weights:
        p.grad[...] = 0
    y, backprop = layer.forward(x, True)
    dx = backprop(dy)
    return y, dx, [p.grad.copy() for p in layer.trainable_weights]


@pytest.mark.parametrize("strides,padding", [(1, "valid"), (2, "same"), (1, "same"), (2, "valid")])
def test_conv2d_layer_takes_keras_weights_and_matches_torch(float64, strides, padding):
    rng = np.random.default_rng(strides)
    x = rng.standard_normal((2, 7, 8, 3))
    layer = layers.Conv2D(4, (3, 2), strides=strides, padding=padding, activation="relu")
    layer.ensure_built((None, 7, 8, 3))
    kernel, bias = rng.standard_normal((3, 2, 3, 4)), rng.standard_normal(4)  # Keras: (kh, kw, in, out), bias
    layer.set_weights([kernel, bias])
    assert [p.name for p in layer.weights] == ["kernel", "bias"]
    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    tw = torch.tensor(kernel.transpose(3, 2, 0, 1), requires_grad=True)
    tb = torch.tensor(bias, requires_grad=True)
    if padding == "same":  # Keras pads the odd row / column after (bottom, right)
        ph, pw = max((-(-7 // strides) - 1) * strides + 3 - 7, 0), max((-(-8 // strides) - 1) * strides + 2 - 8, 0)
        tin = F.pad(tx, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
    else:
        tin = tx
    ty = torch.relu(F.conv2d(tin, tw, tb, stride=strides))
    dy = rng.standard_normal(tuple(ty.shape[i] for i in (0, 2, 3, 1)))
    ty.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
    y, dx, (dw, db) = _grads(layer, x, dy)
    assert y.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, ty.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dw, tw.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(db, tb.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_conv1d_causal_and_channels_first_match_torch(float64):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 9, 3))
    kernel = rng.standard_normal((3, 3, 5))
    causal = layers.Conv1D(5, 3, padding="causal", dilation_rate=2, use_bias=False)
    first = layers.Conv1D(5, 3, padding="causal", dilation_rate=2, use_bias=False, data_format="channels_first")
    causal.ensure_built((None, 9, 3))
    first.ensure_built((None, 3, 9))
    causal.set_weights([kernel])
    first.set_weights([kernel])
    ref = F.conv1d(F.pad(torch.tensor(x.transpose(0, 2, 1)), (4, 0)), torch.tensor(kernel.transpose(2, 1, 0)),
                   dilation=2).numpy()
    np.testing.assert_allclose(causal(x), ref.transpose(0, 2, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(first(x.transpose(0, 2, 1)), ref, rtol=1e-12, atol=1e-12)
    y, _ = causal.forward(x[:, :4], False)  # output t sees inputs up to t only
    np.testing.assert_allclose(y, causal(x)[:, :4], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["Max", "Average"])
def test_pooling_layers_match_torch(float64, kind):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 7, 3))
    layer = getattr(layers, f"{kind}Pooling2D")(pool_size=3, strides=2, padding="valid")
    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    ty = (F.max_pool2d if kind == "Max" else F.avg_pool2d)(tx, 3, 2)
    dy = rng.standard_normal(tuple(ty.shape[i] for i in (0, 2, 3, 1)))
    ty.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
    layer.ensure_built((None, 6, 7, 3))
    y, dx, _ = _grads(layer, x, dy)
    np.testing.assert_allclose(y, ty.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-15)
    one_d = getattr(layers, f"{kind}Pooling1D")(pool_size=2)  # strides default to pool_size
    np.testing.assert_allclose(one_d(x[:, 0]), layer.__class__(pool_size=(1, 2))(x[:, :1])[:, 0])


def test_global_pooling_matches_numpy():
    x = np.random.default_rng(3).standard_normal((2, 4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(layers.GlobalAveragePooling2D()(x), x.mean((1, 2)), rtol=1e-6)
    np.testing.assert_allclose(layers.GlobalMaxPooling2D()(x), x.max((1, 2)))
    np.testing.assert_allclose(layers.GlobalMaxPooling1D(data_format="channels_first")(x[:, 0]), x[:, 0].max(2))
    assert layers.GlobalAveragePooling1D(keepdims=True)(x[:, 0]).shape == (2, 1, 3)
    pool = layers.GlobalMaxPooling2D()
    pool.ensure_built((None, 4, 5, 3))
    _, backprop = pool.forward(x, True)
    dx = backprop(np.ones((2, 3), np.float32))
    assert dx.sum() == 6  # one winner per (sample, channel), holding the maximum
    np.testing.assert_array_equal((x * dx).sum((1, 2)), x.max((1, 2)))


def test_keras_argument_forms_and_config_round_trip():
    conv = layers.Conv2D(8, 3, strides=(2, 1), padding="SAME", dilation_rate=1, kernel_regularizer="l2")
    assert conv.kernel_size == (3, 3) and conv.strides == (2, 1) and conv.padding == "same"
    cfg = conv.get_config()
    assert cfg["kernel_size"] == [3, 3] and cfg["data_format"] == "channels_last" and cfg["groups"] == 1
    assert layers.Conv2D.from_config(cfg).get_config() == cfg
    assert layers.get("MaxPool2D") is layers.MaxPooling2D and layers.get("Convolution1D") is layers.Conv1D
    assert layers.MaxPooling2D(3).strides == (3, 3) and layers.AveragePooling1D(4, strides=1).strides == (1,)


@pytest.mark.parametrize("make,message", [
    (lambda: layers.Conv2D(-3, 3), r"Conv2D 'conv2d': filters must be a positive int. Received: filters=-3"),
    (lambda: layers.Conv2D(4, (3,)), r"kernel_size must be a positive int or a tuple of 2 such ints. Received: kernel_size=\(3,\)"),
    (lambda: layers.Conv2D(4, 3, padding="causal"), r"padding must be one of 'valid', 'same'. Received: padding='causal'"),
    (lambda: layers.Conv1D(6, 3, groups=4), r"filters must be a multiple of groups. Received: filters=6, groups=4"),
    (lambda: layers.Conv2D(4, 3, data_format="NHWC"), r"data_format must be 'channels_last' or 'channels_first'"),
    (lambda: layers.MaxPooling2D(0), r"pool_size must be a positive int"),
    (lambda: layers.AveragePooling1D(2, padding="full"), r"padding must be one of 'valid', 'same'"),
])
def test_bad_arguments_are_refused_keras_style(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_stacks_that_do_not_fit_are_refused_when_composed():
    model = models.Sequential([layers.Dense(4, input_shape=(6,))])
    with pytest.raises(ShapeError, match=r"Layer 'conv2d' \(Conv2D\) cannot follow layer 'dense' \(Dense\): 'dense' "
                                         r"outputs shape \(None, 4\), but Conv2D 'conv2d' expects an input of rank 4 "
                                         r"\(batch, rows, cols, channels\), received shape \(None, 4\)"):
        model.add(layers.Conv2D(2, 3))
    model = models.Sequential([layers.Conv2D(4, 3, input_shape=(5, 5, 1)), layers.MaxPooling2D(2)])
    assert model.layers[-1].output_shape == (None, 1, 1, 4)
    with pytest.raises(ShapeError, match=r"cannot follow layer 'max_pooling2d' \(MaxPooling2D\): 'max_pooling2d' "
                                         r"outputs shape \(None, 1, 1, 4\), but Conv2D 'conv2d_2' with kernel_size \(3, 3\) and dilation_rate \(1, 1\) "
                                         r"needs each spatial axis to be at least 3 long with padding='valid', "
                                         r"received shape \(None, 1, 1, 4\)"):
        model.add(layers.Conv2D(4, 3))
    with pytest.raises(ShapeError, match=r"MaxPooling2D 'max_pooling2d_1' with pool_size \(2, 2\) needs each spatial "
                                         r"axis to be at least as long as the pool"):
        model.add(layers.MaxPooling2D(2))
    model.add(layers.Conv2D(4, 3, padding="same"))  # "same" always fits
    with pytest.raises(ShapeError, match=r"Conv1D 'conv1d' expects an input of rank 3 \(batch, steps, channels\)"):
        models.Sequential([layers.Conv1D(2, 3, input_shape=(5, 5, 1))])
    conv = layers.Conv2D(2, 1)
    conv.ensure_built((None, 4, 4, 3))
    with pytest.raises(ShapeError, match=r"expects an input with 3 channels, received shape \(None, 4, 4, 2\)"):
        conv.compute_output_shape((None, 4, 4, 2))
    with pytest.raises(ShapeError, match="has groups=2, which must divide the input channels"):
        layers.Conv2D(4, 1, groups=2).compute_output_shape((None, 4, 4, 3))


def test_output_shapes_follow_keras():
    cases = [
        (layers.Conv2D(6, 3, strides=2, padding="same"), (None, 7, 8, 3), (None, 4, 4, 6)),
        (layers.Conv2D(6, (3, 1), dilation_rate=2), (None, 7, 8, 3), (None, 3, 8, 6)),
        (layers.Conv2D(6, 2, data_format="channels_first"), (None, 3, 7, 8), (None, 6, 6, 7)),
        (layers.Conv1D(6, 4, strides=3, padding="causal"), (None, 10, 2), (None, 4, 6)),
        (layers.Conv1D(6, 4), (None, None, 2), (None, None, 6)),  # unknown length stays unknown
        (layers.MaxPooling2D(3, strides=2, padding="same"), (None, 7, 8, 3), (None, 4, 4, 3)),
        (layers.AveragePooling1D(3), (None, 10, 2), (None, 3, 2)),
        (layers.GlobalMaxPooling2D(keepdims=True, data_format="channels_first"), (None, 3, 7, 8), (None, 3, 1, 1)),
    ]
    for layer, shape, expected in cases:
        assert layer.compute_output_shape(shape) == expected, type(layer).__name__


def test_large_column_matrices_fall_back_to_chunks(float64):
    from corelib.kernels import conv as kconv

    rng = np.random.default_rng(4)
    x, dy = rng.standard_normal((2, 16, 13, 2)), rng.standard_normal((2, 16, 13, 4))
    layer = layers.Conv2D(4, 3, padding="same", activation="tanh")  # 416 rows: chunks of 128 and a ragged one
    layer.ensure_built((None, 16, 13, 2))
    whole = _grads(layer, x, dy)
    previous = kconv._set_column_limits(0, 1)  # nothing kept whole; chunks of the minimum rows
    try:
        chunked = _grads(layer, x, dy)
    finally:
        kconv._set_column_limits(*previous)
    for a, b in zip(whole[:2] + tuple(whole[2]), chunked[:2] + tuple(chunked[2])):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_workspaces_are_reused_across_training_steps():
    corelib.set_seed(0)
    model = models.Sequential([
        layers.Conv2D(4, 3, activation="relu", input_shape=(6, 6, 2)), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dense(3),
    ])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).standard_normal((8, 6, 6, 2)).astype(np.float32)
    y = np.arange(8) % 3
    model.train_on_batch(x, y)
    buffers = {id(b) for layer in model.layers[:2] for b in layer._buffers.values()}
    model.train_on_batch(x, y)
    assert {id(b) for layer in model.layers[:2] for b in layer._buffers.values()} == buffers
    assert len(buffers) >= 5  # conv: output, column matrix, ...; pooling: output, argmax, dx


def test_conv_model_saves_and_loads(tmp_path):
    corelib.set_seed(0)
    model = models.Sequential([
        layers.Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
        layers.BatchNormalization(), layers.AveragePooling2D(2), layers.Conv2D(3, 2),
        layers.GlobalMaxPooling2D(), layers.Dense(2),
    ])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(1).standard_normal((6, 8, 8, 1)).astype(np.float32)
    model.fit(x, np.zeros((6, 2), np.float32), epochs=2, batch_size=3, verbose=0)
    model.save(tmp_path / "cnn.dl")
    again = models.load_model(tmp_path / "cnn.dl")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
