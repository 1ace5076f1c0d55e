"""Global pooling: the max or mean over all steps / pixels, per channel.

GlobalMaxPooling1D/2D and GlobalAveragePooling1D/2D, on the kernels of
`corelib.kernels.global_pooling` over the (batch, positions, channels) view;
the max keeps its argmax for the backward pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.builtin.layers import _spatial as sp
from corelib.builtin.layers._common import check_rank
from corelib.layers.workspace import Workspaces
from corelib.errors import ShapeError
from corelib.kernels import global_pooling as _k
from corelib.layers.base import Layer, Shape

__all__ = ["GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D"]


class _GlobalPooling(Layer):
    """Shared body: `rank` spatial axes, `kind` "max" or "average"."""

    rank = 2
    kind = "max"

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = sp.data_format(data_format, f"{type(self).__name__} '{self.name}'")
        self.keepdims = bool(keepdims)
        self._ws = Workspaces()

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        axes = "steps" if self.rank == 1 else "rows, cols"
        layout = f"(batch, channels, {axes})" if self.data_format == "channels_first" else f"(batch, {axes}, channels)"
        shape = check_rank(self, input_shape, self.rank + 2, layout)
        first = self.data_format == "channels_first"
        spatial = shape[2:] if first else shape[1:-1]
        if any(d == 0 for d in spatial):
            raise ShapeError(f"{type(self).__name__} '{self.name}' cannot pool an empty axis, received shape {shape}")
        channels = shape[1] if first else shape[-1]
        if not self.keepdims:
            return (shape[0], channels)
        ones = (1,) * self.rank
        return (shape[0], channels, *ones) if first else (shape[0], *ones, channels)

    def forward(self, x: np.ndarray, training: bool = False):
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(self.dtype)
        if x.dtype != dtype:
            x = x.astype(dtype)
        shape = x.shape
        first = self.data_format == "channels_first"
        n, c = shape[0], shape[1] if first else shape[-1]
        x3 = x.reshape(n, c, -1) if first else x.reshape(n, -1, c)
        out_shape = self.compute_output_shape(shape)
        slot = self._ws.acquire() if training else -1
        y = self.buffer(("y", slot), (n, c), dtype) if training else np.empty((n, c), dtype)
        if self.kind == "max":
            where = self.buffer(("argmax", slot), (n, c), np.int32) if training else np.empty((n, c), np.int32)
            _k.global_max_pool_forward(x3, y, where, first)
        else:
            _k.global_avg_pool_forward(x3, y, first)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            if not need_input_grad:
                return None
            dy2 = dy.reshape(n, c)
            dx = self.buffer(("dx", slot), x3.shape, dtype) if training else np.empty(x3.shape, dtype)
            if self.kind == "max":
                _k.global_max_pool_backward(dy2, where, dx, first)
            else:
                _k.global_avg_pool_backward(dy2, dx, first)
            return dx.reshape(shape)

        if training:
            self._ws.bind(slot, backprop)
        return y.reshape(out_shape), backprop

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalMaxPooling2D(_GlobalPooling):
    """The maximum over all pixels of each channel of an image.

    Args:
        data_format: "channels_last" (default) or "channels_first".
        keepdims: keep the spatial axes, each of length 1.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, rows, cols, channels), or (batch_size, channels, rows, cols).

    Output shape:
        (batch_size, channels); with keepdims, (batch_size, 1, 1, channels)
        (or (batch_size, channels, 1, 1)).
    """

    rank, kind = 2, "max"


class GlobalAveragePooling2D(_GlobalPooling):
    """The mean over all pixels of each channel of an image.

    Args:
        data_format: "channels_last" (default) or "channels_first".
        keepdims: keep the spatial axes, each of length 1.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, rows, cols, channels), or (batch_size, channels, rows, cols).

    Output shape:
        (batch_size, channels); with keepdims, (batch_size, 1, 1, channels)
        (or (batch_size, channels, 1, 1)).
    """

    rank, kind = 2, "average"


class GlobalMaxPooling1D(_GlobalPooling):
    """The maximum over all steps of each channel of a sequence.

    Args:
        data_format: "channels_last" (default) or "channels_first".
        keepdims: keep the steps axis, of length 1.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, steps, channels), or (batch_size, channels, steps).

    Output shape:
        (batch_size, channels); with keepdims, (batch_size, 1, channels)
        (or (batch_size, channels, 1)).
    """

    rank, kind = 1, "max"


class GlobalAveragePooling1D(_GlobalPooling):
    """The mean over all steps of each channel of a sequence.

    Args:
        data_format: "channels_last" (default) or "channels_first".
        keepdims: keep the steps axis, of length 1.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, steps, channels), or (batch_size, channels, steps).

    Output shape:
        (batch_size, channels); with keepdims, (batch_size, 1, channels)
        (or (batch_size, channels, 1)).
    """

    rank, kind = 1, "average"
