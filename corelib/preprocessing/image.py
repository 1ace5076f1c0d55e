"""Images as files and arrays: `load_img`, `img_to_array`, `array_to_img`, `save_img`, `smart_resize`.

Keras 3's `keras.utils` image functions (also `keras.preprocessing.image.*`),
decoding and encoding with Pillow, an optional dependency
(``pip install "dl[images]"``). dl is channels_last only: arrays are
``(height, width, channels)``.

`resize_image` is the resizing behind `image_dataset_from_directory` and
`smart_resize`: "bilinear" and "nearest" give Keras's values (half-pixel
centres, no antialiasing, as ``keras.ops.image.resize``); "bicubic", "area"
and "lanczos3" use Pillow's filters, which antialias when shrinking, so their
values differ a little from TensorFlow's.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from corelib import config
from corelib.errors import ConfigError, DataError, exception_line, short_repr

__all__ = ["load_img", "img_to_array", "array_to_img", "save_img", "smart_resize", "resize_image",
           "decode_image", "check_size",
           "RESIZE_INTERPOLATIONS"]

COLOR_MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}
# load_img's `interpolation`: Pillow's filters, by Keras's names.
_PIL_FILTERS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")
# resize_image's `interpolation`: Keras's names; the last three through Pillow.
RESIZE_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3")
_PILLOW_RESIZE = {"bicubic": "BICUBIC", "area": "BOX", "lanczos3": "LANCZOS"}


def pillow() -> Any:
    """`PIL.Image`, or a one-line ConfigError saying how to install Pillow."""
    try:
        from PIL import Image
    except ImportError:
        raise ConfigError('Reading and writing images needs Pillow, which is not installed: '
                          'pip install "dl[images]"') from None
    return Image


def check_data_format(data_format: Any, owner: str) -> None:
    """dl's images are channels_last; None means that too."""
    if data_format not in (None, "channels_last"):
        raise ConfigError(f'{owner}: dl supports only data_format="channels_last" (arrays of shape '
                          f'(height, width, channels)). Received: data_format={short_repr(data_format)}')


def decode_image(path: Any, color_mode: str, owner: str) -> Any:
    """The image file at `path` as a Pillow image in `color_mode`'s mode, decoded now.

    "grayscale" keeps 16- and 32-bit grayscale images as they are (Pillow's "I;16" / "I"), as
    Keras does. A file that cannot be read or decoded is a DataError naming it.
    """
    Image = pillow()
    if color_mode not in COLOR_MODES:
        raise ConfigError(f'{owner}: color_mode must be "grayscale", "rgb" or "rgba". '
                          f"Received: color_mode={short_repr(color_mode)}")
    mode = COLOR_MODES[color_mode]
    try:
        with Image.open(path) as img:
            img.load()  # decode now: a truncated or corrupt file fails here, not later
            if img.mode == mode or (mode == "L" and img.mode in ("I;16", "I")):
                return img.copy()
            return img.convert(mode)
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError... for bad files
        shown = os.fspath(path) if isinstance(path, (str, bytes, os.PathLike)) else type(path).__name__
        reason = ("Pillow does not recognise it as an image" if isinstance(exc, Image.UnidentifiedImageError)
                  else exception_line(exc))
        raise DataError(f"{owner}: cannot read image file {shown!r}: {reason}") from exc


def load_img(path: Any, color_mode: str = "rgb", target_size: tuple[int, int] | None = None,
             interpolation: str = "nearest", keep_aspect_ratio: bool = False) -> Any:
    """Load an image file as a Pillow image, as `keras.utils.load_img`.

    Args:
        path: the file's path (str, bytes or a path object) or an open binary file (io.BytesIO).
        color_mode: "grayscale", "rgb" or "rgba".
        target_size: None to keep the image's size, or ``(height, width)``.
        interpolation: the Pillow filter used when resizing: "nearest", "bilinear", "bicubic",
            "hamming", "box" or "lanczos".
        keep_aspect_ratio: resize without distortion: crop the largest centred region with the
            target's aspect ratio first.

    Returns:
        A `PIL.Image.Image`.
    """
    if not isinstance(path, (str, bytes, os.PathLike)) and not hasattr(path, "read"):
        raise ConfigError(f"load_img: path should be path-like or io.BytesIO. Received: {short_repr(path)}")
    img = decode_image(path, color_mode, "load_img")
    if target_size is None:
        return img
    height, width = check_size(target_size, "target_size", "load_img")
    if img.size == (width, height):
        return img
    if interpolation not in _PIL_FILTERS:
        raise ConfigError(f"load_img: invalid interpolation method {short_repr(interpolation)}. "
                          f"Supported methods are {', '.join(_PIL_FILTERS)}")
    resample = getattr(pillow().Resampling, interpolation.upper())
    box = None
    if keep_aspect_ratio:
        w, h = img.size
        crop_h = min(h, (w * height) // width)
        crop_w = min(w, (h * width) // height)
        top, left = (h - crop_h) // 2, (w - crop_w) // 2
        box = (left, top, left + crop_w, top + crop_h)
    return img.resize((width, height), resample, box=box)


def img_to_array(img: Any, data_format: str | None = None, dtype: Any = None) -> np.ndarray:
    """A Pillow image (or anything NumPy converts) as an array ``(height, width, channels)``.

    Args:
        img: the image.
        data_format: None or "channels_last".
        dtype: the array's dtype; dl's float type (`config.floatx()`) when None.
    """
    check_data_format(data_format, "img_to_array")
    x = np.asarray(img, dtype=dtype or config.floatx())
    if x.ndim == 2:
        return x.reshape(x.shape + (1,))
    if x.ndim != 3:
        raise DataError(f"img_to_array: unsupported image shape {x.shape} (expected (height, width) or "
                        "(height, width, channels))")
    return x


def array_to_img(x: Any, data_format: str | None = None, scale: bool = True, dtype: Any = None) -> Any:
    """An array ``(height, width, channels)`` as a Pillow image, as `keras.utils.array_to_img`.

    Args:
        x: the array; 1 channel gives a grayscale image ("I" when values pass 255), 3 RGB, 4 RGBA.
        data_format: None or "channels_last".
        scale: stretch the values to [0, 255] (min to 0, max to 255) first.
        dtype: the dtype the array is converted to before scaling; dl's float type when None.
    """
    check_data_format(data_format, "array_to_img")
    Image = pillow()
    x = np.array(x, dtype=dtype or config.floatx())  # a copy: scaling works in place
    if x.ndim != 3:
        raise DataError(f"array_to_img: expected image array to have rank 3 (single image). "
                        f"Got array with shape: {x.shape}")
    if scale:
        x -= np.min(x)
        top = np.max(x)
        if top != 0:
            x /= top
        x *= 255
    channels = x.shape[2]
    if channels in (3, 4):
        return Image.fromarray(x.astype("uint8"))  # Pillow infers RGB / RGBA
    if channels == 1:
        if np.max(x) > 255:  # beyond 8 bits: Pillow's 32-bit grayscale
            return Image.fromarray(x[:, :, 0].astype("int32"))  # mode "I"
        return Image.fromarray(x[:, :, 0].astype("uint8"))  # mode "L"
    raise DataError(f"array_to_img: unsupported channel number: {channels} (expected 1, 3 or 4)")


def save_img(path: Any, x: Any, data_format: str | None = None, file_format: str | None = None,
             scale: bool = True, **kwargs: Any) -> None:
    """Write an array ``(height, width, channels)`` as an image file, as `keras.utils.save_img`.

    Args:
        path: the file's path, or an open binary file (then give `file_format`).
        x: the array.
        data_format: None or "channels_last".
        file_format: "png", "jpeg", ...; from the path's suffix when None.
        scale: stretch the values to [0, 255] first (see `array_to_img`).
        **kwargs: passed to Pillow's ``Image.save`` (``quality=90`` for a JPEG, ...).
    """
    check_data_format(data_format, "save_img")
    if file_format is None and isinstance(path, (str, os.PathLike)):
        file_format = os.path.splitext(os.fspath(path))[1][1:].lower() or None
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("The JPEG format does not support RGBA images, converting to RGB.", stacklevel=2)
        img = img.convert("RGB")
    try:
        img.save(path, format=file_format, **kwargs)
    except (KeyError, ValueError) as exc:  # Pillow: an unknown format or a bad option
        raise ConfigError(f"save_img: cannot write {short_repr(path)} as {file_format!r}: "
                          f"{exception_line(exc)}") from exc


def smart_resize(x: Any, size: tuple[int, int], interpolation: str = "bilinear",
                 data_format: str = "channels_last") -> np.ndarray:
    """Resize an image ``(height, width, channels)`` or a batch of them without distorting them:
    the largest centred crop with `size`'s aspect ratio, resized to `size` (as Keras's `smart_resize`).

    Args:
        x: the image or batch (NumPy-convertible).
        size: ``(height, width)``.
        interpolation: "bilinear", "nearest", "bicubic", "area" or "lanczos3".
        data_format: "channels_last".
    """
    check_data_format(data_format, "smart_resize")
    x = np.asarray(x)
    if x.ndim == 4:
        return np.stack([smart_resize(image, size, interpolation) for image in x]) if len(x) else x
    if x.ndim != 3:
        raise DataError("smart_resize: expected an image array with shape (height, width, channels), or "
                        f"(batch_size, height, width, channels), but got input of shape {x.shape}")
    return resize_image(x, size, interpolation, crop_to_aspect_ratio=True)


def resize_image(x: np.ndarray, size: tuple[int, int], interpolation: str = "bilinear",
                 crop_to_aspect_ratio: bool = False, pad_to_aspect_ratio: bool = False) -> np.ndarray:
    """`x` ``(height, width, channels)`` resized to `size` ``(height, width)`` as float32, as
    ``keras.ops.image.resize`` does (crop to / pad with zeros to the target's aspect ratio first)."""
    height, width = check_size(size, "image_size", "resize")
    x = np.asarray(x, dtype=np.float32)
    h, w = x.shape[:2]
    if crop_to_aspect_ratio:
        crop_h = max(min(h, int(w * height / width)), 1)
        crop_w = max(min(w, int(h * width / height)), 1)
        top, left = (h - crop_h) // 2, (w - crop_w) // 2
        x = x[top:top + crop_h, left:left + crop_w]
    elif pad_to_aspect_ratio:
        # Keras pads the same amount on both sides, so an odd difference leaves the result one short.
        pad_top = (max(h, int(w * height / width)) - h) // 2
        pad_left = (max(w, int(h * width / height)) - w) // 2
        x = np.pad(x, ((pad_top, pad_top), (pad_left, pad_left), (0, 0)))
    if x.shape[:2] == (height, width):
        return np.array(x, dtype=np.float32)  # a copy, never a view of the caller's array
    if interpolation in _PILLOW_RESIZE:
        return _pillow_resize(x, height, width, _PILLOW_RESIZE[interpolation])
    if interpolation not in ("bilinear", "nearest"):
        raise ConfigError(f"resize: interpolation must be one of {RESIZE_INTERPOLATIONS}. "
                          f"Received: interpolation={short_repr(interpolation)}")
    for axis, n_out in ((0, height), (1, width)):
        x = _resize_axis(x, axis, n_out, interpolation)
    return x


def _resize_axis(x: np.ndarray, axis: int, n_out: int, interpolation: str) -> np.ndarray:
    """Resample one axis: half-pixel centres, no antialiasing (TensorFlow's and PyTorch's rule)."""
    n_in = x.shape[axis]
    scale = n_in / n_out
    centres = (np.arange(n_out, dtype=np.float64) + 0.5) * scale
    if interpolation == "nearest":
        return np.take(x, np.minimum(np.floor(centres).astype(np.int64), n_in - 1), axis=axis)
    source = np.maximum(centres - 0.5, 0.0)
    lower = np.minimum(np.floor(source).astype(np.int64), n_in - 1)
    upper = np.minimum(lower + 1, n_in - 1)
    weight = (source - lower).astype(np.float32)
    weight = weight.reshape((-1,) + (1,) * (x.ndim - 1 - axis))
    below, above = np.take(x, lower, axis=axis), np.take(x, upper, axis=axis)
    return below + (above - below) * weight


def _pillow_resize(x: np.ndarray, height: int, width: int, filter_name: str) -> np.ndarray:
    Image = pillow()
    resample = getattr(Image.Resampling, filter_name)
    channels = []
    for c in range(x.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(x[:, :, c]))  # float32: Pillow's mode "F"
        channels.append(np.asarray(plane.resize((width, height), resample)))
    return np.stack(channels, axis=-1).astype(np.float32)


def check_size(value: Any, arg: str, owner: str) -> tuple[int, int]:
    """(height, width) from an int or a pair of positive ints (ConfigError otherwise)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in value)):
        raise ConfigError(f"{owner}: {arg} must be a tuple of 2 positive integers (height, width). "
                          f"Received: {arg}={short_repr(value)}")
    return int(value[0]), int(value[1])
