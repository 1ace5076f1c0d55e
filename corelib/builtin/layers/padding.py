"""ZeroPadding2D and Cropping2D: add zero rows/columns around an image, or cut them off."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.builtin.layers import _spatial as sp
from corelib.builtin.layers._common import check_output_size, check_rank
from corelib.layers.workspace import Workspaces
from corelib.errors import ConfigError, ShapeError
from corelib.layers.base import Layer, Shape
from corelib.validation import MAX_SIZE

__all__ = ["ZeroPadding2D", "Cropping2D"]


def _margins(value: Any, arg: str, where: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """Keras's forms: int, (rows, cols) or ((top, bottom), (left, right)); ints >= 0."""

    def ok(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0

    margins = None
    if ok(value):
        margins = (int(value),) * 2, (int(value),) * 2
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        if all(ok(v) for v in value):
            margins = (int(value[0]),) * 2, (int(value[1]),) * 2
        elif all(isinstance(v, (list, tuple)) and len(v) == 2 and all(ok(e) for e in v) for v in value):
            margins = (int(value[0][0]), int(value[0][1])), (int(value[1][0]), int(value[1][1]))
    if margins is not None:
        if max(margins[0] + margins[1]) > MAX_SIZE:  # past what NumPy's arrays take
            raise ConfigError(f"{where}: {arg} must be at most {MAX_SIZE} on each side. Received: {arg}={value!r}")
        return margins
    raise ConfigError(
        f"{where}: {arg} must be an int >= 0, a tuple of 2 such ints (rows, cols) or a tuple of 2 "
        f"tuples ((top, bottom), (left, right)). Received: {arg}={value!r}"
    )


class _Margins(Layer):
    """Shared body: margins (rows, cols) on the two spatial axes; `sign` +1 pads, -1 crops."""

    sign = 1
    _arg = "padding"

    def __init__(self, margins: Any, data_format: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        where = f"{type(self).__name__} '{self.name}'"
        self.margins = _margins(margins, self._arg, where)
        self.data_format = sp.data_format(data_format, where)
        self._ws = Workspaces()

    def _axes(self) -> tuple[int, int]:
        return (2, 3) if self.data_format == "channels_first" else (1, 2)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        layout = "(batch, channels, rows, cols)" if self.data_format == "channels_first" else \
            "(batch, rows, cols, channels)"
        shape = list(check_rank(self, input_shape, 4, layout))
        for ax, (a, b) in zip(self._axes(), self.margins):
            if shape[ax] is None:
                continue
            shape[ax] += self.sign * (a + b)
            if shape[ax] <= 0:
                raise ShapeError(
                    f"{type(self).__name__} '{self.name}' crops {a} + {b} from axis {ax}, which leaves "
                    f"nothing; received shape {tuple(input_shape)}"
                )
        return check_output_size(self, shape)

    def _inner(self, big: tuple) -> tuple:
        """The index of the un-padded region inside an array of shape `big`."""
        index = [slice(None)] * 4
        for ax, (a, b) in zip(self._axes(), self.margins):
            index[ax] = slice(a, big[ax] - b)
        return tuple(index)

    def _zero_margins(self, big: np.ndarray) -> None:
        for ax, (a, b) in zip(self._axes(), self.margins):
            index = [slice(None)] * 4
            index[ax] = slice(0, a)
            big[tuple(index)] = 0
            index[ax] = slice(big.shape[ax] - b, big.shape[ax])
            big[tuple(index)] = 0

    def forward(self, x: np.ndarray, training: bool = False):
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(self.dtype)
        if x.dtype != dtype:
            x = x.astype(dtype)
        in_shape = x.shape
        out_shape = self.compute_output_shape(in_shape)
        slot = self._ws.acquire() if training else -1

        def buf(tag: str, shape: tuple) -> np.ndarray:
            return self.buffer((tag, slot), shape, dtype) if training else np.empty(shape, dtype)

        y = buf("y", out_shape)
        if self.sign > 0:
            self._zero_margins(y)
            y[self._inner(out_shape)] = x
        else:
            y[...] = x[self._inner(in_shape)]

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            if not need_input_grad:
                return None
            dx = buf("dx", in_shape)
            if self.sign > 0:
                dx[...] = dy[self._inner(out_shape)]
            else:
                self._zero_margins(dx)
                dx[self._inner(in_shape)] = dy
            return dx

        if training:
            self._ws.bind(slot, backprop)
        return y, backprop


class ZeroPadding2D(_Margins):
    """Adds rows and columns of zeros around each image.

    Args:
        padding: int (the same on all four sides), (rows, cols) (symmetric),
            or ((top, bottom), (left, right)); 1 by default.
        data_format: "channels_last" (default) or "channels_first".
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, rows, cols, channels), or (batch_size, channels, rows, cols).

    Output shape:
        (batch_size, rows + top + bottom, cols + left + right, channels)
        (channels first likewise).
    """

    sign, _arg = 1, "padding"

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(padding, data_format, **kwargs)

    @property
    def padding(self) -> tuple:
        return self.margins

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": [list(m) for m in self.margins], "data_format": self.data_format}


class Cropping2D(_Margins):
    """Cuts rows and columns off the edges of each image.

    Args:
        cropping: int (the same on all four sides), (rows, cols) (symmetric),
            or ((top, bottom), (left, right)); nothing by default.
        data_format: "channels_last" (default) or "channels_first".
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, rows, cols, channels), or (batch_size, channels, rows, cols).

    Output shape:
        (batch_size, rows - top - bottom, cols - left - right, channels)
        (channels first likewise); something must be left.
    """

    sign, _arg = -1, "cropping"

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(cropping, data_format, **kwargs)

    @property
    def cropping(self) -> tuple:
        return self.margins

    def get_config(self) -> dict:
        return {**super().get_config(), "cropping": [list(m) for m in self.margins], "data_format": self.data_format}
