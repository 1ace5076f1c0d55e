"""Argument checks and geometry shared by the convolution, pooling and
padding layers: Keras's argument forms, its "valid" / "same" / "causal"
output lengths and paddings, and the channels-last views the kernels take.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from corelib.errors import ConfigError
from corelib.validation import MAX_SIZE

__all__ = [
    "int_tuple",
    "padding_mode",
    "data_format",
    "output_length",
    "pads",
    "channels_last",
    "from_channels_last",
]


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def int_tuple(value: Any, n: int, arg: str, where: str, minimum: int = 1) -> tuple[int, ...]:
    """`value` as n ints >= minimum: an int is repeated n times, as in Keras.

    Args:
        value: an int or a sequence of n ints.
        n: the number of spatial axes.
        arg: the argument's name, for the message.
        where: "Conv2D 'conv2d'", for the message.
        minimum: the smallest allowed entry.
    """
    if _is_int(value):
        values: tuple = (int(value),) * n
    elif isinstance(value, (list, tuple)) and len(value) == n and all(_is_int(v) for v in value):
        values = tuple(int(v) for v in value)
    else:
        values = ()
    if not values or any(v < minimum for v in values):
        kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ConfigError(
            f"{where}: {arg} must be {kind} or a tuple of {n} such ints. Received: {arg}={value!r}"
        )
    if any(v > MAX_SIZE for v in values):  # past what a kernel's index or NumPy's array takes
        raise ConfigError(f"{where}: {arg} must be at most {MAX_SIZE}. Received: {arg}={value!r}")
    return values


def padding_mode(value: Any, where: str, allowed: Sequence[str] = ("valid", "same")) -> str:
    """Keras's padding name, lower-cased; ConfigError naming the allowed ones."""
    mode = value.lower() if isinstance(value, str) else value
    if mode not in allowed:
        raise ConfigError(
            f"{where}: padding must be one of {', '.join(repr(a) for a in allowed)}. Received: padding={value!r}"
        )
    return mode


def data_format(value: Any, where: str) -> str:
    """"channels_last" (the default, also for None) or "channels_first"."""
    if value is None:
        return "channels_last"
    fmt = value.lower() if isinstance(value, str) else value
    if fmt not in ("channels_last", "channels_first"):
        raise ConfigError(
            f"{where}: data_format must be 'channels_last' or 'channels_first'. Received: data_format={value!r}"
        )
    return fmt


def output_length(length: int | None, window: int, padding: str, stride: int, dilation: int = 1) -> int | None:
    """Output length of a sliding window (Keras's rule); None when unknown,
    0 or less when a "valid" window does not fit."""
    if length is None:
        return None
    if padding in ("same", "causal"):
        return math.ceil(length / stride)
    span = (window - 1) * dilation + 1
    return (length - span) // stride + 1 if length >= span else 0


def pads(length: int, window: int, padding: str, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Zeros (before, after) that make `padding` happen on an axis of `length`.

    "same" pads like TensorFlow and Keras: the total needed for ceil(length /
    stride) outputs, the odd one after. "causal" pads only before.
    """
    span = (window - 1) * dilation + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    total = max((math.ceil(length / stride) - 1) * stride + span - length, 0)
    return total // 2, total - total // 2


def channels_last(x: np.ndarray, fmt: str, rank: int) -> np.ndarray:
    """A (N, H, W, C) view of a rank-1 or rank-2 input in format `fmt` (no copy)."""
    if fmt == "channels_first":
        x = np.moveaxis(x, 1, -1)
    return x[:, None] if rank == 1 else x


def from_channels_last(y: np.ndarray, fmt: str, rank: int) -> np.ndarray:
    """Undo `channels_last` on an (N, H, W, C) array (a view)."""
    if rank == 1:
        y = y[:, 0]
    return np.moveaxis(y, -1, 1) if fmt == "channels_first" else y
