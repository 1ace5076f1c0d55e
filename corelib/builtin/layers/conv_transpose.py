"""Conv2DTranspose: the transposed 2D convolution ("deconvolution"), as in Keras.

A transposed convolution is the input gradient of a convolution, so it runs
on the convolution kernels with the roles swapped: its forward pass is
`conv2d_backward`'s data gradient, its input gradient is `conv2d_forward`, and
its kernel gradient is `conv2d_backward`'s filter gradient with the output
gradient as the convolution's input. Keras's kernel layout
(kh, kw, filters, in_channels) is exactly the (KH, KW, C, F) layout of that
convolution, with C = filters and F = in_channels.

Geometry, per spatial axis (Keras 3's rule, as its JAX backend computes it):
the full result of scattering each input pixel through the dilated kernel,
``(length - 1) * stride + k_eff`` long (k_eff = (k - 1) * dilation + 1), is
cropped by `before` at the start and by `after` at the end; a negative
`after` extends it with zeros instead (the bias still applies there).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.builtin.layers import _spatial as sp
from corelib.builtin.layers._common import activate, activation_grad, kernel_options_config
from corelib.builtin.layers.conv import _Conv
from corelib.errors import ConfigError, ShapeError
from corelib.kernels import conv as _k
from corelib.layers.base import Layer, Shape

__all__ = ["Conv2DTranspose"]


def output_length(length: int | None, k: int, padding: str, stride: int, dilation: int,
                  output_padding: int | None) -> int | None:
    """Keras 3's output length of a transposed convolution; None when `length` is."""
    if length is None:
        return None
    span = (k - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return (length - 1) * stride + span + extra
    if output_padding is None:
        return length * stride
    return (length - 1) * stride + span % 2 + output_padding


def crops(length: int, k: int, padding: str, stride: int, dilation: int,
          output_padding: int | None) -> tuple[int, int]:
    """(before, after): what is cut from the full result's ends; `after` < 0 means zeros added."""
    span = (k - 1) * dilation + 1
    before = 0
    if padding == "same":
        # Keras spreads the convolution padding this undoes as evenly as it can, the odd one
        # first, and never more than span - 1 before
        total = stride + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
        before = span - 1 - min(total // 2 + total % 2, span - 1)
    full = (length - 1) * stride + span
    return before, full - before - output_length(length, k, padding, stride, dilation, output_padding)


class Conv2DTranspose(_Conv):
    """Transposed 2D convolution: ``activation(conv_transpose(x, kernel) + bias)``.

    Each input pixel scatters ``pixel @ kernel`` over a window of the output,
    windows `strides` apart: the gradient of a `Conv2D` with respect to its
    input, which upsamples.

    Args:
        filters: number of output channels (a positive int).
        kernel_size: int or (kh, kw).
        strides: int or (sh, sw); (1, 1) by default.
        padding: "valid" or "same" (output rows = rows * sh when
            output_padding is None).
        output_padding: None, or an int or (ph, pw) >= 0 and below the
            strides: extra rows and columns at the end of the output (see
            Output shape).
        data_format: "channels_last" (default) or "channels_first".
        dilation_rate: int or (dh, dw): spacing between kernel taps.
        activation: name or Activation; None means linear.
        use_bias: whether to add a bias vector.
        kernel_initializer: initializer of the (kh, kw, filters, in_channels)
            kernel ("glorot_uniform").
        bias_initializer: initializer of the bias ("zeros").
        kernel_regularizer: penalty on the kernel, or None.
        bias_regularizer: penalty on the bias, or None.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Weights: kernel (kh, kw, filters, in_channels), then bias (filters,):
    Keras's layout and order.

    Input shape:
        (batch_size, rows, cols, channels), or (batch_size, channels, rows,
        cols) with data_format="channels_first".

    Output shape:
        (batch_size, new_rows, new_cols, filters) (channels first likewise),
        with k = (kh - 1) * dh + 1, per axis:
        "valid": (rows - 1) * sh + k + ph, ph defaulting to max(k, sh) - k;
        "same": rows * sh without output_padding, else
        (rows - 1) * sh + k % 2 + ph.
    """

    rank = 2

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        output_padding: Any = None,
        data_format: str | None = None,
        dilation_rate: Any = (1, 1),
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        if "groups" in kwargs:  # Conv2D's argument, not Keras's Conv2DTranspose's
            raise ConfigError(f"Conv2DTranspose got unrecognized keyword arguments: ['groups']. "
                              f"Received: groups={kwargs['groups']!r}")
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, 1, activation,
                         use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                         **kwargs)
        where = f"Conv2DTranspose '{self.name}'"
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = sp.int_tuple(output_padding, 2, "output_padding", where, minimum=0)
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise ConfigError(f"{where}: output_padding must be lower than the strides ({self.strides}). "
                                  f"Received: output_padding={output_padding!r}")

    def _axes(self, spatial: tuple) -> list[tuple]:
        """(length, k, padding, stride, dilation, output_padding) of each spatial axis."""
        pads = self.output_padding or (None, None)
        return [(n, k, self.padding, s, d, p)
                for n, k, s, d, p in zip(spatial, self.kernel_size, self.strides, self.dilation_rate, pads)]

    def _kernel_shape(self, channels: int) -> tuple:
        return (*self.kernel_size, self.filters, channels)

    def _kernel_channels(self) -> int:
        return self.kernel.value.shape[-1]

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape, spatial = self._checked_input(input_shape)
        out = [output_length(*axis) for axis in self._axes(spatial)]
        if any(n is not None and n <= 0 for n in out):
            raise ShapeError(f"Conv2DTranspose '{self.name}' with kernel_size {self.kernel_size}, padding "
                             f"'{self.padding}' and output_padding {self.output_padding} gives an empty output "
                             f"for input shape {shape}")
        return self._output_shape(shape[0], out)

    def forward(self, x: np.ndarray, training: bool = False):
        kernel, bias, act, fmt = self.kernel, self.bias, self._act, self.data_format
        w = kernel.value
        dtype = w.dtype
        if x.dtype != dtype:
            x = x.astype(dtype)
        x4 = sp.channels_last(x, fmt, 2)
        n, h, wd, _ = x4.shape
        (top, bottom), (left, right) = (crops(*axis) for axis in self._axes((h, wd)))
        out_h, out_w = (output_length(*axis) for axis in self._axes((h, wd)))
        # The convolution this transposes reads rows [0, read_h) of the output, padded by
        # (top, max(bottom, 0)); rows a negative `bottom` adds are never read: bias only.
        read = (out_h + min(bottom, 0), out_w + min(right, 0))
        pads = (top, max(bottom, 0), left, max(right, 0))
        geometry = (self.strides, pads, self.dilation_rate)
        slot = self._ws.acquire() if training else -1
        z = self.buffer(("z", slot), (n, out_h, out_w, self.filters), dtype) if training \
            else np.empty((n, out_h, out_w, self.filters), dtype)
        # the pixels the convolution reads: never a shape conv2d_backward accepts otherwise
        ghost = np.broadcast_to(np.zeros((), dtype), (n, *read, self.filters))
        whole = read == (out_h, out_w)
        target = z if whole else self.buffer("read", (n, *read, self.filters), dtype)
        col = self._column_scratch(n * h * wd, dtype)
        # conv2d_backward reads `col` only for the filter gradient, not asked for here, so one
        # scratch array serves as both its col and dcol
        _k.conv2d_backward(ghost, w, x4, target, None, None, *geometry, col=col, dcol=col)
        if not whole:
            z.fill(0)
            z[:, :read[0], :read[1]] = target
        if bias is not None:
            z += bias.value
        y = activate(self, act, z, slot)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            dz = activation_grad(self, act, z, y, sp.channels_last(dy, fmt, 2), slot)
            if bias is not None:
                bias.grad += dz.sum(axis=(0, 1, 2))
            dz_read = dz[:, :read[0], :read[1]]
            scratch = self._column_scratch(n * h * wd, dtype)
            dx = None
            if need_input_grad:
                dx = self.buffer(("dx", slot), x4.shape, dtype) if training else np.empty(x4.shape, dtype)
                _k.conv2d_forward(dz_read, w, None, dx, *geometry, col=scratch)
            ready = need_input_grad and scratch.size >= n * h * wd * w.shape[0] * w.shape[1] * w.shape[2]
            _k.conv2d_backward(dz_read, w, x4, None, kernel.grad, None, *geometry, col=scratch, col_ready=ready)
            return None if dx is None else sp.from_channels_last(dx, fmt, 2)

        if training:
            self._ws.bind(slot, backprop)
        return sp.from_channels_last(y, fmt, 2), backprop

    def _column_scratch(self, rows: int, dtype: np.dtype) -> np.ndarray:
        """The column matrix of the convolution over the output (rows = N*H*W of the input):
        whole while it fits the kernels' limit, else a chunk; shared by every call."""
        kh, kw, filters, _ = self.kernel.value.shape
        size, _ = _k.column_workspace(rows, kh * kw * filters, 1, np.dtype(dtype).itemsize)
        return self.buffer("col_scratch", (size,), dtype)

    def get_config(self) -> dict:
        return {
            **Layer.get_config(self),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "output_padding": None if self.output_padding is None else list(self.output_padding),
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            **kernel_options_config(self),
        }
