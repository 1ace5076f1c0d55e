"""Flatten and Reshape: change the shape of each sample, not its values."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from corelib.errors import ConfigError, ShapeError
from corelib.layers.base import Layer
from corelib.validation import MAX_SIZE

__all__ = ["Flatten", "Reshape"]


class Flatten(Layer):
    """Flattens each sample to one axis.

    Args:
        data_format: "channels_last" (default) or "channels_first"; with
            channels_first the channel axis is moved last before flattening, so
            the order matches Keras.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, ...), rank 2 or more.

    Output shape:
        (batch_size, product of the other axes).
    """

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ConfigError(
                f"Flatten '{self.name}': data_format must be 'channels_last' or 'channels_first'. "
                f"Received: data_format={data_format!r}"
            )
        self.data_format = data_format or "channels_last"

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        if len(input_shape) < 1:
            raise ShapeError(f"Flatten '{self.name}' expects an input with a batch axis, received shape {input_shape}")
        rest = input_shape[1:]
        return (input_shape[0], None if any(d is None for d in rest) else math.prod(rest))

    def forward(self, x: np.ndarray, training: bool = False):
        shape = x.shape
        moved = self.data_format == "channels_first" and x.ndim > 2
        src = np.moveaxis(x, 1, -1) if moved else x
        y = src.reshape(shape[0], -1)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            if not need_input_grad:
                return None
            if moved:
                return np.moveaxis(dy.reshape(src.shape), -1, 1)
            return dy.reshape(shape)

        return y, backprop

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshapes each sample to `target_shape`.

    Args:
        target_shape: the new shape of one sample (no batch axis); one entry
            may be -1, inferred from the others.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, ...) with the same number of entries per sample.

    Output shape:
        (batch_size, *target_shape).
    """

    def __init__(self, target_shape: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            if isinstance(target_shape, (str, bytes)) or any(isinstance(d, (str, bytes, bool)) for d in target_shape):
                raise TypeError("a string is not a shape")
            target = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError, OverflowError):
            target = None
        if (target is None or any(d == 0 or d < -1 or d > MAX_SIZE for d in target)
                or target.count(-1) > 1):
            raise ConfigError(
                f"Reshape '{self.name}': target_shape must be a tuple of positive ints (at most {MAX_SIZE}) "
                f"with at most one -1. "
                f"Received: target_shape={target_shape!r}"
            )
        self.target_shape = target

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        rest = input_shape[1:]
        if any(d is None for d in rest):
            if -1 in self.target_shape:
                return (input_shape[0],) + tuple(None if d == -1 else d for d in self.target_shape)
            return (input_shape[0],) + self.target_shape
        total = math.prod(rest)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if total % known:
                raise ShapeError(
                    f"Reshape '{self.name}' cannot reshape {total} entries per sample to target_shape "
                    f"{self.target_shape}: {total} is not a multiple of {known}; received shape {input_shape}"
                )
            target = tuple(total // known if d == -1 else d for d in self.target_shape)
        else:
            target = self.target_shape
            if known != total:
                raise ShapeError(
                    f"Reshape '{self.name}' expects {known} entries per sample for target_shape "
                    f"{self.target_shape}, received shape {input_shape} ({total} entries)"
                )
        return (input_shape[0],) + target

    def forward(self, x: np.ndarray, training: bool = False):
        shape = x.shape
        if self.input_shape is None or None in self.input_shape[1:]:  # built for any size: check this one
            self.compute_output_shape((None,) + shape[1:])
        y = x.reshape((shape[0],) + self.target_shape)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            return dy.reshape(shape) if need_input_grad else None

        return y, backprop

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": list(self.target_shape)}
