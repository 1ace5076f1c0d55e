"""Preprocessing and augmentation layers: PyTorch (interpolate, grid_sample, flip) and
Keras 3's NumPy sampling (np.pad + scipy.ndimage.map_coordinates) as oracles, seeded
draws, the identity at inference, adapt() against NumPy, and model round trips."""

import math

import numpy as np
import pytest

import corelib
from corelib import config, layers, models
from corelib.errors import ConfigError, ShapeError

torch = pytest.importorskip("torch")
F = torch.nn.functional

RANDOM_LAYERS = [
    ("RandomFlip", {}),
    ("RandomRotation", {"factor": 0.3}),
    ("RandomZoom", {"height_factor": 0.3, "width_factor": (-0.2, 0.4)}),
    ("RandomTranslation", {"height_factor": 0.2, "width_factor": 0.3}),
    ("RandomCrop", {"height": 3, "width": 4}),
    ("RandomContrast", {"factor": 0.4, "value_range": (-100, 100)}),
]


def _images(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _nchw(x):
    return torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), requires_grad=True)


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def _forward_backward(layer, x, dy, training=True):
    y, backprop = layer.forward(x, training)
    return np.array(y, copy=True), backprop(dy)


# -- Rescaling ---------------------------------------------------------------------


def test_rescaling_scales_and_offsets_per_channel():
    x = _images((2, 3, 4, 3))
    scale, offset = np.array([0.5, 2.0, -1.0]), np.array([0.1, 0.2, 0.3])
    layer = layers.Rescaling(scale.tolist(), offset=offset.tolist(), dtype="float64")
    y = layer(x)
    np.testing.assert_allclose(y, x * scale + offset, rtol=1e-15)
    assert layers.Rescaling(1 / 255)(x.astype(np.float32)).dtype == np.float32
    with pytest.raises(ShapeError, match="scale of shape"):
        layers.Rescaling([1.0, 2.0]).ensure_built((None, 4, 3))
    with pytest.raises(ConfigError, match="Received: scale='big'"):
        layers.Rescaling("big")


# -- Resizing ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [(3, 8), (9, 4), (5, 6), (12, 13), (1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_resizing_bilinear_matches_torch_interpolate(size, dtype):
    x = _images((2, 5, 6, 3), dtype=dtype)
    dy = _images((2, *size, 3), seed=1, dtype=dtype)
    layer = layers.Resizing(*size, dtype=np.dtype(dtype).name)
    y, dx = _forward_backward(layer, x, dy)
    tx = _nchw(x)
    ty = F.interpolate(tx, size=size, mode="bilinear", align_corners=False, antialias=False)
    ty.backward(_nchw(dy).detach())
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert y.dtype == dtype and dx.dtype == dtype
    np.testing.assert_allclose(y, _nhwc(ty), rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, _nhwc(tx.grad), rtol=tol, atol=tol)


@pytest.mark.parametrize("size", [(3, 8), (10, 4), (2, 3), (7, 7)])
def test_resizing_nearest_matches_torch_nearest_exact(size, float64):
    x = _images((2, 5, 6, 2))
    dy = _images((2, *size, 2), seed=1)
    y, dx = _forward_backward(layers.Resizing(*size, interpolation="nearest"), x, dy)
    tx = _nchw(x)
    ty = F.interpolate(tx, size=size, mode="nearest-exact")
    ty.backward(_nchw(dy).detach())
    np.testing.assert_array_equal(y, _nhwc(ty))
    np.testing.assert_allclose(dx, _nhwc(tx.grad), rtol=1e-14, atol=1e-14)


def test_resizing_nearest_agrees_with_torch_nearest_only_when_enlarging_by_whole_factors(float64):
    x = _images((1, 4, 6, 1))
    enlarge = layers.Resizing(8, 18, interpolation="nearest")(x)
    np.testing.assert_array_equal(enlarge, _nhwc(F.interpolate(_nchw(x), size=(8, 18), mode="nearest")))
    shrink = layers.Resizing(2, 3, interpolation="nearest")(x)  # torch's "nearest" reads floor(i * in / out)
    assert not np.array_equal(shrink, _nhwc(F.interpolate(_nchw(x), size=(2, 3), mode="nearest")))


def _keras_crop_window(length, other, target, target_other):
    size = max(min(length, int(other * target / target_other)), 1)
    return (length - size) // 2, size


@pytest.mark.parametrize("in_hw,out_hw", [((5, 9), (4, 4)), ((8, 3), (3, 5)), ((6, 6), (2, 4))])
def test_resizing_crop_to_aspect_ratio_resizes_the_centred_window(in_hw, out_hw, float64):
    x = _images((2, *in_hw, 3))
    dy = _images((2, *out_hw, 3), seed=1)
    y, dx = _forward_backward(layers.Resizing(*out_hw, crop_to_aspect_ratio=True), x, dy)
    (h0, hs), (w0, ws) = _keras_crop_window(*in_hw, *out_hw), _keras_crop_window(*in_hw[::-1], *out_hw[::-1])
    assert hs * out_hw[1] == pytest.approx(ws * out_hw[0], rel=0.5)  # the window has about the target's shape
    tx = _nchw(x)
    ty = F.interpolate(tx[:, :, h0:h0 + hs, w0:w0 + ws], size=out_hw, mode="bilinear", align_corners=False)
    ty.backward(_nchw(dy).detach())
    np.testing.assert_allclose(y, _nhwc(ty), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, _nhwc(tx.grad), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("in_hw,out_hw", [((6, 3), (4, 4)), ((3, 7), (4, 4)), ((4, 4), (4, 4))])
def test_resizing_pad_to_aspect_ratio_pads_the_short_side_with_fill_value(in_hw, out_hw, float64):
    x = _images((2, *in_hw, 2))
    dy = _images((2, *out_hw, 2), seed=1)
    y, dx = _forward_backward(layers.Resizing(*out_hw, pad_to_aspect_ratio=True, fill_value=0.7), x, dy)
    h, w = in_hw
    pad_h = (max(h, w * out_hw[0] // out_hw[1]) - h) // 2
    pad_w = (max(w, h * out_hw[1] // out_hw[0]) - w) // 2 if pad_h == 0 else 0
    tx = _nchw(x)
    ty = F.interpolate(F.pad(tx, (pad_w, pad_w, pad_h, pad_h), value=0.7), size=out_hw, mode="bilinear",
                       align_corners=False)
    ty.backward(_nchw(dy).detach())
    np.testing.assert_allclose(y, _nhwc(ty), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, _nhwc(tx.grad), rtol=1e-12, atol=1e-12)


def test_resizing_channels_first_is_channels_last_transposed(float64):
    x = _images((2, 5, 7, 3))
    last = layers.Resizing(4, 9)(x)
    first = layers.Resizing(4, 9, data_format="channels_first")(x.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(first, last.transpose(0, 3, 1, 2), rtol=1e-14, atol=1e-14)
    assert layers.Resizing(4, 9, data_format="channels_first").compute_output_shape((None, 3, 5, 7)) == (None, 3, 4, 9)


def test_resizing_refuses_what_it_does_not_do():
    with pytest.raises(ConfigError, match="interpolation=.bicubic"):
        layers.Resizing(4, 4, interpolation="bicubic")
    with pytest.raises(ConfigError, match="only one of"):
        layers.Resizing(4, 4, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ConfigError, match="height must be a positive int"):
        layers.Resizing(0, 4)
    with pytest.raises(ShapeError, match="rank 4"):
        layers.Resizing(4, 4).ensure_built((None, 5, 3))


# -- Normalization -----------------------------------------------------------------


@pytest.mark.parametrize("axis,reduce", [(-1, (0, 1)), ((1, 2), (0,)), (None, (0, 1, 2)), (1, (0, 2))])
def test_normalization_adapt_matches_numpy(axis, reduce, float64):
    data = np.random.default_rng(0).normal(3.0, 2.0, (50, 4, 3))
    layer = layers.Normalization(axis=axis)
    layer.adapt(data)
    mean, var = np.mean(data, axis=reduce), np.var(data, axis=reduce)
    np.testing.assert_allclose(layer.mean.value, mean, rtol=1e-12)
    np.testing.assert_allclose(layer.variance.value, var, rtol=1e-12)
    expected = (data - np.mean(data, axis=reduce, keepdims=True)) / np.sqrt(np.var(data, axis=reduce, keepdims=True))
    np.testing.assert_allclose(layer(data), expected, rtol=1e-10, atol=1e-12)
    assert [p.name for p in layer.weights] == ["mean", "variance"] and layer.trainable_weights == []


def test_normalization_adapt_over_batches_equals_adapt_over_the_array(float64):
    data = np.random.default_rng(1).normal(-2.0, 5.0, (60, 5))
    whole, batched = layers.Normalization(), layers.Normalization()
    whole.adapt(data)
    batched.adapt([data[:7], data[7:40], (data[40:], np.zeros(20))])
    np.testing.assert_allclose(batched.mean.value, whole.mean.value, rtol=1e-12)
    np.testing.assert_allclose(batched.variance.value, whole.variance.value, rtol=1e-12)


def test_normalization_invert_undoes_it_and_fixed_statistics_broadcast(float64):
    data = np.random.default_rng(2).normal(1.0, 3.0, (30, 4))
    forward, inverse = layers.Normalization(), layers.Normalization(invert=True)
    forward.adapt(data)
    inverse.adapt(data)
    np.testing.assert_allclose(inverse(forward(data)), data, rtol=1e-12, atol=1e-12)
    x = _images((2, 3, 4))
    fixed = layers.Normalization(axis=(1, 2), mean=[1.0, 2.0, 3.0, 4.0], variance=[4.0, 1.0, 0.25, 9.0])
    np.testing.assert_allclose(fixed(x), (x - [1.0, 2.0, 3.0, 4.0]) / np.array([2.0, 1.0, 0.5, 3.0]), rtol=1e-14)
    assert fixed.weights == [] and fixed.get_config()["mean"] == [1.0, 2.0, 3.0, 4.0]


def test_an_adapted_normalization_passes_the_conformance_checks():
    from corelib.testing import check_layer

    layer = layers.Normalization(axis=(1, 2))
    layer.adapt(np.random.default_rng(4).normal(2.0, 3.0, (20, 3, 4)))
    check_layer(layer, (2, 3, 4))  # its weights are copied: config, float32 and save/load keep the statistics


def test_normalization_refuses_bad_arguments_and_data():
    with pytest.raises(ConfigError, match="mean and variance must be given together"):
        layers.Normalization(mean=1.0)
    with pytest.raises(ShapeError, match="not a non-batch axis"):
        layers.Normalization(axis=0).ensure_built((None, 3))
    with pytest.raises(ShapeError, match="not a non-batch axis"):
        layers.Normalization().ensure_built((None,))
    layer = layers.Normalization()
    layer.adapt(np.ones((4, 3)))
    with pytest.raises(ShapeError, match="differs on the axes"):
        layer.adapt(np.ones((4, 5)))
    with pytest.raises(ConfigError, match="adapt"):
        layers.Normalization(mean=0.0, variance=1.0).adapt(np.ones((4, 3)))


def test_normalization_adapted_in_a_model_survives_save_and_load(tmp_path):
    data = np.random.default_rng(3).normal(10.0, 4.0, (40, 3)).astype(np.float32)
    norm = layers.Normalization()
    norm.adapt(data)
    model = models.Sequential([layers.Input(shape=(3,)), norm, layers.Dense(2)])
    before = model.predict(data, verbose=0)
    model.save(tmp_path / "norm.dl")
    loaded = models.load_model(tmp_path / "norm.dl")
    restored = loaded.layers[0]
    np.testing.assert_allclose(restored.mean.value, np.mean(data, axis=0), rtol=1e-5)
    np.testing.assert_allclose(restored.variance.value, np.var(data, axis=0), rtol=1e-5)
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), before)


# -- the random layers -------------------------------------------------------------


def _keras_affine_reference(images, transforms, interpolation, fill_mode, fill_value=0.0):
    """Keras 3's NumPy backend: pad each image as fill_mode extends it, then scipy's map_coordinates."""
    ndimage = pytest.importorskip("scipy.ndimage")
    n, h, w, c = images.shape
    pad = 2 * (h + w)
    modes = {"reflect": "symmetric", "wrap": "wrap", "nearest": "edge", "constant": "constant"}
    i, j = np.meshgrid(np.arange(h, dtype=float), np.arange(w, dtype=float), indexing="ij")
    out = np.empty_like(images)
    for b in range(n):
        a0, a1, a2, b0, b1, b2 = transforms[b]
        coords = [b0 * j + b1 * i + b2 + pad, a0 * j + a1 * i + a2 + pad]
        for ch in range(c):
            extra = {"constant_values": fill_value} if fill_mode == "constant" else {}
            padded = np.pad(images[b, :, :, ch], pad, mode=modes[fill_mode], **extra)
            out[b, :, :, ch] = ndimage.map_coordinates(padded, coords, order=1 if interpolation == "bilinear" else 0)
    return out


def _rotation(angle, h, w):
    c, s = math.cos(angle), math.sin(angle)
    return [c, -s, ((w - 1) - (c * (w - 1) - s * (h - 1))) / 2, s, c, ((h - 1) - (s * (w - 1) + c * (h - 1))) / 2]


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_random_rotation_matches_keras_numpy_sampling(fill_mode, interpolation, float64):
    x = _images((2, 5, 7, 2))
    layer = layers.RandomRotation((0.1, 0.1), fill_mode=fill_mode, interpolation=interpolation, fill_value=0.3)
    expected = _keras_affine_reference(x, [_rotation(0.2 * math.pi, 5, 7)] * 2, interpolation, fill_mode, 0.3)
    np.testing.assert_allclose(layer(x, training=True), expected, rtol=1e-12, atol=1e-12)


def test_random_rotation_by_half_and_quarter_turns_moves_pixels_exactly(float64):
    x = _images((1, 5, 5, 1))
    np.testing.assert_allclose(layers.RandomRotation((0.5, 0.5))(x, training=True), x[:, ::-1, ::-1],
                               atol=1e-12)
    quarter = layers.RandomRotation((0.25, 0.25))(x, training=True)  # positive: counter-clockwise
    np.testing.assert_allclose(quarter[0, :, :, 0], np.rot90(x[0, :, :, 0]), atol=1e-12)


@pytest.mark.parametrize("name,kwargs,transform", [
    ("RandomZoom", {"height_factor": (0.3, 0.3), "width_factor": (-0.2, -0.2)},
     lambda h, w: [0.8, 0, (w - 1) / 2 * 0.2, 0, 1.3, (h - 1) / 2 * -0.3]),
    ("RandomZoom", {"height_factor": (-0.4, -0.4)},
     lambda h, w: [0.6, 0, (w - 1) / 2 * 0.4, 0, 0.6, (h - 1) / 2 * 0.4]),
    ("RandomTranslation", {"height_factor": (0.25, 0.25), "width_factor": (-0.15, -0.15)},
     lambda h, w: [1, 0, 0.15 * w, 0, 1, -0.25 * h]),
])
@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
def test_zoom_and_translation_match_keras_numpy_sampling(name, kwargs, transform, fill_mode, float64):
    x = _images((2, 6, 5, 3))
    layer = getattr(layers, name)(**kwargs, fill_mode=fill_mode, fill_value=-0.5)
    expected = _keras_affine_reference(x, [transform(6, 5)] * 2, "bilinear", fill_mode, -0.5)
    np.testing.assert_allclose(layer(x, training=True), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fill_mode,padding_mode", [("constant", "zeros"), ("nearest", "border"),
                                                     ("reflect", "reflection")])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_affine_sampling_and_its_gradient_match_torch_grid_sample(fill_mode, padding_mode, interpolation, float64):
    x = _images((2, 6, 7, 3))
    dy = _images((2, 6, 7, 3), seed=1)
    layer = layers.RandomRotation((0.13, 0.13), fill_mode=fill_mode, interpolation=interpolation)
    y, dx = _forward_backward(layer, x, dy)
    a0, a1, a2, b0, b1, b2 = _rotation(0.26 * math.pi, 6, 7)
    i, j = np.meshgrid(np.arange(6.0), np.arange(7.0), indexing="ij")
    # grid_sample's normalised positions (align_corners=False: pixel k spans [k - 0.5, k + 0.5])
    gx, gy = (2 * (a0 * j + a1 * i + a2) + 1) / 7 - 1, (2 * (b0 * j + b1 * i + b2) + 1) / 6 - 1
    grid = torch.tensor(np.stack([gx, gy], -1)[None].repeat(2, 0))
    tx = _nchw(x)
    ty = F.grid_sample(tx, grid, mode=interpolation, padding_mode=padding_mode, align_corners=False)
    ty.backward(_nchw(dy).detach())
    np.testing.assert_allclose(y, _nhwc(ty), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, _nhwc(tx.grad), rtol=1e-12, atol=1e-12)


def test_random_flip_flips_whole_images_as_keras_3_and_backprops_the_same_flip(float64):
    x = _images((16, 3, 4, 2))
    dy = _images((16, 3, 4, 2), seed=1)
    for mode, dims in (("horizontal", (2,)), ("vertical", (1,)), ("horizontal_and_vertical", (1, 2))):
        y, dx = _forward_backward(layers.RandomFlip(mode, seed=5), x, dy)
        flipped = np.array([not np.array_equal(y[n], x[n]) for n in range(16)])
        assert 0 < flipped.sum() < 16
        mask = torch.tensor(flipped)[:, None, None, None]
        tx = torch.tensor(x, requires_grad=True)
        ty = torch.where(mask, torch.flip(tx, dims), tx)
        ty.backward(torch.tensor(dy))
        np.testing.assert_array_equal(y, ty.detach().numpy())
        np.testing.assert_array_equal(dx, tx.grad.numpy())


def test_random_crop_crops_one_window_per_batch_and_resizes_at_inference(float64):
    x = _images((3, 6, 8, 2))
    layer = layers.RandomCrop(4, 5, seed=2)
    corners = set()
    for _ in range(12):
        y = layer(x, training=True)
        found = [(t, s) for t in range(3) for s in range(4) if np.array_equal(y, x[:, t:t + 4, s:s + 5])]
        assert len(found) == 1
        corners.add(found[0])
    assert len(corners) > 1
    inference = layers.RandomCrop(4, 5)(x)
    np.testing.assert_allclose(inference, layers.Resizing(4, 5, crop_to_aspect_ratio=True)(x), rtol=1e-14)
    (h0, hs), (w0, ws) = _keras_crop_window(6, 8, 4, 5), _keras_crop_window(8, 6, 5, 4)
    reference = F.interpolate(_nchw(x)[:, :, h0:h0 + hs, w0:w0 + ws], size=(4, 5), mode="bilinear",
                              align_corners=False)
    np.testing.assert_allclose(inference, _nhwc(reference), rtol=1e-12, atol=1e-12)
    small = _images((2, 3, 4, 1))  # smaller than the window: resized while training too
    np.testing.assert_allclose(layers.RandomCrop(4, 5)(small, training=True), layers.Resizing(4, 5, crop_to_aspect_ratio=True)(small),
                               rtol=1e-14)


def test_random_contrast_scales_each_image_about_its_channel_means_and_clips(float64):
    x = _images((6, 4, 5, 3), seed=3) + 5.0
    dy = _images((6, 4, 5, 3), seed=4)
    layer = layers.RandomContrast((0.3, 0.6), value_range=(-100, 100), seed=1)
    y, dx = _forward_backward(layer, x, dy)
    mean = x.mean(axis=(1, 2), keepdims=True)
    factors = ((y - mean) / (x - mean)).reshape(6, -1)
    np.testing.assert_allclose(factors, factors[:, :1] * np.ones_like(factors), rtol=1e-9)  # one per image
    assert np.all((factors >= 0.7) & (factors <= 1.6)) and len(np.unique(factors[:, 0].round(12))) == 6
    c = torch.tensor(factors[:, 0].reshape(6, 1, 1, 1))
    tx = torch.tensor(x, requires_grad=True)
    tmean = tx.mean(dim=(1, 2), keepdim=True)
    ((tx - tmean) * c + tmean).backward(torch.tensor(dy))
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    clipped = layers.RandomContrast(1.0, value_range=(4.5, 5.5), seed=1)(x, training=True)
    assert clipped.min() >= 4.5 and clipped.max() <= 5.5 and np.any(clipped == 5.5)


@pytest.mark.parametrize("name,kwargs", RANDOM_LAYERS)
def test_random_layers_are_the_identity_at_inference_and_repeatable_with_a_seed(name, kwargs, float64):
    cls = getattr(layers, name)
    x = _images((4, 6, 7, 3))
    if name != "RandomCrop":
        y, backprop = cls(**kwargs).forward(x, False)
        np.testing.assert_array_equal(y, x)
        np.testing.assert_array_equal(backprop(x[::-1]), x[::-1])
    first, twin = cls(**kwargs, seed=11), cls(**kwargs, seed=11)
    a, b = first(x, training=True), twin(x, training=True)
    np.testing.assert_array_equal(a, b)
    state = first.get_rng_state()
    again = first(x, training=True)
    assert not np.array_equal(again, a)
    resumed = cls(**kwargs, seed=11)
    resumed.set_rng_state(state)  # what a checkpoint restores: the next draws, not the first ones
    np.testing.assert_array_equal(resumed(x, training=True), again)
    unseeded = cls(**kwargs)
    assert unseeded.get_rng_state() is None
    corelib.set_seed(4)
    one = unseeded(x, training=True)
    corelib.set_seed(4)
    np.testing.assert_array_equal(cls(**kwargs)(x, training=True), one)


def test_augmentation_runs_only_while_training_inside_fit():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6, 6, 1)).astype(np.float32)
    y = (x[:, :, :3].sum(axis=(1, 2, 3)) > 0).astype(np.int64)
    flip = layers.RandomFlip("vertical", seed=3)
    model = models.Sequential([layers.Input(shape=(6, 6, 1)), flip, layers.RandomRotation(0.05),
                               layers.Flatten(), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert flip.get_rng_state() is None
    draws_before = config.get_rng_state()
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=False)
    assert np.all(np.isfinite(history.history["loss"]))
    state = flip.get_rng_state()
    assert state is not None and config.get_rng_state() != draws_before  # both layers drew while training
    kernel, bias = model.layers[-1].get_weights()
    logits = x.reshape(64, -1) @ kernel + bias
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected / expected.sum(1, keepdims=True), rtol=1e-5)
    assert flip.get_rng_state() == state  # predict drew nothing


def test_random_layers_refuse_bad_factors_and_modes():
    with pytest.raises(ConfigError, match=r"factor must be a float in \[-1, 1\]"):
        layers.RandomRotation(1.5)
    with pytest.raises(ConfigError, match="fill_mode must be one of"):
        layers.RandomZoom(0.2, fill_mode="mirror")
    with pytest.raises(ConfigError, match="mode must be one of"):
        layers.RandomFlip("diagonal")
    with pytest.raises(ConfigError, match=r"factor must be a float in \[0, 1\]"):
        layers.RandomContrast(-0.2)
    with pytest.raises(ConfigError, match="value_range"):
        layers.RandomContrast(0.2, value_range=(1, 0))
    with pytest.raises(ShapeError, match="rank 4"):
        layers.RandomFlip().ensure_built((None, 4, 4))
