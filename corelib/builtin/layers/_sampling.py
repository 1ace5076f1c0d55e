"""Image sampling shared by the preprocessing and augmentation layers.

Every layer here reads the input at computed positions and mixes the pixels it
finds there. The mix does not depend on the pixel values, so the output is
linear in the input: the backward pass uses the same indices and weights with
the gather turned into a scatter-add.

- `taps` turns positions on one axis into source indices and weights (bilinear
  or nearest), with Keras's fill modes for positions outside the image.
- `resize_matrix` writes the taps of one axis of a resize as an
  (out, in) matrix. Resizing and RandomCrop use it, one matrix per spatial axis.
- `AffineSampler` samples images through a per-image affine map of the pixel
  grid (RandomRotation, RandomZoom, RandomTranslation).

Conventions (Keras 3, TensorFlow): pixel (row i, column j) sits at position
(i, j). A resize samples half-pixel centres, output i reading input position
(i + 0.5) * in / out - 0.5, clamped to the image (bilinear), or
floor((i + 0.5) * in / out) (nearest), with no antialiasing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["FILL_MODES", "INTERPOLATIONS", "taps", "resize_matrix", "aspect_window", "resize", "resize_backward",
           "AffineSampler", "channels_last", "from_channels_last"]

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


def _fold(index: np.ndarray, length: int, fill_mode: str) -> np.ndarray:
    """Integer positions brought inside [0, length) as `fill_mode` extends the image.

    "reflect" is (d c b a | a b c d | d c b a), "wrap" (a b c d | a b c d), and
    "nearest" (a a | a b c d | d d); "constant" also clamps: the caller drops the
    weight of out-of-range taps and gives it to the fill value.
    """
    if fill_mode == "reflect":
        period = np.mod(index, 2 * length)
        return np.where(period >= length, 2 * length - 1 - period, period)
    if fill_mode == "wrap":
        return np.mod(index, length)
    return np.clip(index, 0, length - 1)


def taps(coords: np.ndarray, length: int, interpolation: str,
         fill_mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Where and how much to read an axis of `length` pixels at positions `coords`.

    Args:
        coords: float positions, any shape.
        length: the number of pixels on the axis.
        interpolation: "bilinear" (two taps, the pixels either side) or
            "nearest" (one tap, the closest pixel; halves round up).
        fill_mode: how positions outside [0, length - 1] read the image (see `_fold`).

    Returns:
        (indices, weights, inside): indices and weights of shape
        ``coords.shape + (taps,)``, indices in [0, length); inside is a boolean
        array of the same shape for "constant" (False where the tap fell outside
        the image) and None for the other modes.
    """
    coords = np.asarray(coords, dtype=np.float64)
    if interpolation == "nearest":
        raw = np.floor(coords + 0.5)[..., None]
        weights = np.ones_like(raw)
    else:
        low = np.floor(coords)
        frac = coords - low
        raw = np.stack([low, low + 1.0], axis=-1)
        weights = np.stack([1.0 - frac, frac], axis=-1)
    raw = raw.astype(np.intp)
    inside = ((raw >= 0) & (raw < length)) if fill_mode == "constant" else None
    return _fold(raw, length, fill_mode), weights, inside


def resize_matrix(out_len: int, in_len: int, interpolation: str, start: int = 0,
                  span: int | None = None) -> np.ndarray:
    """The (out_len, in_len) float64 matrix resizing one axis.

    The resize reads the window [start, start + span) of the input (the whole
    axis by default); a window that crops has start >= 0 and span < in_len, one
    that pads has start < 0 and span > in_len. Positions are clamped to the
    window; the weight of window pixels outside the input is left out, so a row
    sums to the share of real pixels (the rest is the caller's fill value).
    """
    span = in_len if span is None else span
    i = np.arange(out_len)
    if interpolation == "nearest":
        # floor((i + 0.5) * span / out) in exact integer arithmetic: no rounding at ties
        coords = ((2 * i + 1) * span) // (2 * out_len)
    else:
        coords = (i + 0.5) * (span / out_len) - 0.5
    index, weight, _ = taps(coords, span, interpolation, "nearest")
    index = index + start
    keep = (index >= 0) & (index < in_len)
    rows = np.broadcast_to(i[:, None], index.shape)
    matrix = np.zeros((out_len, in_len))
    np.add.at(matrix, (rows[keep], index[keep]), weight[keep])
    return matrix


def aspect_window(length: int, other: int, target: int, target_other: int) -> tuple[int, int]:
    """(start, size) of the largest centred window of an axis of `length` whose aspect
    ratio with the `other` axis is target / target_other (Keras's `crop_to_aspect_ratio`)."""
    size = max(min(length, int(float(other * target) / target_other)), 1)
    return int(float(length - size) / 2), size


def _spec(channels_first: bool) -> str:
    return "nchw" if channels_first else "nhwc"


def resize(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, channels_first: bool) -> np.ndarray:
    """Resize images with the matrices of `resize_matrix` for rows (height) and cols (width)."""
    spec = _spec(channels_first)
    tall = spec.replace("h", "p")
    mid = np.einsum(f"ph,{spec}->{tall}", rows.astype(x.dtype), x, optimize=True)
    return np.einsum(f"qw,{tall}->{tall.replace('w', 'q')}", cols.astype(x.dtype), mid, optimize=True)


def resize_backward(dy: np.ndarray, rows: np.ndarray, cols: np.ndarray, channels_first: bool) -> np.ndarray:
    """The input gradient of `resize`: the transposed matrices applied to `dy`."""
    spec = _spec(channels_first)
    tall = spec.replace("h", "p")
    mid = np.einsum(f"qw,{tall.replace('w', 'q')}->{tall}", cols.astype(dy.dtype), dy, optimize=True)
    return np.einsum(f"ph,{tall}->{spec}", rows.astype(dy.dtype), mid, optimize=True)


class AffineSampler:
    """Samples (batch, height, width, channels) images through per-image affine maps.

    Output pixel (row i, column j) of image n reads the input at column
    ``a0 j + a1 i + a2`` and row ``b0 j + b1 i + b2``, with
    ``transforms[n] = (a0, a1, a2, b0, b1, b2)`` (Keras's and TensorFlow's
    `affine_transform` with the projective terms zero). The output has the
    input's size.

    Args:
        transforms: (batch, 6) float array.
        height, width: the image size.
        interpolation: "bilinear" or "nearest".
        fill_mode: "reflect", "wrap", "constant" or "nearest".
    """

    def __init__(self, transforms: np.ndarray, height: int, width: int, interpolation: str, fill_mode: str) -> None:
        t = np.asarray(transforms, dtype=np.float64)[:, :, None, None]
        n = t.shape[0]
        i = np.arange(height, dtype=np.float64)[:, None]
        j = np.arange(width, dtype=np.float64)[None, :]
        row_index, row_weight, row_inside = taps(t[:, 3] * j + t[:, 4] * i + t[:, 5], height, interpolation, fill_mode)
        col_index, col_weight, col_inside = taps(t[:, 0] * j + t[:, 1] * i + t[:, 2], width, interpolation, fill_mode)
        image = np.arange(n)[:, None, None, None, None]
        flat = (image * height + row_index[..., :, None]) * width + col_index[..., None, :]
        weight = row_weight[..., :, None] * col_weight[..., None, :]
        taps_shape = (n, height, width, -1)
        self.index = flat.reshape(taps_shape)
        self.fill_weight = None
        if row_inside is not None:
            inside = (row_inside[..., :, None] & col_inside[..., None, :]).reshape(taps_shape)
            weight = weight.reshape(taps_shape)
            self.fill_weight = np.sum(weight, axis=-1, where=~inside)
            weight = np.where(inside, weight, 0.0)
        self.weight = weight.reshape(taps_shape)
        self.pixels = n * height * width

    def sample(self, x: np.ndarray, fill_value: float = 0.0) -> np.ndarray:
        """The sampled images; `x` is (batch, height, width, channels)."""
        flat = x.reshape(self.pixels, x.shape[-1])
        weight = self.weight.astype(x.dtype, copy=False)
        y = np.zeros(self.index.shape[:3] + (x.shape[-1],), dtype=x.dtype)
        for t in range(self.index.shape[-1]):
            y += weight[..., t, None] * np.take(flat, self.index[..., t], axis=0)
        if self.fill_weight is not None and fill_value != 0.0:
            y += (fill_value * self.fill_weight).astype(x.dtype)[..., None]
        return y

    def sample_backward(self, dy: np.ndarray) -> np.ndarray:
        """The input gradient of `sample` (the scatter-add of its gather)."""
        channels = dy.shape[-1]
        offsets = np.arange(channels)
        dx = np.zeros(self.pixels * channels)
        for t in range(self.index.shape[-1]):
            keys = self.index[..., t, None] * channels + offsets
            dx += np.bincount(keys.ravel(), weights=(self.weight[..., t, None] * dy).ravel(),
                              minlength=self.pixels * channels)
        return dx.reshape(dy.shape).astype(dy.dtype, copy=False)


def channels_last(x: np.ndarray, channels_first: bool) -> np.ndarray:
    """A (batch, height, width, channels) view of `x`."""
    return np.moveaxis(x, 1, -1) if channels_first else x


def from_channels_last(y: np.ndarray, channels_first: bool) -> Any:
    """`y` back in the layer's layout, contiguous."""
    return np.ascontiguousarray(np.moveaxis(y, -1, 1)) if channels_first else y
