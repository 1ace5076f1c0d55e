"""UpSampling2D: enlarge images by whole factors, nearest or bilinear."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.builtin.layers import _spatial as sp
from corelib.builtin.layers._common import check_output_size, check_rank
from corelib.layers.workspace import Workspaces
from corelib.errors import ConfigError
from corelib.layers.base import Layer, Shape

__all__ = ["UpSampling2D"]


def _bilinear_matrix(n: int, factor: int, dtype: Any) -> np.ndarray:
    """(n * factor, n) weights of half-pixel bilinear resizing (TensorFlow's and
    Keras's, PyTorch's align_corners=False): output i samples input position
    (i + 0.5) / factor - 0.5, clamped to the image."""
    src = np.clip((np.arange(n * factor) + 0.5) / factor - 0.5, 0.0, n - 1)
    lo = np.floor(src).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    frac = src - lo
    m = np.zeros((n * factor, n))
    rows = np.arange(n * factor)
    np.add.at(m, (rows, lo), 1.0 - frac)
    np.add.at(m, (rows, hi), frac)
    return m.astype(dtype)


class UpSampling2D(Layer):
    """Repeats each image's rows and columns `size` times ("nearest") or
    interpolates between them ("bilinear").

    Args:
        size: int or (rows, cols): the enlargement factors; 2 by default.
        data_format: "channels_last" (default) or "channels_first".
        interpolation: "nearest" (default) or "bilinear" (half-pixel
            centres, as Keras).
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, rows, cols, channels), or (batch_size, channels, rows, cols).

    Output shape:
        (batch_size, rows * size[0], cols * size[1], channels) (channels first likewise).
    """

    def __init__(self, size: Any = (2, 2), data_format: str | None = None, interpolation: str = "nearest",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        where = f"UpSampling2D '{self.name}'"
        self.size = sp.int_tuple(size, 2, "size", where)
        self.data_format = sp.data_format(data_format, where)
        if interpolation not in ("nearest", "bilinear"):
            raise ConfigError(
                f"{where}: interpolation must be 'nearest' or 'bilinear'. Received: interpolation={interpolation!r}"
            )
        self.interpolation = interpolation
        self._ws = Workspaces()

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        first = self.data_format == "channels_first"
        layout = "(batch, channels, rows, cols)" if first else "(batch, rows, cols, channels)"
        shape = list(check_rank(self, input_shape, 4, layout))
        for ax, f in zip((2, 3) if first else (1, 2), self.size):
            shape[ax] = None if shape[ax] is None else shape[ax] * f
        return check_output_size(self, shape)

    def forward(self, x: np.ndarray, training: bool = False):
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(self.dtype)
        if x.dtype != dtype:
            x = x.astype(dtype)
        first = self.data_format == "channels_first"
        in_shape = x.shape
        out_shape = self.compute_output_shape(in_shape)
        sh, sw = self.size
        slot = self._ws.acquire() if training else -1

        def buf(tag: str, shape: tuple) -> np.ndarray:
            return self.buffer((tag, slot), shape, dtype) if training else np.empty(shape, dtype)

        y = buf("y", out_shape)
        if self.interpolation == "nearest":
            # (N, H, sh, W, sw, C): each input pixel fills an sh x sw block
            n, a, b, c = in_shape
            if first:
                blocks = y.reshape(n, a, b, sh, c, sw)
                blocks[...] = x[:, :, :, None, :, None]
            else:
                blocks = y.reshape(n, a, sh, b, sw, c)
                blocks[...] = x[:, :, None, :, None, :]
        else:
            h, w = (in_shape[2], in_shape[3]) if first else (in_shape[1], in_shape[2])
            mh, mw = _bilinear_matrix(h, sh, dtype), _bilinear_matrix(w, sw, dtype)
            spec = "nchw" if first else "nhwc"
            rows = np.einsum(f"ph,{spec}->{spec.replace('h', 'p')}", mh, x, optimize=True)
            np.einsum(f"qw,{spec.replace('h', 'p')}->{spec.replace('h', 'p').replace('w', 'q')}", mw, rows,
                      out=y, optimize=True)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            if not need_input_grad:
                return None
            dx = buf("dx", in_shape)
            if self.interpolation == "nearest":
                n, a, b, c = in_shape
                if first:
                    np.sum(dy.reshape(n, a, b, sh, c, sw), axis=(3, 5), out=dx)
                else:
                    np.sum(dy.reshape(n, a, sh, b, sw, c), axis=(2, 4), out=dx)
            else:
                big = spec.replace("h", "p").replace("w", "q")
                cols = np.einsum(f"qw,{big}->{spec.replace('h', 'p')}", mw, dy, optimize=True)
                np.einsum(f"ph,{spec.replace('h', 'p')}->{spec}", mh, cols, out=dx, optimize=True)
            return dx

        if training:
            self._ws.bind(slot, backprop)
        return y, backprop

    def get_config(self) -> dict:
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format,
                "interpolation": self.interpolation}
