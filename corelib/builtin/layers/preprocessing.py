"""Preprocessing layers: Rescaling, Resizing and Normalization (Keras 3's)."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from corelib.builtin.layers import _sampling as smp
from corelib.builtin.layers import _spatial as sp
from corelib.builtin.layers._common import check_output_size, check_rank
from corelib.errors import ConfigError, DataError, ShapeError
from corelib.layers.base import Layer, Shape
from corelib.validation import MAX_SIZE, positive_int

__all__ = ["Rescaling", "Resizing", "Normalization"]

_EPSILON = 1e-7  # Keras's backend.epsilon(): the smallest standard deviation Normalization divides by


def _numbers(value: Any, arg: str, where: str) -> float | np.ndarray:
    """A float, or a float64 array for a list of them."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or isinstance(value, bool) or array.size == 0:
        raise ConfigError(f"{where}: {arg} must be a float or a list of floats. Received: {arg}={value!r}")
    return float(array) if array.ndim == 0 else array


def number(value: Any, arg: str, where: str) -> float:
    number = _numbers(value, arg, where)
    if not isinstance(number, float):
        raise ConfigError(f"{where}: {arg} must be a float. Received: {arg}={value!r}")
    return number


def _as_config(value: float | np.ndarray) -> float | list:
    return value.tolist() if isinstance(value, np.ndarray) else value


def float_input(layer: Layer, x: np.ndarray) -> np.ndarray:
    return x if x.dtype in (np.float32, np.float64) else x.astype(layer.dtype)


class Rescaling(Layer):
    """Multiplies the input by `scale` and adds `offset`: ``x * scale + offset``.

    ``Rescaling(1 / 255)`` maps [0, 255] to [0, 1]; ``Rescaling(1 / 127.5,
    offset=-1)`` maps it to [-1, 1].

    Args:
        scale: a float, or a list (array) of floats broadcast against the
            input's last axes (one per channel, say).
        offset: the same forms; 0.0 by default.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        Any.

    Output shape:
        Same as the input.
    """

    def __init__(self, scale: Any, offset: Any = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        where = f"Rescaling '{self.name}'"
        self.scale = _numbers(scale, "scale", where)
        self.offset = _numbers(offset, "offset", where)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = tuple(input_shape)
        for arg, value in (("scale", self.scale), ("offset", self.offset)):
            arg_shape = np.shape(value)
            if len(arg_shape) > len(shape) or any(
                    a != 1 and d is not None and a != d for a, d in zip(arg_shape[::-1], shape[::-1])):
                raise ShapeError(f"Rescaling '{self.name}': {arg} of shape {arg_shape} does not broadcast to "
                                 f"the input without changing its shape; received shape {shape}")
        return shape

    def forward(self, x: np.ndarray, training: bool = False):
        x = float_input(self, x)
        scale = np.asarray(self.scale, dtype=x.dtype)
        y = x * scale
        y += np.asarray(self.offset, dtype=x.dtype)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            return dy * scale if need_input_grad else None

        return y, backprop

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": _as_config(self.scale), "offset": _as_config(self.offset)}


class Resizing(Layer):
    """Resizes images to `height` x `width` (Keras 3's `Resizing`).

    Sampling uses half-pixel centres without antialiasing, as Keras 3 and
    TensorFlow's `resize`: "bilinear" equals PyTorch's
    ``interpolate(mode="bilinear", align_corners=False)`` and "nearest" its
    ``mode="nearest-exact"`` (PyTorch's ``mode="nearest"`` reads
    floor(i * in / out) instead: the same only when enlarging by whole factors).

    Args:
        height, width: the output size.
        interpolation: "bilinear" (default) or "nearest".
        crop_to_aspect_ratio: resize the largest centred window of the image
            with the target aspect ratio instead of the whole image.
        pad_to_aspect_ratio: pad the short side evenly (with `fill_value`) to
            the target aspect ratio first.
        fill_mode: of the padding; "constant" only (as Keras).
        fill_value: the padding's value.
        data_format: "channels_last" (default) or "channels_first".
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch, rows, cols, channels), or (batch, channels, rows, cols).

    Output shape:
        (batch, height, width, channels), or (batch, channels, height, width).
    """

    def __init__(self, height: int, width: int, interpolation: str = "bilinear", crop_to_aspect_ratio: bool = False,
                 pad_to_aspect_ratio: bool = False, fill_mode: str = "constant", fill_value: float = 0.0,
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        where = f"Resizing '{self.name}'"
        self.height = positive_int(height, "height", where, maximum=MAX_SIZE)
        self.width = positive_int(width, "width", where, maximum=MAX_SIZE)
        if interpolation not in smp.INTERPOLATIONS:
            raise ConfigError(f"{where}: interpolation must be 'bilinear' or 'nearest' (Keras's 'bicubic' and "
                              f"'lanczos' are not available). Received: interpolation={interpolation!r}")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ConfigError(f"{where}: only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True")
        if fill_mode != "constant":
            raise ConfigError(f"{where}: fill_mode must be 'constant'. Received: fill_mode={fill_mode!r}")
        self.fill_mode = fill_mode
        self.fill_value = number(fill_value, "fill_value", where)
        self.data_format = sp.data_format(data_format, where)
        self._matrices: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        first = self.data_format == "channels_first"
        layout = "(batch, channels, rows, cols)" if first else "(batch, rows, cols, channels)"
        shape = list(check_rank(self, input_shape, 4, layout))
        shape[2 if first else 1], shape[3 if first else 2] = self.height, self.width
        return check_output_size(self, shape)

    def _windows(self, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """(start, size) of the window read on each axis (see `_sampling.resize_matrix`)."""
        if self.crop_to_aspect_ratio:
            return (smp.aspect_window(h, w, self.height, self.width),
                    smp.aspect_window(w, h, self.width, self.height))
        if self.pad_to_aspect_ratio:
            pad_h = int((max(h, int(float(w * self.height) / self.width)) - h) / 2)
            pad_w = int((max(w, int(float(h * self.width) / self.height)) - w) / 2)
            if pad_h > 0:
                return (-pad_h, h + 2 * pad_h), (0, w)
            if pad_w > 0:
                return (0, h), (-pad_w, w + 2 * pad_w)
        return (0, h), (0, w)

    def _matrices_for(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        if (h, w) not in self._matrices:
            (h0, hs), (w0, ws) = self._windows(h, w)
            self._matrices[(h, w)] = (smp.resize_matrix(self.height, h, self.interpolation, h0, hs),
                                      smp.resize_matrix(self.width, w, self.interpolation, w0, ws))
        return self._matrices[(h, w)]

    def forward(self, x: np.ndarray, training: bool = False):
        x = float_input(self, x)
        first = self.data_format == "channels_first"
        h, w = x.shape[2:4] if first else x.shape[1:3]
        rows, cols = self._matrices_for(h, w)
        y = smp.resize(x, rows, cols, first)
        if self.pad_to_aspect_ratio and self.fill_value != 0.0:
            # what the padding contributes: the weight that did not land on real pixels
            filled = self.fill_value * (1.0 - np.outer(rows.sum(axis=1), cols.sum(axis=1)))
            y += filled.astype(y.dtype)[None, None] if first else filled.astype(y.dtype)[None, :, :, None]

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            return smp.resize_backward(dy, rows, cols, first) if need_input_grad else None

        return y, backprop

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "data_format": self.data_format}


def _stats_shape(shape: tuple, keep: tuple) -> tuple:
    """The shape of Normalization's weights: the kept axes, or (1,) for one scalar
    statistic (a Parameter holds no 0-d arrays; Keras's weights have shape ())."""
    return tuple(shape[a] for a in keep) or (1,)


class Normalization(Layer):
    """Shifts and scales the input to mean 0 and variance 1: ``(x - mean) / sqrt(variance)``.

    The statistics are given (`mean`, `variance`) or computed from data by
    `adapt`, which stores them as the non-trainable weights "mean" and
    "variance" (saved with the model). The divisor is at least 1e-7.

    Args:
        axis: the axis or axes with their own mean and variance (-1: one per
            feature of the last axis); None for one mean and variance over
            everything. The batch axis cannot be one of them.
        mean, variance: fixed statistics, both or neither: floats or arrays
            broadcast to the kept axes (aligned on the right).
        invert: apply the inverse, ``x * sqrt(variance) + mean``.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        Any, with the `axis` axes of known size.

    Output shape:
        Same as the input.
    """

    def __init__(self, axis: int | Iterable[int] | None = -1, mean: Any = None, variance: Any = None,
                 invert: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        where = f"Normalization '{self.name}'"
        if axis is None:
            axes: tuple = ()
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            axes = (int(axis),)
        elif isinstance(axis, (list, tuple)) and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                                                      for a in axis):
            axes = tuple(int(a) for a in axis)
        else:
            raise ConfigError(f"{where}: axis must be an int, a tuple of ints or None. Received: axis={axis!r}")
        self.axis = axes
        if (mean is None) != (variance is None):
            raise ConfigError(f"{where}: mean and variance must be given together. "
                              f"Received: mean={mean!r}, variance={variance!r}")
        self.input_mean = None if mean is None else _numbers(mean, "mean", where)
        self.input_variance = None if variance is None else _numbers(variance, "variance", where)
        if mean is not None:
            if np.shape(self.input_mean) != np.shape(self.input_variance):
                raise ConfigError(f"{where}: mean and variance must have the same shape. Received: shapes "
                                  f"{np.shape(self.input_mean)} and {np.shape(self.input_variance)}")
            if np.ndim(self.input_mean) > len(self.axis):
                raise ConfigError(f"{where}: mean has rank {np.ndim(self.input_mean)}, more than the "
                                  f"{len(self.axis)} axes of axis={axis!r}")
        self.invert = bool(invert)
        self.mean = self.variance = None

    def _keep(self, shape: tuple) -> tuple[int, ...]:
        """The kept axes of an input of `shape`, non-negative and sorted."""
        ndim = len(shape)
        bad = [a for a in self.axis if not -ndim <= a < ndim or a % ndim == 0]
        if bad:
            raise ShapeError(f"Normalization '{self.name}' has axis={self.axis}, but axis {bad[0]} is not a non-batch "
                             f"axis of the input; received shape {shape} (use axis=None for one mean and variance)")
        keep = tuple(sorted(a % ndim for a in self.axis))
        if len(set(keep)) != len(keep):  # (-1, -1), or (2, -1) of a rank-3 input
            raise ShapeError(f"Normalization '{self.name}' has axis={self.axis}, which names an axis of the input "
                             f"twice; received shape {shape}")
        if any(shape[a] is None for a in keep):
            raise ShapeError(f"Normalization '{self.name}' needs the axes {keep} of its input to be known; "
                             f"received shape {shape}")
        return keep

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = tuple(input_shape)
        keep = self._keep(shape)
        if self.mean is not None and _stats_shape(shape, keep) != self.mean.value.shape:
            raise ShapeError(f"Normalization '{self.name}' was made for {self.mean.value.shape} entries on axes "
                             f"{keep}; received shape {shape}")
        return shape

    def build(self, input_shape: Shape) -> None:
        shape = tuple(input_shape)
        keep = self._keep(shape)
        self._broadcast = tuple(shape[a] if a in keep else 1 for a in range(len(shape)))
        if self.input_mean is not None:
            self._fixed = tuple(self._align(v, keep, shape) for v in (self.input_mean, self.input_variance))
            return
        stats = _stats_shape(shape, keep)
        self.mean = self.add_weight("mean", stats, initializer="zeros", trainable=False)
        self.variance = self.add_weight("variance", stats, initializer="ones", trainable=False)

    def _align(self, value: float | np.ndarray, keep: tuple, shape: tuple) -> np.ndarray:
        """A given statistic put on the kept axes (right-aligned) and broadcast to them."""
        expanded = [1] * len(shape)
        for k, size in enumerate(np.shape(value)[::-1]):
            expanded[keep[-1 - k]] = size
        try:
            return np.broadcast_to(np.reshape(value, expanded), self._broadcast)
        except ValueError:
            raise ShapeError(f"Normalization '{self.name}': mean and variance of shape {np.shape(value)} do not "
                             f"broadcast to the axes {keep} of the input of shape {shape}") from None

    def _statistics(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mean is None:
            return self._fixed
        return self.mean.value.reshape(self._broadcast), self.variance.value.reshape(self._broadcast)

    def adapt(self, data: Any) -> None:
        """Compute the mean and variance of `data` over every axis but `axis`.

        Args:
            data: an array (its first axis is the batch axis), or an iterable
                of such batches (or of (x, y) tuples, whose x is used); the
                batches are combined exactly.
        """
        where = f"Normalization '{self.name}'"
        if self.input_mean is not None:
            raise ConfigError(f"{where} was given mean and variance; adapt() computes them instead: leave both None")
        batches = iter([data]) if isinstance(data, np.ndarray) else iter(data)
        count, mean, var = 0, None, None
        for batch in batches:
            batch = np.asarray(batch[0] if isinstance(batch, tuple) else batch)
            if batch.ndim == 0 or batch.dtype.kind not in "biuf":
                raise DataError(f"{where}: adapt() expects arrays of numbers with a batch axis. "
                                f"Received a batch of dtype {batch.dtype} and shape {batch.shape}")
            if not self.built:
                self.ensure_built((None,) + batch.shape[1:])
            keep = self._keep((None,) + batch.shape[1:])
            if _stats_shape(batch.shape, keep) != self.mean.value.shape:
                raise ShapeError(f"{where} was built for input shape {self.input_shape}; adapt() received data of "
                                 f"shape {batch.shape}, which differs on the axes {keep}")
            reduce = tuple(a for a in range(batch.ndim) if a not in keep)
            batch = batch.astype(np.float64)
            n = int(np.prod([batch.shape[a] for a in reduce]))
            if n == 0:
                continue
            b_mean, b_var = np.mean(batch, axis=reduce), np.var(batch, axis=reduce)
            if mean is None:
                count, mean, var = n, b_mean, b_var
                continue
            # combine two groups exactly (the parallel-variance formula)
            total = count + n
            new_mean = mean + (b_mean - mean) * (n / total)
            var = (count * (var + (mean - new_mean) ** 2) + n * (b_var + (b_mean - new_mean) ** 2)) / total
            count, mean = total, new_mean
        if mean is None:
            raise DataError(f"{where}: adapt() received no data")
        self.mean.value[...] = np.reshape(mean, self.mean.value.shape)
        self.variance.value[...] = np.reshape(var, self.variance.value.shape)

    def forward(self, x: np.ndarray, training: bool = False):
        x = float_input(self, x)
        mean, variance = self._statistics()
        std = np.maximum(np.sqrt(variance.astype(x.dtype)), _EPSILON).astype(x.dtype)
        mean = mean.astype(x.dtype)
        if self.invert:
            y = x * std + mean
        else:
            y = (x - mean) / std

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            if not need_input_grad:
                return None
            return dy * std if self.invert else dy / std

        return y, backprop

    def get_config(self) -> dict:
        cfg = {**super().get_config(), "axis": list(self.axis), "invert": self.invert}
        cfg["mean"] = None if self.input_mean is None else _as_config(self.input_mean)
        cfg["variance"] = None if self.input_variance is None else _as_config(self.input_variance)
        return cfg
