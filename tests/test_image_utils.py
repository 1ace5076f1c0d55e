"""load_img / img_to_array / array_to_img / save_img / smart_resize against Keras 3's own functions
(which decode with Pillow too, so they run without TensorFlow), and the resizing behind
image_dataset_from_directory against ``keras.ops.image.resize``."""

from __future__ import annotations

import io
import sys
import warnings

import numpy as np
import pytest

from corelib.errors import ConfigError, DataError
from corelib.preprocessing import image as dl_image
from corelib.preprocessing.image import array_to_img, img_to_array, load_img, resize_image, save_img, smart_resize

Image = pytest.importorskip("PIL.Image")
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def _pixels(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def photo(tmp_path):
    """A 9x13 RGB PNG, an RGBA PNG, a grayscale PNG and a JPEG."""
    paths = {}
    for name, shape in (("rgb.png", (9, 13, 3)), ("rgba.png", (9, 13, 4)), ("gray.png", (9, 13)),
                        ("photo.jpg", (9, 13, 3))):
        paths[name] = tmp_path / name
        Image.fromarray(_pixels(shape)).save(paths[name])
    return paths


@pytest.mark.parametrize("name", ["rgb.png", "rgba.png", "gray.png", "photo.jpg"])
@pytest.mark.parametrize("color_mode", ["rgb", "rgba", "grayscale"])
@pytest.mark.parametrize("target_size,interpolation,keep", [
    (None, "nearest", False), ((5, 6), "nearest", False), ((5, 6), "bilinear", True), ((12, 4), "bicubic", True),
])
def test_load_img_and_img_to_array_match_keras(keras, photo, name, color_mode, target_size, interpolation, keep):
    kwargs = dict(color_mode=color_mode, target_size=target_size, interpolation=interpolation, keep_aspect_ratio=keep)
    ours = img_to_array(load_img(photo[name], **kwargs))
    theirs = keras.utils.img_to_array(keras.utils.load_img(photo[name], **kwargs))
    assert ours.dtype == theirs.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs)


def test_load_img_reads_an_open_file_and_keeps_the_pixels(photo):
    data = photo["rgb.png"].read_bytes()
    x = img_to_array(load_img(io.BytesIO(data)), dtype="uint8")
    np.testing.assert_array_equal(x, _pixels((9, 13, 3)))


@pytest.mark.parametrize("channels,scale", [(1, True), (1, False), (3, True), (3, False), (4, True)])
def test_array_to_img_matches_keras(keras, channels, scale):
    x = np.random.default_rng(1).uniform(-3, 300, (4, 5, channels)).astype(np.float32)
    if not scale:
        x = np.clip(x, 0, 255)
    ours, theirs = array_to_img(x, scale=scale), keras.utils.array_to_img(x, scale=scale)
    assert ours.mode == theirs.mode
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_array_to_img_keeps_values_past_255_as_32_bit_grayscale():
    img = array_to_img(np.full((2, 2, 1), 1000.0), scale=False)
    assert img.mode == "I" and np.asarray(img).max() == 1000


@pytest.mark.parametrize("suffix", ["png", "jpg", "bmp"])
def test_save_img_writes_what_keras_writes(keras, tmp_path, suffix):
    x = _pixels((6, 7, 3)).astype(np.float32)
    save_img(tmp_path / f"ours.{suffix}", x)
    keras.utils.save_img(tmp_path / f"theirs.{suffix}", x)
    ours, theirs = Image.open(tmp_path / f"ours.{suffix}"), Image.open(tmp_path / f"theirs.{suffix}")
    assert ours.format == theirs.format
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_save_img_round_trips_a_png_and_converts_rgba_for_jpeg(tmp_path):
    x = _pixels((6, 7, 3))
    save_img(tmp_path / "a.png", x, scale=False)
    np.testing.assert_array_equal(img_to_array(load_img(tmp_path / "a.png"), dtype="uint8"), x)
    with pytest.warns(UserWarning, match="JPEG format does not support RGBA"):
        save_img(tmp_path / "b.jpeg", _pixels((6, 7, 4)))
    assert Image.open(tmp_path / "b.jpeg").mode == "RGB"
    buffer = io.BytesIO()
    save_img(buffer, x, file_format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")


def test_smart_resize_matches_keras(keras):
    x = np.random.default_rng(2).uniform(0, 255, (2, 11, 6, 3)).astype(np.float32)
    theirs = keras.ops.convert_to_numpy(keras.preprocessing.image.smart_resize(x, (5, 5)))
    np.testing.assert_allclose(smart_resize(x, (5, 5)), theirs, rtol=0, atol=1e-3)
    np.testing.assert_allclose(smart_resize(x[0], (8, 3)), keras.ops.convert_to_numpy(
        keras.preprocessing.image.smart_resize(x[0], (8, 3))), rtol=0, atol=1e-3)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("crop,pad", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("shape,size", [((5, 7), (4, 6)), ((9, 4), (6, 6)), ((3, 8), (7, 5)), ((8, 8), (3, 2))])
def test_resize_matches_keras_ops_image_resize(keras, interpolation, crop, pad, shape, size):
    x = np.random.default_rng(3).uniform(0, 255, shape + (3,)).astype(np.float32)
    theirs = keras.ops.convert_to_numpy(keras.ops.image.resize(
        x, size, interpolation=interpolation, crop_to_aspect_ratio=crop, pad_to_aspect_ratio=pad))
    ours = resize_image(x, size, interpolation, crop, pad)
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-3)


@pytest.mark.parametrize("interpolation", ["bicubic", "area", "lanczos3"])
def test_pillow_filters_resize_to_the_size_and_keep_a_constant_image(interpolation):
    out = resize_image(np.full((9, 7, 2), 42.0, np.float32), (4, 5), interpolation)
    assert out.shape == (4, 5, 2)
    np.testing.assert_allclose(out, 42.0, atol=1e-3)


@pytest.mark.parametrize("call", [
    lambda: img_to_array(np.zeros((2, 2, 3)), data_format="channels_first"),
    lambda: array_to_img(np.zeros((2, 2, 3)), data_format="channels_first"),
    lambda: save_img("x.png", np.zeros((2, 2, 3)), data_format="channels_first"),
])
def test_channels_first_is_refused(call):
    with pytest.raises(ConfigError, match='dl supports only data_format="channels_last"'):
        call()


@pytest.mark.parametrize("call,message", [
    (lambda p: load_img(p, color_mode="cmyk"), 'color_mode must be "grayscale", "rgb" or "rgba"'),
    (lambda p: load_img(p, target_size=(4, 4), interpolation="cubic"), "invalid interpolation method 'cubic'"),
    (lambda p: load_img(p, target_size=(0, 4)), r"target_size must be a tuple of 2 positive integers"),
    (lambda p: load_img(12), "path should be path-like or io.BytesIO"),
    (lambda p: resize_image(np.zeros((3, 3, 1)), (2, 2), "gaussian"), "interpolation must be one of"),
])
def test_bad_arguments_are_one_line_config_errors(photo, call, message):
    with pytest.raises(ConfigError, match=message) as info:
        call(photo["rgb.png"])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("content", [b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_a_corrupt_file_is_a_data_error_naming_it(tmp_path, content):
    bad = tmp_path / "broken.png"
    bad.write_bytes(content)
    with pytest.raises(DataError, match=r"load_img: cannot read image file '.*broken\.png'") as info:
        load_img(bad)
    assert "\n" not in str(info.value)


def test_a_truncated_file_is_a_data_error(photo, tmp_path):
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(photo["photo.jpg"].read_bytes()[:200])
    with pytest.raises(DataError, match="cut.jpg"):
        load_img(cut)


def test_without_pillow_the_error_says_what_to_install(monkeypatch, photo):
    monkeypatch.setitem(sys.modules, "PIL", None)  # `from PIL import Image` now raises ImportError
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    for call in (lambda: load_img(photo["rgb.png"]), lambda: array_to_img(np.zeros((2, 2, 3)))):
        with pytest.raises(ConfigError) as info:
            call()
        assert str(info.value) == ('Reading and writing images needs Pillow, which is not installed: '
                                   'pip install "dl[images]"')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dl_image.img_to_array(np.zeros((2, 2))).shape == (2, 2, 1)  # needs no Pillow
