"""Conv2DTranspose: Keras 3's output shapes and paddings, forward and gradients against
torch.nn.functional.conv_transpose2d, float32 and float64, channels last and first."""

import numpy as np
import pytest

from corelib import layers, models
from corelib.errors import ConfigError, ShapeError
from corelib.layers import Input
from corelib.testing import check_layer

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _keras_pads(k, stride, dilation, padding, output_padding):
    """(left, right) padding of the zero-interleaved input, as Keras 3's JAX backend pads it
    (keras.src.backend.common.backend_utils): the specification this layer follows."""
    span = (k - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return span - 1, span - 1 + extra
    total = stride + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
    left = min(total // 2 + total % 2, span - 1)
    return left, total - left


def _torch_reference(x, kernel, bias, strides, padding, output_padding, dilation):
    """x (N, H, W, C) float64 -> output (N, H', W', F) as a torch graph (for gradients): torch's
    full transposed convolution, cut (or zero-extended) to Keras's window."""
    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    tw = torch.tensor(kernel.transpose(3, 2, 0, 1), requires_grad=True)  # (in, out, kh, kw)
    tb = torch.tensor(bias, requires_grad=True)
    full = F.conv_transpose2d(tx, tw, tb, stride=strides, dilation=dilation)
    ops = output_padding or (None, None)
    crops = []
    for axis in range(2):
        left, right = _keras_pads(kernel.shape[axis], strides[axis], dilation[axis], padding, ops[axis])
        span = (kernel.shape[axis] - 1) * dilation[axis] + 1
        crops.append((span - 1 - left, span - 1 - right))
    (top, bottom), (lft, rgt) = crops
    # a negative crop is an extension: zeros plus the bias
    padded = F.pad(full - tb.view(1, -1, 1, 1), (max(-lft, 0), max(-rgt, 0), max(-top, 0), max(-bottom, 0)))
    h, w = padded.shape[2], padded.shape[3]
    out = padded[:, :, max(top, 0):h - max(bottom, 0), max(lft, 0):w - max(rgt, 0)] + tb.view(1, -1, 1, 1)
    return tx, tw, tb, out.permute(0, 2, 3, 1)


CASES = [
    # (kernel, strides, padding, output_padding, dilation)
    ((3, 3), (2, 2), "same", None, (1, 1)),
    ((3, 2), (2, 3), "valid", None, (1, 1)),
    ((4, 4), (2, 2), "same", None, (1, 1)),
    ((2, 2), (3, 3), "valid", None, (1, 1)),  # stride above the kernel: Keras pads to max(k, s)
    ((3, 3), (2, 2), "same", (1, 0), (1, 1)),
    ((2, 3), (3, 2), "same", (0, 1), (1, 1)),
    ((3, 3), (3, 2), "valid", (2, 1), (1, 1)),
    ((3, 2), (1, 1), "same", None, (2, 3)),
    ((2, 2), (2, 2), "valid", (1, 0), (2, 1)),
    ((1, 1), (1, 1), "valid", None, (1, 1)),
    ((4, 3), (3, 1), "same", (1, 0), (1, 2)),  # the zeros-extended end (Keras's right pad > k - 1)
]


@pytest.mark.parametrize("kernel_size,strides,padding,output_padding,dilation", CASES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_forward_and_gradients_match_torch(float64, kernel_size, strides, padding, output_padding, dilation,
                                           data_format):
    rng = np.random.default_rng(hash((kernel_size, strides, padding)) % 2**32)
    x = rng.standard_normal((2, 4, 5, 3))
    layer = layers.Conv2DTranspose(4, kernel_size, strides=strides, padding=padding, output_padding=output_padding,
                                   dilation_rate=dilation, data_format=data_format)
    first = data_format == "channels_first"
    x_in = x.transpose(0, 3, 1, 2) if first else x
    layer.ensure_built((None, *x_in.shape[1:]))
    kernel, bias = rng.standard_normal((*kernel_size, 4, 3)), rng.standard_normal(4)  # Keras: (kh, kw, out, in)
    layer.set_weights([kernel, bias])
    tx, tw, tb, ty = _torch_reference(x, kernel, bias, strides, padding, output_padding, dilation)
    dy = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(dy))

    y, backprop = layer.forward(x_in, True)
    dx = backprop(dy.transpose(0, 3, 1, 2) if first else dy)
    if first:
        y, dx = y.transpose(0, 2, 3, 1), dx.transpose(0, 2, 3, 1)
    assert y.shape == ty.shape
    assert layer.compute_output_shape(x_in.shape) == (y.transpose(0, 3, 1, 2) if first else y).shape
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.kernel.grad, tw.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, tb.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kernel_size,strides,padding,output_padding,dilation", CASES[:6])
def test_float32_matches_torch(kernel_size, strides, padding, output_padding, dilation):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 5, 4, 2)).astype(np.float32)
    layer = layers.Conv2DTranspose(3, kernel_size, strides=strides, padding=padding, output_padding=output_padding,
                                   dilation_rate=dilation, bias_initializer="random_normal")
    layer.ensure_built((None, 5, 4, 2))
    y, backprop = layer.forward(x, True)
    assert y.dtype == np.float32
    kernel, bias = (w.astype(np.float64) for w in layer.get_weights())
    tx, tw, tb, ty = _torch_reference(x.astype(np.float64), kernel, bias, strides, padding, output_padding, dilation)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    ty.backward(torch.tensor(dy.astype(np.float64)))
    dx = backprop(dy)
    assert dx.dtype == np.float32 and layer.kernel.grad.dtype == np.float32
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dx, tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.kernel.grad, tw.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.bias.grad, tb.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_output_shapes_follow_keras():
    # keras.io's example: Conv2DTranspose(32, 2, 2) on (4, 10, 8, 128) gives (4, 20, 16, 32)
    assert layers.Conv2DTranspose(32, 2, 2, activation="relu").compute_output_shape((4, 10, 8, 128)) == (4, 20, 16, 32)
    for (kh, kw), strides, padding, output_padding, dilation in CASES:
        layer = layers.Conv2DTranspose(2, (kh, kw), strides, padding, output_padding, dilation_rate=dilation)
        out = layer.compute_output_shape((None, 4, 5, 3))
        for axis, length in enumerate((4, 5)):
            k, s, d = (kh, kw)[axis], strides[axis], dilation[axis]
            left, right = _keras_pads(k, s, d, padding, None if output_padding is None else output_padding[axis])
            # the dilated-by-stride input, padded, less the dilated kernel, plus one
            assert out[1 + axis] == (length - 1) * s + 1 + left + right - ((k - 1) * d + 1) + 1
    assert layers.Conv2DTranspose(2, 3, 2, "same").compute_output_shape((None, None, 5, 3)) == (None, None, 10, 2)


def test_inside_a_model_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(3)
    inp = Input((4, 4, 2))
    out = layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid")(inp)
    model = models.Model(inp, out)
    assert model.output_shape == (None, 8, 8, 1)
    x = rng.standard_normal((16, 4, 4, 2)).astype(np.float32)
    y = (rng.random((16, 8, 8, 1)) > 0.5).astype(np.float32)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "m.dl")
    loaded = models.load_model(tmp_path / "m.dl")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert loaded.layers[-1].get_config()["output_padding"] is None


def test_conformance_with_a_column_matrix_in_chunks():
    from corelib.kernels import conv as _k

    previous = _k._set_column_limits(full_limit=0, chunk_bytes=64)  # force the chunked path
    try:
        check_layer(layers.Conv2DTranspose, (2, 3, 4, 2), filters=3, kernel_size=3, strides=2, padding="same",
                    bias_initializer="random_normal")
    finally:
        _k._set_column_limits(*previous)


def test_bad_arguments_are_refused():
    with pytest.raises(ConfigError, match=r"output_padding must be lower than the strides \(\(2, 2\)\)\. "
                                          r"Received: output_padding=2"):
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ConfigError, match=r"output_padding must be an int >= 0 or a tuple of 2 such ints"):
        layers.Conv2DTranspose(2, 3, output_padding=(-1, 0))
    with pytest.raises(ConfigError, match=r"padding must be one of 'valid', 'same'\. Received: padding='causal'"):
        layers.Conv2DTranspose(2, 3, padding="causal")
    with pytest.raises(ConfigError, match=r"filters must be a positive int"):
        layers.Conv2DTranspose(0, 3)
    with pytest.raises(ConfigError, match=r"unrecognized keyword arguments: \['groups'\]"):
        layers.Conv2DTranspose(2, 3, groups=2)
    with pytest.raises(ShapeError, match=r"expects an input of rank 4"):
        layers.Conv2DTranspose(2, 3).compute_output_shape((None, 5, 3))
    layer = layers.Conv2DTranspose(2, 3)
    layer.ensure_built((None, 4, 4, 3))
    assert layer.kernel.shape == (3, 3, 2, 3)  # (kh, kw, filters, in_channels)
    with pytest.raises(ShapeError, match=r"expects an input with 3 channels, received shape \(None, 4, 4, 5\)"):
        layer.compute_output_shape((None, 4, 4, 5))
    with pytest.raises(ShapeError, match=r"gives an empty output"):
        layers.Conv2DTranspose(2, 2, padding="same", output_padding=0).compute_output_shape((None, 1, 4, 3))


def test_config_round_trip_is_keras_shaped():
    layer = layers.Conv2DTranspose(4, 3, strides=(2, 1), output_padding=(1, 0), padding="same")
    cfg = layer.get_config()
    keras_keys = ["filters", "kernel_size", "strides", "padding", "output_padding", "data_format", "dilation_rate",
                  "activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer",
                  "bias_regularizer"]
    assert [k for k in cfg if k in keras_keys] == keras_keys and "groups" not in cfg
    assert cfg["output_padding"] == [1, 0] and cfg["strides"] == [2, 1]
    assert layers.Conv2DTranspose.from_config(cfg).get_config() == cfg
    assert layers.get("Convolution2DTranspose") is layers.Conv2DTranspose
