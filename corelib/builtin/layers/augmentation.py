"""Random image augmentation layers (Keras 3's RandomFlip, RandomCrop and
RandomContrast, and the base of all the Random* image layers): active while
training, the identity at inference (RandomCrop resizes there instead, as Keras
documents). The affine ones are in `affine_augmentation`.

Each layer draws from `corelib.config.rng()`, or from a generator of its own
when given a `seed` (its state goes into checkpoints, as a seeded Dropout's).
The transforms are linear in the pixels, so backprop is exact: the flips and
crops move gradients back, the rotations, zooms and translations scatter them
through the sampling of `_sampling.AffineSampler`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.builtin.layers import _sampling as smp
from corelib.builtin.layers import _spatial as sp
from corelib.builtin.layers._common import check_output_size, check_rank, identity_backprop
from corelib.builtin.layers._seeded import SeededGenerator
from corelib.builtin.layers.preprocessing import float_input, number
from corelib.errors import ConfigError
from corelib.layers.base import Layer, Shape
from corelib.validation import MAX_SIZE, positive_int

__all__ = ["RandomFlip", "RandomCrop", "RandomContrast"]

_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def _pair(factor: Any, arg: str, where: str, low: float, high: float) -> tuple[float, float]:
    """`factor` as (a, a) for a float a, or (a, b) for a pair; ConfigError unless each is in [low, high]."""
    values = tuple(factor) if isinstance(factor, (list, tuple)) else (factor, factor)
    ok = len(values) == 2 and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and low <= v <= high
        for v in values)
    if not ok:
        raise ConfigError(f"{where}: {arg} must be a float in [{low:g}, {high:g}] or a tuple of two such floats. "
                          f"Received: {arg}={factor!r}")
    return float(values[0]), float(values[1])


def bounds(factor: Any, arg: str, where: str) -> tuple[float, float]:
    """Keras's range forms: a float f is [-|f|, |f|], a pair (a, b) is [min, max]; entries in [-1, 1]."""
    a, b = _pair(factor, arg, where, -1.0, 1.0)
    if not isinstance(factor, (list, tuple)):
        return -abs(a), abs(a)
    return min(a, b), max(a, b)


def choice(value: Any, allowed: tuple, arg: str, where: str) -> str:
    """`value` if it is one of `allowed`; ConfigError naming them otherwise."""
    if value not in allowed:
        raise ConfigError(f"{where}: {arg} must be one of {', '.join(repr(a) for a in allowed)}. "
                          f"Received: {arg}={value!r}")
    return value


class ImageAugmentation(SeededGenerator, Layer):
    """What the random image layers share: the seed and its generator, the data
    format, the rank-4 input, and the identity at inference."""

    def __init__(self, seed: int | None, data_format: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._where = f"{type(self).__name__} '{self.name}'"
        self.seed = None if seed is None else positive_int(seed, "seed", self._where, allow_zero=True)
        self.data_format = sp.data_format(data_format, self._where)

    @property
    def channels_first(self) -> bool:
        return self.data_format == "channels_first"

    def spatial_axes(self) -> tuple[int, int]:
        return (2, 3) if self.channels_first else (1, 2)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        layout = "(batch, channels, rows, cols)" if self.channels_first else "(batch, rows, cols, channels)"
        return check_rank(self, input_shape, 4, layout)

    def forward(self, x: np.ndarray, training: bool = False):
        x = float_input(self, x)
        if not training:
            return x, identity_backprop
        return self.augment(x)

    def augment(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """The training-mode output and its backprop."""
        raise NotImplementedError

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed, "data_format": self.data_format}


class RandomFlip(ImageAugmentation):
    """Flips each image left-right and/or top-bottom with probability 1/2 while training.

    As Keras 3, one draw per image decides: with "horizontal_and_vertical" an
    image is flipped both ways or not at all.

    Args:
        mode: "horizontal" (left-right), "vertical" (top-bottom) or
            "horizontal_and_vertical" (default).
        seed: an int gives this layer its own generator; None draws from
            `corelib.config.rng()`.
        data_format: "channels_last" (default) or "channels_first".
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch, rows, cols, channels), or (batch, channels, rows, cols).

    Output shape:
        Same as the input.
    """

    def __init__(self, mode: str = "horizontal_and_vertical", seed: int | None = None,
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(seed, data_format, **kwargs)
        self.mode = choice(mode, _FLIP_MODES, "mode", self._where)

    def augment(self, x: np.ndarray):
        flips = self.generator().uniform(size=x.shape[0]) <= 0.5
        rows, cols = self.spatial_axes()
        axes = {"horizontal": (cols,), "vertical": (rows,), "horizontal_and_vertical": (rows, cols)}[self.mode]

        def flip(a: np.ndarray) -> np.ndarray:  # its own inverse and transpose: backprop flips dy alike
            out = a.copy()
            out[flips] = np.flip(a[flips], axis=axes)
            return out

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            return flip(dy) if need_input_grad else None

        return flip(x), backprop

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}

class RandomCrop(ImageAugmentation):
    """Crops a random `height` x `width` window while training (one place for the whole batch).

    At inference, and while training on images smaller than the window, it
    resizes instead (bilinear): the largest centred window with the target
    aspect ratio is resized to `height` x `width`, as Keras documents.

    Args:
        height, width: the output size (positive ints, at most 2**31 - 1; one sample's output
            must fit in memory).
        seed, data_format: as in `RandomFlip`.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch, rows, cols, channels), or (batch, channels, rows, cols).

    Output shape:
        (batch, height, width, channels), or (batch, channels, height, width).
    """

    def __init__(self, height: int, width: int, seed: int | None = None, data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(seed, data_format, **kwargs)
        self.height = positive_int(height, "height", self._where, maximum=MAX_SIZE)
        self.width = positive_int(width, "width", self._where, maximum=MAX_SIZE)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = list(super().compute_output_shape(input_shape))
        rows, cols = self.spatial_axes()
        shape[rows], shape[cols] = self.height, self.width
        return check_output_size(self, shape)

    def forward(self, x: np.ndarray, training: bool = False):
        x = float_input(self, x)
        rows, cols = self.spatial_axes()
        h, w = x.shape[rows], x.shape[cols]
        if training and h >= self.height and w >= self.width:
            return self.augment(x)
        rows_m = smp.resize_matrix(self.height, h, "bilinear", *smp.aspect_window(h, w, self.height, self.width))
        cols_m = smp.resize_matrix(self.width, w, "bilinear", *smp.aspect_window(w, h, self.width, self.height))
        first = self.channels_first

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            return smp.resize_backward(dy, rows_m, cols_m, first) if need_input_grad else None

        return smp.resize(x, rows_m, cols_m, first), backprop

    def augment(self, x: np.ndarray):
        rows, cols = self.spatial_axes()
        rng = self.generator()
        top = int(rng.integers(0, x.shape[rows] - self.height + 1))
        left = int(rng.integers(0, x.shape[cols] - self.width + 1))
        window = [slice(None)] * 4
        window[rows], window[cols] = slice(top, top + self.height), slice(left, left + self.width)
        window = tuple(window)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            if not need_input_grad:
                return None
            dx = np.zeros(x.shape, dtype=dy.dtype)
            dx[window] = dy
            return dx

        return x[window].copy(), backprop

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width}


class RandomContrast(ImageAugmentation):
    """Scales each image's deviation from its per-channel mean by a random factor while training.

    Each pixel x of a channel becomes ``(x - mean) * factor + mean`` (mean over
    the image's rows and columns), one factor per image, then the output is
    clipped to `value_range`.

    Args:
        factor: a float f draws the contrast factor in [1 - f, 1 + f]; a pair
            (lower, upper) draws it in [1 - lower, 1 + upper]. Entries in [0, 1].
        value_range: (low, high), the range the output is clipped to; (0, 255)
            by default.
        seed, data_format: as in `RandomFlip`.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch, rows, cols, channels), or (batch, channels, rows, cols).

    Output shape:
        Same as the input.
    """

    def __init__(self, factor: Any, value_range: Any = (0, 255), seed: int | None = None,
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(seed, data_format, **kwargs)
        self.factor = _pair(factor, "factor", self._where, 0.0, 1.0)  # how far below and above 1
        ok = isinstance(value_range, (list, tuple)) and len(value_range) == 2
        low, high = (number(v, "value_range", self._where) for v in value_range) if ok else (0.0, 0.0)
        if not (ok and low < high):
            raise ConfigError(f"{self._where}: value_range must be a pair (low, high) with low < high. "
                              f"Received: value_range={value_range!r}")
        self.value_range = (low, high)

    def augment(self, x: np.ndarray):
        lower, upper = self.factor
        contrast = self.generator().uniform(1 - lower, 1 + upper, size=(x.shape[0], 1, 1, 1)).astype(x.dtype)
        axes = self.spatial_axes()
        mean = np.mean(x, axis=axes, keepdims=True)
        z = (x - mean) * contrast + mean
        low, high = self.value_range
        passed = (z >= low) & (z <= high)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            if not need_input_grad:
                return None
            g = dy * passed
            return contrast * g + (1 - contrast) * np.mean(g, axis=axes, keepdims=True)

        return np.clip(z, low, high, out=z), backprop

    def get_config(self) -> dict:
        cfg = super().get_config()
        return {**cfg, "factor": list(self.factor), "value_range": list(self.value_range)}
