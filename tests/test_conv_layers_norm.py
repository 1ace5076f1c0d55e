"""BatchNormalization, ZeroPadding2D, Cropping2D, UpSampling2D, SpatialDropout1D/2D,
and the digits CNN example trained from the shell."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import corelib
from corelib import layers, models
from corelib.errors import ConfigError, ShapeError

torch = pytest.importorskip("torch")
F = torch.nn.functional
ROOT = Path(__file__).resolve().parents[1]


# -- BatchNormalization -------------------------------------------------------------


def test_batch_norm_weights_follow_keras_and_summary_counts_moving_statistics_apart():
    model = models.Sequential([layers.Conv2D(4, 3, input_shape=(6, 6, 2)), layers.BatchNormalization()])
    bn = model.layers[1]
    assert [p.name for p in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [p.name for p in bn.trainable_weights] == ["gamma", "beta"]
    assert [p.name for p in bn.non_trainable_weights] == ["moving_mean", "moving_variance"]
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    conv_params = 3 * 3 * 2 * 4 + 4
    assert f"Total params: {conv_params + 16:,}" in text
    assert f"Trainable params: {conv_params + 8:,}" in text
    assert "Non-trainable params: 8" in text
    plain = layers.BatchNormalization(center=False, scale=False)
    plain.ensure_built((None, 3))
    assert [p.name for p in plain.weights] == ["moving_mean", "moving_variance"]


def test_batch_norm_trains_with_batch_statistics_and_infers_with_moving_ones(float64):
    rng = np.random.default_rng(0)
    bn = layers.BatchNormalization(momentum=0.8, epsilon=1e-3)
    bn.ensure_built((None, 5, 3))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    bn.set_weights([gamma, beta, np.zeros(3), np.ones(3)])
    moving_mean, moving_var = np.zeros(3), np.ones(3)
    for step in range(3):
        x = 2.0 * rng.standard_normal((4, 5, 3)) + step
        y, _ = bn.forward(x, True)
        mean, var = x.mean((0, 1)), x.var((0, 1))  # biased variance, as Keras
        np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3) * gamma + beta, rtol=1e-10, atol=1e-12)
        moving_mean = 0.8 * moving_mean + 0.2 * mean
        moving_var = 0.8 * moving_var + 0.2 * var
        np.testing.assert_allclose(bn.moving_mean.value, moving_mean, rtol=1e-12)
        np.testing.assert_allclose(bn.moving_variance.value, moving_var, rtol=1e-12)
    x = rng.standard_normal((2, 5, 3))
    expected = (x - moving_mean) / np.sqrt(moving_var + 1e-3) * gamma + beta
    np.testing.assert_allclose(bn(x), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bn.moving_mean.value, moving_mean)  # inference leaves them alone


def test_frozen_batch_norm_runs_in_inference_mode_as_keras(float64):
    bn = layers.BatchNormalization(trainable=False)
    bn.ensure_built((None, 3))
    bn.set_weights([np.full(3, 2.0), np.ones(3), np.full(3, 0.5), np.full(3, 4.0)])
    x = np.random.default_rng(1).standard_normal((6, 3))
    y, backprop = bn.forward(x, True)
    np.testing.assert_allclose(y, (x - 0.5) / np.sqrt(4.001) * 2 + 1, rtol=1e-12)
    np.testing.assert_allclose(bn.moving_mean.value, 0.5)
    np.testing.assert_allclose(backprop(np.ones_like(x)), np.full_like(x, 2 / np.sqrt(4.001)), rtol=1e-12)
    assert bn.trainable_weights == [] and len(bn.non_trainable_weights) == 4


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_batch_norm_layer_matches_torch_channels_first(dtype, tol):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 5, 6)).astype(dtype)
    bn = layers.BatchNormalization(axis=1, dtype=np.dtype(dtype).name)
    bn.ensure_built((None, 4, 5, 6))
    gamma, beta = rng.standard_normal(4).astype(dtype), rng.standard_normal(4).astype(dtype)
    bn.set_weights([gamma, beta, np.zeros(4), np.ones(4)])
    tx = torch.tensor(x, requires_grad=True)
    tg, tb = torch.tensor(gamma, requires_grad=True), torch.tensor(beta, requires_grad=True)
    ty = F.batch_norm(tx, None, None, tg, tb, training=True, eps=1e-3)
    dy = rng.standard_normal(x.shape).astype(dtype)
    ty.backward(torch.tensor(dy))
    y, backprop = bn.forward(x, True)
    dx = backprop(dy)
    for got, want in ((y, ty), (dx, tx.grad), (bn.gamma.grad, tg.grad), (bn.beta.grad, tb.grad)):
        want = want.detach().numpy()
        assert np.max(np.abs(got - want)) <= tol * np.max(np.abs(want))


def test_batch_norm_refuses_bad_arguments_and_shapes():
    with pytest.raises(ConfigError, match=r"momentum must be a float in \[0.0, 1.0\]. Received: momentum=2"):
        layers.BatchNormalization(momentum=2)
    with pytest.raises(ConfigError, match=r"axis must be an int \(or a list of one int\). Received: axis=\[1, 2\]"):
        layers.BatchNormalization(axis=[1, 2])
    assert layers.BatchNormalization(axis=[1]).axis == 1
    with pytest.raises(ShapeError, match=r"has axis=0, which must be a non-batch axis of the input"):
        layers.BatchNormalization(axis=0).compute_output_shape((None, 3))
    with pytest.raises(ShapeError, match=r"expects axis -1 of its input to be known, received shape \(None, None\)"):
        layers.BatchNormalization().compute_output_shape((None, None))
    bn = layers.BatchNormalization()
    bn.ensure_built((None, 3))
    with pytest.raises(ShapeError, match=r"expects 3 entries on axis -1, received shape \(None, 4\)"):
        bn.compute_output_shape((None, 4))


# -- padding, cropping, upsampling, spatial dropout ------------------------------------


def test_zero_padding_and_cropping_match_numpy():
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 2)).astype(np.float32)
    pad = layers.ZeroPadding2D(((1, 2), (0, 3)))
    np.testing.assert_array_equal(pad(x), np.pad(x, ((0, 0), (1, 2), (0, 3), (0, 0))))
    np.testing.assert_array_equal(layers.ZeroPadding2D(1)(x), np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))))
    first = layers.ZeroPadding2D((2, 1), data_format="channels_first")
    np.testing.assert_array_equal(first(x), np.pad(x, ((0, 0), (0, 0), (2, 2), (1, 1))))
    crop = layers.Cropping2D(((1, 0), (1, 2)))
    np.testing.assert_array_equal(crop(x), x[:, 1:, 1:2])
    crop.ensure_built((None, 3, 4, 2))
    _, backprop = crop.forward(x, True)
    dx = backprop(np.ones((2, 2, 1, 2), np.float32))
    np.testing.assert_array_equal(dx, np.pad(np.ones((2, 2, 1, 2)), ((0, 0), (1, 0), (1, 2), (0, 0))))
    with pytest.raises(ShapeError, match=r"Cropping2D 'cropping2d_1' crops 2 \+ 2 from axis 2, which leaves nothing"):
        layers.Cropping2D(2).compute_output_shape((None, 5, 4, 1))
    with pytest.raises(ConfigError, match=r"padding must be an int >= 0, a tuple of 2 such ints"):
        layers.ZeroPadding2D(-1)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_upsampling_matches_torch(float64, interpolation):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 4, 2))
    layer = layers.UpSampling2D((2, 3), interpolation=interpolation)
    layer.ensure_built((None, 3, 4, 2))
    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    if interpolation == "nearest":
        ty = F.interpolate(tx, scale_factor=(2, 3), mode="nearest")
    else:
        ty = F.interpolate(tx, scale_factor=(2, 3), mode="bilinear", align_corners=False)
    dy = rng.standard_normal((2, 6, 12, 2))
    ty.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
    y, backprop = layer.forward(x, True)
    np.testing.assert_allclose(y, ty.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(backprop(dy), tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-12)
    with pytest.raises(ConfigError, match=r"interpolation must be 'nearest' or 'bilinear'. Received: interpolation='area'"):
        layers.UpSampling2D(interpolation="area")


def test_spatial_dropout_drops_whole_channels():
    corelib.set_seed(5)
    x = np.ones((4, 5, 6, 8), np.float32)
    layer = layers.SpatialDropout2D(0.5)
    layer.ensure_built((None, 5, 6, 8))
    y, backprop = layer.forward(x, True)
    per_channel = y.reshape(4, 30, 8)
    assert np.all(per_channel.min(1) == per_channel.max(1))  # a channel is all kept or all dropped
    assert set(np.unique(y)) <= {0.0, 2.0} and 0 < np.count_nonzero(per_channel[:, 0]) < 32
    np.testing.assert_array_equal(backprop(np.ones_like(x)), y)
    np.testing.assert_array_equal(layer(x), x)  # identity at inference
    seq = layers.SpatialDropout1D(0.5)
    seq.ensure_built((None, 7, 8))
    y1, _ = seq.forward(x[:, 0, :7], True)
    assert np.all(y1.min(1) == y1.max(1))
    assert "noise_shape" not in seq.get_config() and "data_format" not in seq.get_config()
    with pytest.raises(ShapeError, match=r"SpatialDropout2D 'spatial_dropout2d_1' expects an input of rank 4"):
        layers.SpatialDropout2D(0.1).compute_output_shape((None, 5, 3))


# -- the example ---------------------------------------------------------------------


# Accuracy depends on the exact rounding of the build: the bounds-checked CI pass (-m 'not slow')
# trains to a different, equally valid model; this checks the normal build the example is run on.
@pytest.mark.slow
def test_digits_cnn_example_trains_from_the_shell(tmp_path):
    """examples/digits_cnn.yaml as shipped (15 epochs, a few seconds): >= 0.98 on the test split."""
    pytest.importorskip("dl_datasets")
    dl = shutil.which("dl")
    command = [dl] if dl else [sys.executable, "-m", "dl_cli"]
    out = tmp_path / "digits_cnn.dl"
    result = subprocess.run([*command, "train", str(ROOT / "examples" / "digits_cnn.yaml"), "--output", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Non-trainable params: 192" in result.stdout  # the two BatchNormalization layers' moving statistics
    test_acc = float(re.search(r"test \(\d+ samples\):.* accuracy: ([0-9.]+)", result.stdout).group(1))
    assert test_acc >= 0.98
    model = models.load_model(out)
    (_, _), (x_test, y_test) = corelib.datasets.load_data("digits")
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc == pytest.approx(test_acc, abs=1e-4)
