"""Max and average pooling over windows: MaxPooling1D/2D, AveragePooling1D/2D."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.builtin.layers import _spatial as sp
from corelib.builtin.layers._common import check_rank
from corelib.layers.workspace import Workspaces
from corelib.errors import ShapeError
from corelib.kernels import pooling as _k
from corelib.layers.base import Layer, Shape

__all__ = ["MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D"]


class _Pooling(Layer):
    """Shared body: `rank` spatial axes, `kind` "max" or "average".

    Both ranks run the 2D kernels; a 1D input (N, W, C) is the view (N, 1, W, C).
    """

    rank = 2
    kind = "max"

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        where = f"{type(self).__name__} '{self.name}'"
        self.pool_size = sp.int_tuple(pool_size, self.rank, "pool_size", where)
        self.strides = self.pool_size if strides is None else sp.int_tuple(strides, self.rank, "strides", where)
        self.padding = sp.padding_mode(padding, where)
        self.data_format = sp.data_format(data_format, where)
        self._ws = Workspaces()

    def _layout(self) -> str:
        axes = "steps" if self.rank == 1 else "rows, cols"
        if self.data_format == "channels_first":
            return f"(batch, channels, {axes})"
        return f"(batch, {axes}, channels)"

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = check_rank(self, input_shape, self.rank + 2, self._layout())
        first = self.data_format == "channels_first"
        spatial = shape[2:] if first else shape[1:-1]
        out = []
        for length, p, s in zip(spatial, self.pool_size, self.strides):
            n = sp.output_length(length, p, self.padding, s)
            if n is not None and n <= 0:
                raise ShapeError(
                    f"{type(self).__name__} '{self.name}' with pool_size {self.pool_size} needs each spatial "
                    f"axis to be at least as long as the pool with padding='valid', received shape {shape}"
                )
            out.append(n)
        return (shape[0], shape[1], *out) if first else (shape[0], *out, shape[-1])

    def _geometry(self, x4: np.ndarray) -> tuple:
        ps, ss = self.pool_size, self.strides
        if self.rank == 1:
            ps, ss = (1, *ps), (1, *ss)
        top, bottom = sp.pads(x4.shape[1], ps[0], self.padding, ss[0])
        left, right = sp.pads(x4.shape[2], ps[1], self.padding, ss[1])
        oh = (x4.shape[1] + top + bottom - ps[0]) // ss[0] + 1
        ow = (x4.shape[2] + left + right - ps[1]) // ss[1] + 1
        return ps, ss, (top, bottom, left, right), (x4.shape[0], oh, ow, x4.shape[3])

    def forward(self, x: np.ndarray, training: bool = False):
        fmt, rank = self.data_format, self.rank
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(self.dtype)
        if x.dtype != dtype:
            x = x.astype(dtype)
        x4 = sp.channels_last(x, fmt, rank)
        ps, ss, pads, out_shape = self._geometry(x4)
        slot = self._ws.acquire() if training else -1
        y = self.buffer(("y", slot), out_shape, dtype) if training else np.empty(out_shape, dtype)
        if self.kind == "max":
            argmax = self.buffer(("argmax", slot), out_shape, np.int32) if training else \
                np.empty(out_shape, np.int32)
            _k.max_pool2d_forward(x4, y, argmax, ps, ss, pads)
        else:
            _k.avg_pool2d_forward(x4, y, ps, ss, pads)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            if not need_input_grad:
                return None
            dy4 = sp.channels_last(dy, fmt, rank)
            dx = self.buffer(("dx", slot), x4.shape, dtype) if training else np.empty(x4.shape, dtype)
            if self.kind == "max":
                _k.max_pool2d_backward(dy4, argmax, dx)
            else:
                _k.avg_pool2d_backward(dy4, dx, ps, ss, pads)
            return sp.from_channels_last(dx, fmt, rank)

        if training:
            self._ws.bind(slot, backprop)
        return sp.from_channels_last(y, fmt, rank), backprop

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
        }


class MaxPooling2D(_Pooling):
    """The maximum over each pool window of an image, channel by channel.

    The backward pass sends each output's gradient to the pixel that won,
    recorded in the forward pass (the first one on ties).

    Args:
        pool_size: int or (ph, pw): the window; 2 by default.
        strides: int or (sh, sw); None (the default) means pool_size.
        padding: "valid" (windows inside the input) or "same" (the input
            padded so there are ceil(size / stride) windows per axis, as in
            Keras; padding never wins).
        data_format: "channels_last" (default) or "channels_first".
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, rows, cols, channels), or (batch_size, channels, rows, cols).

    Output shape:
        (batch_size, pooled_rows, pooled_cols, channels) (channels first likewise),
        pooled_rows = (rows - ph) // sh + 1 ("valid") or ceil(rows / sh) ("same").
    """

    rank, kind = 2, "max"


class AveragePooling2D(_Pooling):
    """The mean over each pool window of an image, channel by channel.

    Args:
        pool_size, strides, data_format: as MaxPooling2D.
        padding: "valid" or "same"; padding is not counted in a window's mean,
            as in Keras.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, rows, cols, channels), or (batch_size, channels, rows, cols).

    Output shape:
        (batch_size, pooled_rows, pooled_cols, channels), as MaxPooling2D.
    """

    rank, kind = 2, "average"


class MaxPooling1D(_Pooling):
    """The maximum over each window of steps of a sequence, channel by channel.

    Args:
        pool_size: int or (p,); 2 by default.
        strides: int or (s,); None (the default) means pool_size.
        padding: "valid" or "same" (as MaxPooling2D).
        data_format: "channels_last" (default) or "channels_first".
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, steps, channels), or (batch_size, channels, steps).

    Output shape:
        (batch_size, pooled_steps, channels) (channels first likewise).
    """

    rank, kind = 1, "max"


class AveragePooling1D(_Pooling):
    """The mean over each window of steps of a sequence, channel by channel.

    Args:
        pool_size, strides, data_format: as MaxPooling1D.
        padding: "valid" or "same"; padding is not counted in a window's mean.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, steps, channels), or (batch_size, channels, steps).

    Output shape:
        (batch_size, pooled_steps, channels) (channels first likewise).
    """

    rank, kind = 1, "average"
