"""Conv1D and Conv2D: convolution layers on channels-last data, as in Keras."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.builtin.layers import _spatial as sp
from corelib.builtin.layers._common import (
    activate,
    activation_grad,
    add_kernel_weights,
    check_rank,
    kernel_options_config,
    set_kernel_options,
)
from corelib.layers.workspace import Workspaces
from corelib.errors import ConfigError, ShapeError
from corelib.kernels import conv as _k
from corelib.layers.base import Layer, Shape
from corelib.validation import positive_int

__all__ = ["Conv1D", "Conv2D"]


class _Conv(Layer):
    """Shared body of Conv1D and Conv2D; `rank` is the number of spatial axes.

    The kernels work on (N, H, W, C): a Conv1D input (N, W, C) is the view
    (N, 1, W, C) and its (KW, C, F) kernel the view (1, KW, C, F), so both
    ranks run the same code, with no copies.
    """

    rank = 2
    _paddings: tuple = ("valid", "same")

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        where = f"{type(self).__name__} '{self.name}'"
        self.filters = positive_int(filters, "filters", where)
        self.kernel_size = sp.int_tuple(kernel_size, self.rank, "kernel_size", where)
        self.strides = sp.int_tuple(strides, self.rank, "strides", where)
        self.padding = sp.padding_mode(padding, where, self._paddings)
        self.data_format = sp.data_format(data_format, where)
        self.dilation_rate = sp.int_tuple(dilation_rate, self.rank, "dilation_rate", where)
        (self.groups,) = sp.int_tuple(groups, 1, "groups", where)
        if self.filters % self.groups:
            raise ConfigError(
                f"{where}: filters must be a multiple of groups. Received: filters={filters}, groups={groups}"
            )
        set_kernel_options(self, activation, use_bias, kernel_initializer=kernel_initializer,
                           bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                           bias_regularizer=bias_regularizer)
        self._ws = Workspaces()

    # -- shapes ----------------------------------------------------------------

    def _layout(self) -> str:
        axes = "steps" if self.rank == 1 else "rows, cols"
        return f"(batch, channels, {axes})" if self.data_format == "channels_first" else f"(batch, {axes}, channels)"

    def _split(self, shape: tuple) -> tuple[tuple, Any]:
        """(spatial dims, channels) of a full input shape in this layer's format."""
        if self.data_format == "channels_first":
            return tuple(shape[2:]), shape[1]
        return tuple(shape[1:-1]), shape[-1]

    def _kernel_shape(self, channels: int) -> tuple:
        return (*self.kernel_size, channels // self.groups, self.filters)

    def _kernel_channels(self) -> int:
        """The input channels the built kernel takes."""
        return self.kernel.value.shape[-2] * self.groups

    def _checked_input(self, input_shape: Shape) -> tuple[tuple, tuple]:
        """The input shape, checked (rank, known channels that fit the kernel and
        the groups), and its spatial dims."""
        shape = check_rank(self, input_shape, self.rank + 2, self._layout())
        spatial, channels = self._split(shape)
        where = f"{type(self).__name__} '{self.name}'"
        if channels is None:
            raise ShapeError(f"{where} expects an input whose channel axis is known, received shape {shape}")
        if self.kernel is not None:
            expected = self._kernel_channels()
            if channels != expected:
                raise ShapeError(f"{where} expects an input with {expected} channels, received shape {shape}")
        if channels % self.groups:
            raise ShapeError(
                f"{where} has groups={self.groups}, which must divide the input channels; received shape {shape}"
            )
        return shape, spatial

    def _output_shape(self, batch: int | None, spatial: list) -> Shape:
        if self.data_format == "channels_first":
            return (batch, self.filters, *spatial)
        return (batch, *spatial, self.filters)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape, spatial = self._checked_input(input_shape)
        where = f"{type(self).__name__} '{self.name}'"
        out = []
        for length, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate):
            n = sp.output_length(length, k, self.padding, s, d)
            if n is not None and n <= 0:
                raise ShapeError(
                    f"{where} with kernel_size {self.kernel_size} and dilation_rate {self.dilation_rate} "
                    f"needs each spatial axis to be at least {(k - 1) * d + 1} long with padding='valid', "
                    f"received shape {shape}"
                )
            out.append(n)
        return self._output_shape(shape[0], out)

    def build(self, input_shape: Shape) -> None:
        _, channels = self._split(tuple(input_shape))
        add_kernel_weights(self, self._kernel_shape(int(channels)), self.filters)

    # -- computing -------------------------------------------------------------

    def _geometry(self, x4: np.ndarray) -> tuple:
        """(pads (top, bottom, left, right), strides, dilation, output (OH, OW)) for an NHWC view."""
        ks, ss, ds = self.kernel_size, self.strides, self.dilation_rate
        if self.rank == 1:
            ks, ss, ds = (1, *ks), (1, *ss), (1, *ds)
        h, w = x4.shape[1], x4.shape[2]
        top, bottom = sp.pads(h, ks[0], self.padding, ss[0], ds[0])
        left, right = sp.pads(w, ks[1], self.padding, ss[1], ds[1])
        oh = (h + top + bottom - (ks[0] - 1) * ds[0] - 1) // ss[0] + 1
        ow = (w + left + right - (ks[1] - 1) * ds[1] - 1) // ss[1] + 1
        return (top, bottom, left, right), ss, ds, (oh, ow)

    def forward(self, x: np.ndarray, training: bool = False):
        kernel, bias, act, fmt, rank = self.kernel, self.bias, self._act, self.data_format, self.rank
        w = kernel.value
        dtype = w.dtype
        if x.dtype != dtype:
            x = x.astype(dtype)
        x4 = sp.channels_last(x, fmt, rank)
        w4 = w[None] if rank == 1 else w
        dw4 = kernel.grad[None] if rank == 1 else kernel.grad
        pads, strides, dilation, (oh, ow) = self._geometry(x4)
        n, _, _, c = x4.shape
        out_shape = (n, oh, ow, self.filters)
        direct = w4.shape[:2] == (1, 1) and strides == (1, 1) and pads == (0, 0, 0, 0)  # x is col
        row = w4.shape[0] * w4.shape[1] * w4.shape[2]
        size, whole = _k.column_workspace(n * oh * ow, row, self.groups, dtype.itemsize)
        slot = self._ws.acquire() if training else -1
        z = self.buffer(("z", slot), out_shape, dtype) if training else np.empty(out_shape, dtype)
        kept = whole and training and not direct
        col = None
        if not direct:
            # whole: kept per slot for this call's backprop; else scratch shared by every call
            col = self.buffer(("col", slot) if kept else "col_scratch", (size,), dtype)
        _k.conv2d_forward(x4, w4, None if bias is None else bias.value, z, strides, pads, dilation,
                          col=col, groups=self.groups)
        y = activate(self, act, z, slot)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            dy4 = activation_grad(self, act, z, y, sp.channels_last(dy, fmt, rank), slot)
            dx = dcol = None
            if need_input_grad:
                dx = self.buffer(("dx", slot), x4.shape, dtype) if training else np.empty(x4.shape, dtype)
                if not direct:  # scratch, free again on return
                    dcol = self.buffer("dcol", (size // self.groups if whole else size,), dtype)
            _k.conv2d_backward(x4, w4, dy4, dx, dw4, None if bias is None else bias.grad, strides, pads,
                               dilation, col=col, col_ready=kept, dcol=dcol, groups=self.groups)
            return None if dx is None else sp.from_channels_last(dx, fmt, rank)

        if training:
            self._ws.bind(slot, backprop)
        return sp.from_channels_last(y, fmt, rank), backprop

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "groups": self.groups,
            **kernel_options_config(self),
        }


class Conv2D(_Conv):
    """2D convolution (cross-correlation, as in Keras): ``activation(conv(x, kernel) + bias)``.

    Args:
        filters: number of output channels (a positive int).
        kernel_size: int or (kh, kw).
        strides: int or (sh, sw); 1 by default.
        padding: "valid" (no padding) or "same" (zeros so that the output has
            ceil(input / stride) pixels per axis, the odd one after, as Keras).
        data_format: "channels_last" (default; (batch, rows, cols, channels))
            or "channels_first" ((batch, channels, rows, cols)).
        dilation_rate: int or (dh, dw): spacing between kernel taps.
        groups: split the input channels into this many groups, each
            convolved with filters / groups of the filters.
        activation: name or Activation; None means linear.
        use_bias: whether to add a bias vector.
        kernel_initializer: initializer of the (kh, kw, in_channels / groups,
            filters) kernel ("glorot_uniform").
        bias_initializer: initializer of the bias ("zeros").
        kernel_regularizer: penalty on the kernel, or None.
        bias_regularizer: penalty on the bias, or None.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Weights: kernel (kh, kw, in_channels / groups, filters), then bias
    (filters,): Keras's layout and order, so `set_weights` takes Keras weights.

    Input shape:
        (batch_size, rows, cols, channels), or (batch_size, channels, rows,
        cols) with data_format="channels_first".

    Output shape:
        (batch_size, new_rows, new_cols, filters) (channels first likewise),
        new_rows = ceil(rows / sh) for "same" and
        (rows - (kh - 1) * dh - 1) // sh + 1 for "valid".
    """

    rank = 2


class Conv1D(_Conv):
    """1D convolution over the steps of a sequence: ``activation(conv(x, kernel) + bias)``.

    Args:
        filters: number of output channels (a positive int).
        kernel_size: int or (k,).
        strides: int or (s,); 1 by default.
        padding: "valid", "same" (as Conv2D) or "causal" (zeros only before
            the sequence, so output t sees inputs up to t).
        data_format: "channels_last" (default; (batch, steps, channels)) or
            "channels_first" ((batch, channels, steps)).
        dilation_rate: int or (d,).
        groups: channel groups, as in Conv2D.
        activation: name or Activation; None means linear.
        use_bias: whether to add a bias vector.
        kernel_initializer: initializer of the (k, in_channels / groups,
            filters) kernel ("glorot_uniform").
        bias_initializer: initializer of the bias ("zeros").
        kernel_regularizer: penalty on the kernel, or None.
        bias_regularizer: penalty on the bias, or None.
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Weights: kernel (k, in_channels / groups, filters), then bias (filters,),
    as in Keras.

    Input shape:
        (batch_size, steps, channels), or (batch_size, channels, steps).

    Output shape:
        (batch_size, new_steps, filters) (channels first likewise).
    """

    rank = 1
    _paddings = ("valid", "same", "causal")
