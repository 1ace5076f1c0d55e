"""The random affine augmentation layers (Keras 3's RandomRotation, RandomZoom and
RandomTranslation): a random map per image, sampled by `_sampling.AffineSampler`,
which also scatters the gradients back; the identity at inference.

What they share with the other random image layers (the seed, the data format)
is `augmentation.ImageAugmentation`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from corelib.builtin.layers import _sampling as smp
from corelib.builtin.layers.augmentation import ImageAugmentation, bounds, choice
from corelib.builtin.layers.preprocessing import number

__all__ = ["RandomRotation", "RandomZoom", "RandomTranslation"]


class _AffineAugmentation(ImageAugmentation):
    """A random affine map per image, sampled with `fill_mode` and `interpolation`."""

    def __init__(self, fill_mode: str, interpolation: str, seed: int | None, fill_value: float,
                 data_format: str | None, **kwargs: Any) -> None:
        super().__init__(seed, data_format, **kwargs)
        self.fill_mode = choice(fill_mode, smp.FILL_MODES, "fill_mode", self._where)
        self.interpolation = choice(interpolation, smp.INTERPOLATIONS, "interpolation", self._where)
        self.fill_value = number(fill_value, "fill_value", self._where)

    def transforms(self, n: int, height: int, width: int) -> np.ndarray:
        """(n, 6) maps from output to input pixel positions (see `AffineSampler`)."""
        raise NotImplementedError

    def augment(self, x: np.ndarray):
        first = self.channels_first
        rows, cols = self.spatial_axes()
        height, width = x.shape[rows], x.shape[cols]
        sampler = smp.AffineSampler(self.transforms(x.shape[0], height, width), height, width,
                                    self.interpolation, self.fill_mode)
        y = smp.from_channels_last(sampler.sample(smp.channels_last(x, first), self.fill_value), first)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            if not need_input_grad:
                return None
            return smp.from_channels_last(sampler.sample_backward(smp.channels_last(dy, first)), first)

        return y, backprop

    def get_config(self) -> dict:
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


class RandomRotation(_AffineAugmentation):
    """Rotates each image about its centre by a random angle while training.

    Args:
        factor: a fraction of a full turn (2 pi): a float f draws angles in
            [-f, f] turns, a pair (a, b) in [a, b]; positive is counter-clockwise.
            Entries in [-1, 1].
        fill_mode: how positions outside the image are read: "reflect"
            (default, d c b a | a b c d | d c b a), "wrap" (a b c d | a b c d),
            "constant" (fill_value) or "nearest" (a a | a b c d | d d).
        interpolation: "bilinear" (default) or "nearest".
        fill_value: the value read outside the image with fill_mode="constant".
        seed, data_format: as in `RandomFlip`.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch, rows, cols, channels), or (batch, channels, rows, cols).

    Output shape:
        Same as the input.
    """

    def __init__(self, factor: Any, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0, data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = bounds(factor, "factor", self._where)

    def transforms(self, n: int, height: int, width: int) -> np.ndarray:
        lower, upper = self.factor
        angle = self.generator().uniform(lower * 2 * math.pi, upper * 2 * math.pi, size=n)
        cos, sin = np.cos(angle), np.sin(angle)
        # about the centre ((width - 1) / 2, (height - 1) / 2), which maps to itself
        x_offset = ((width - 1) - (cos * (width - 1) - sin * (height - 1))) / 2
        y_offset = ((height - 1) - (sin * (width - 1) + cos * (height - 1))) / 2
        return np.stack([cos, -sin, x_offset, sin, cos, y_offset], axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": list(self.factor)}


class _HeightWidthAugmentation(_AffineAugmentation):
    """An affine augmentation drawn from a height range and a width range (Keras's factor forms)."""

    width_optional = False  # RandomZoom: width_factor None follows the height

    def __init__(self, height_factor: Any, width_factor: Any, fill_mode: str, interpolation: str,
                 seed: int | None, fill_value: float, data_format: str | None, **kwargs: Any) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height = bounds(height_factor, "height_factor", self._where)
        follows = width_factor is None and self.width_optional
        self._width = None if follows else bounds(width_factor, "width_factor", self._where)

    def get_config(self) -> dict:
        return {**super().get_config(), "height_factor": _as_config(self.height_factor),
                "width_factor": _as_config(self.width_factor)}


def _as_config(factor: Any) -> Any:
    return list(factor) if isinstance(factor, tuple) else factor


class RandomZoom(_HeightWidthAugmentation):
    """Zooms each image in or out about its centre by a random amount while training.

    Args:
        height_factor: a fraction: a float f zooms the height by a random
            amount in [-f, f], a pair (a, b) in [a, b]; positive zooms out
            (the image shrinks), negative zooms in. Entries in [-1, 1].
        width_factor: the same for the width; None (default) zooms the width as
            the height, keeping the aspect ratio.
        fill_mode, interpolation, seed, fill_value, data_format: as in `RandomRotation`.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch, rows, cols, channels), or (batch, channels, rows, cols).

    Output shape:
        Same as the input.
    """

    width_optional = True

    def __init__(self, height_factor: Any, width_factor: Any = None, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None, fill_value: float = 0.0,
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(height_factor, width_factor, fill_mode, interpolation, seed, fill_value, data_format,
                         **kwargs)

    def transforms(self, n: int, height: int, width: int) -> np.ndarray:
        rng = self.generator()
        zoom_h = rng.uniform(1 + self._height[0], 1 + self._height[1], size=n)
        zoom_w = zoom_h if self._width is None else rng.uniform(1 + self._width[0], 1 + self._width[1], size=n)
        zeros = np.zeros(n)
        return np.stack([zoom_w, zeros, (width - 1) / 2 * (1 - zoom_w),
                         zeros, zoom_h, (height - 1) / 2 * (1 - zoom_h)], axis=1)


class RandomTranslation(_HeightWidthAugmentation):
    """Shifts each image by a random fraction of its size while training.

    Args:
        height_factor: a fraction of the height: a float f shifts by a random
            amount in [-f, f], a pair (a, b) in [a, b]; positive shifts down.
            Entries in [-1, 1].
        width_factor: the same for the width; positive shifts right.
        fill_mode, interpolation, seed, fill_value, data_format: as in `RandomRotation`.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch, rows, cols, channels), or (batch, channels, rows, cols).

    Output shape:
        Same as the input.
    """

    def __init__(self, height_factor: Any, width_factor: Any, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None, fill_value: float = 0.0,
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(height_factor, width_factor, fill_mode, interpolation, seed, fill_value, data_format,
                         **kwargs)

    def transforms(self, n: int, height: int, width: int) -> np.ndarray:
        rng = self.generator()
        shift_h = rng.uniform(*self._height, size=n) * height
        shift_w = rng.uniform(*self._width, size=n) * width
        ones, zeros = np.ones(n), np.zeros(n)
        return np.stack([ones, zeros, -shift_w, zeros, ones, -shift_h], axis=1)
