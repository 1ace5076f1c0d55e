"""ONNX exporters of the image and sequence layers: Conv1D/2D, Conv2DTranspose, pooling,
global pooling, ZeroPadding2D, Cropping2D and UpSampling2D.

dl is channels_last by default and ONNX's Conv and pooling are channels first (NCHW): a
channels_last layer becomes Transpose, the op, Transpose back (ONNX runtimes fold the
transposes of consecutive layers).
"""

from __future__ import annotations

from typing import Any

from corelib.builtin.layers import _spatial as sp
from corelib.builtin.onnx_exporters.activations import apply_activation
from corelib.saving.onnx_export import ExportContext

__all__ = ["conv", "conv_transpose", "pooling", "global_pooling", "zero_padding", "cropping", "upsampling"]

_END = 2 ** 62


def _last(layer: Any) -> bool:
    return getattr(layer, "data_format", "channels_last") != "channels_first"


def _to_first(ctx: ExportContext, layer: Any, x: str, rank: int) -> str:
    """`x` as (batch, channels, spatial...)."""
    if not _last(layer):
        return x
    return ctx.transpose(x, [0, rank + 1, *range(1, rank + 1)], f"{layer.name}/to_channels_first")


def _from_first(ctx: ExportContext, layer: Any, y: str, rank: int) -> str:
    if not _last(layer):
        return y
    return ctx.transpose(y, [0, *range(2, rank + 2), 1], f"{layer.name}/to_channels_last")


def _spatial(ctx: ExportContext, layer: Any, x: str, rank: int) -> tuple:
    shape = ctx.shape_of(x) or (None,) * (rank + 2)
    return tuple(shape[1:-1]) if _last(layer) else tuple(shape[2:])


def _padding(layer: Any, spatial: tuple, window: tuple, strides: tuple, dilation: tuple) -> dict:
    """The pads (or auto_pad) attributes of dl's padding mode on each spatial axis."""
    if layer.padding == "valid":
        return {"pads": [0] * (2 * len(window))}
    if layer.padding == "same" and any(n is None for n in spatial):
        return {"auto_pad": "SAME_UPPER"}  # TensorFlow's "same": the odd pixel after, as dl
    pairs = [sp.pads(n or 1, k, layer.padding, s, d) for n, k, s, d in zip(spatial, window, strides, dilation)]
    return {"pads": [p[0] for p in pairs] + [p[1] for p in pairs]}


def conv(ctx: ExportContext, layer: Any, x: str) -> str:
    """Conv (with its pads, strides, dilations, group), then the activation."""
    rank = layer.rank
    w = layer.kernel.value  # (*kernel_size, in / groups, filters) -> (filters, in / groups, *kernel_size)
    w = w.transpose(2, 1, 0) if rank == 1 else w.transpose(3, 2, 0, 1)
    pads = _padding(layer, _spatial(ctx, layer, x, rank), layer.kernel_size, layer.strides, layer.dilation_rate)
    ins = [_to_first(ctx, layer, x, rank), ctx.constant(w, f"{layer.name}/kernel")]
    if layer.bias is not None:
        ins.append(ctx.constant(layer.bias.value, f"{layer.name}/bias"))
    y = ctx.node("Conv", ins, layer.name, kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                 dilations=list(layer.dilation_rate), group=int(layer.groups), **pads)
    return apply_activation(ctx, layer, layer._act, _from_first(ctx, layer, y, rank), layer.name)


def conv_transpose(ctx: ExportContext, layer: Any, x: str) -> str:
    """ConvTranspose: Keras's cropping as pads, its zero extension as output_padding."""
    from corelib.builtin.layers.conv_transpose import crops

    if layer.groups != 1:
        raise ctx.fail(layer, f"groups={layer.groups} is not exported; only groups=1")
    # the crops do not depend on the input's length, so any length gives them
    cut = [crops(1, *axis[1:]) for axis in layer._axes((1, 1))]
    w = layer.kernel.value.transpose(3, 2, 0, 1)  # (kh, kw, filters, in) -> (in, filters, kh, kw)
    ins = [_to_first(ctx, layer, x, 2), ctx.constant(w, f"{layer.name}/kernel")]
    if layer.bias is not None:
        ins.append(ctx.constant(layer.bias.value, f"{layer.name}/bias"))
    y = ctx.node("ConvTranspose", ins, layer.name, kernel_shape=list(layer.kernel_size),
                 strides=list(layer.strides), dilations=list(layer.dilation_rate),
                 pads=[b for b, _ in cut] + [max(a, 0) for _, a in cut],
                 output_padding=[max(-a, 0) for _, a in cut])
    return apply_activation(ctx, layer, layer._act, _from_first(ctx, layer, y, 2), layer.name)


def pooling(ctx: ExportContext, layer: Any, x: str) -> str:
    """MaxPool or AveragePool (padding excluded from the average, as Keras)."""
    rank = layer.rank
    ones = (1,) * rank
    pads = _padding(layer, _spatial(ctx, layer, x, rank), layer.pool_size, layer.strides, ones)
    op = "MaxPool" if layer.kind == "max" else "AveragePool"
    extra = {} if op == "MaxPool" else {"count_include_pad": 0}
    y = ctx.node(op, [_to_first(ctx, layer, x, rank)], layer.name, kernel_shape=list(layer.pool_size),
                 strides=list(layer.strides), **pads, **extra)
    return _from_first(ctx, layer, y, rank)


def global_pooling(ctx: ExportContext, layer: Any, x: str) -> str:
    """ReduceMax or ReduceMean over the spatial axes."""
    rank = len(ctx.shape_of(x)) - 2
    axes = list(range(1, rank + 1)) if _last(layer) else list(range(2, rank + 2))
    op = "ReduceMax" if "Max" in type(layer).__name__ else "ReduceMean"
    return ctx.reduce(op, x, axes, layer.keepdims, layer.name)


def _margin_axes(layer: Any) -> tuple[int, int]:
    return (1, 2) if _last(layer) else (2, 3)


def zero_padding(ctx: ExportContext, layer: Any, x: str) -> str:
    """Pad with zeros on the two spatial axes."""
    (top, bottom), (left, right) = layer.margins
    begin, end = [0, 0, 0, 0], [0, 0, 0, 0]
    rows, cols = _margin_axes(layer)
    begin[rows], begin[cols], end[rows], end[cols] = top, left, bottom, right
    return ctx.node("Pad", [x, ctx.ints(begin + end, f"{layer.name}/pads")], layer.name, mode="constant")


def cropping(ctx: ExportContext, layer: Any, x: str) -> str:
    """Slice off the margins of the two spatial axes."""
    (top, bottom), (left, right) = layer.margins
    return ctx.slice(x, [top, left], [-bottom if bottom else _END, -right if right else _END],
                     list(_margin_axes(layer)), hint=layer.name)


def upsampling(ctx: ExportContext, layer: Any, x: str) -> str:
    """Resize, mode nearest (each pixel repeated size times); bilinear is not exported."""
    if layer.interpolation != "nearest":
        raise ctx.fail(layer, f"interpolation={layer.interpolation!r} is not exported; only 'nearest'")
    scales = [1.0, 1.0, 1.0, 1.0]
    rows, cols = _margin_axes(layer)
    scales[rows], scales[cols] = float(layer.size[0]), float(layer.size[1])
    return ctx.node("Resize", [x, "", ctx.constant(scales, f"{layer.name}/scales")], layer.name, mode="nearest",
                    coordinate_transformation_mode="asymmetric", nearest_mode="floor")
