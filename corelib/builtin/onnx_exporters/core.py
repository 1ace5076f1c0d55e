"""ONNX exporters of the core layers: Dense, Activation and the activation layers, PReLU,
the layers that are the identity at inference, Flatten, Reshape, RepeatVector, Rescaling,
Normalization and Embedding.

Each is ``exporter(ctx, layer, x) -> output name`` (see `corelib.saving.onnx_export`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.builtin.onnx_exporters.activations import apply_activation
from corelib.saving.onnx_export import ExportContext

__all__ = ["dense", "activation", "prelu", "identity", "flatten", "reshape", "repeat_vector", "rescaling",
           "normalization", "embedding"]


def _value(param: Any) -> Any:
    return None if param is None else param.value


def dense(ctx: ExportContext, layer: Any, x: str) -> str:
    """MatMul, Add (bias), then the activation."""
    y = ctx.node("MatMul", [x, ctx.constant(layer.kernel.value, f"{layer.name}/kernel")], layer.name)
    y = ctx.add_bias(y, _value(layer.bias), layer.name)
    return apply_activation(ctx, layer, layer._act, y, layer.name)


def activation(ctx: ExportContext, layer: Any, x: str) -> str:
    """The activation's ops (Relu, Softmax, ... ; ReLU's max_value and threshold as Min, Where)."""
    return apply_activation(ctx, layer, layer.activation, x, layer.name)


def prelu(ctx: ExportContext, layer: Any, x: str) -> str:
    """PRelu with the learned slopes."""
    return ctx.node("PRelu", [x, ctx.constant(layer.alpha.value, f"{layer.name}/alpha")], layer.name)


def identity(ctx: ExportContext, layer: Any, x: str) -> str:
    """Identity: dropout and random augmentation do nothing at inference."""
    return ctx.node("Identity", [x], layer.name)


def flatten(ctx: ExportContext, layer: Any, x: str) -> str:
    """Flatten (a Transpose first for channels_first, so the order is dl's)."""
    shape = ctx.shape_of(x)
    if layer.data_format == "channels_first" and shape is not None and len(shape) > 2:
        rank = len(shape)
        x = ctx.transpose(x, [0, *range(2, rank), 1], layer.name)
    return ctx.node("Flatten", [x], layer.name, axis=1)


def reshape(ctx: ExportContext, layer: Any, x: str) -> str:
    """Reshape to (batch, *target_shape)."""
    return ctx.reshape(x, [0, *layer.target_shape], layer.name)


def repeat_vector(ctx: ExportContext, layer: Any, x: str) -> str:
    """Unsqueeze, Tile: (batch, features) to (batch, n, features)."""
    y = ctx.unsqueeze(x, [1], layer.name)
    return ctx.node("Tile", [y, ctx.ints([1, layer.n, 1], f"{layer.name}/repeats")], layer.name)


def rescaling(ctx: ExportContext, layer: Any, x: str) -> str:
    """Mul (scale), Add (offset)."""
    y = ctx.node("Mul", [x, ctx.constant(np.asarray(layer.scale, np.float32), f"{layer.name}/scale")], layer.name)
    return ctx.node("Add", [y, ctx.constant(np.asarray(layer.offset, np.float32), f"{layer.name}/offset")],
                    layer.name)


def normalization(ctx: ExportContext, layer: Any, x: str) -> str:
    """Sub, Div (or Mul, Add with invert=True) by the adapted or given mean and standard deviation."""
    from corelib.builtin.layers.preprocessing import _EPSILON

    mean, variance = layer._statistics()  # shaped to broadcast over the input, batch axis included
    std = np.maximum(np.sqrt(np.asarray(variance, np.float32)), np.float32(_EPSILON))
    m, s = ctx.constant(mean, f"{layer.name}/mean"), ctx.constant(std, f"{layer.name}/std")
    if layer.invert:
        return ctx.node("Add", [ctx.node("Mul", [x, s], layer.name), m], layer.name)
    return ctx.node("Div", [ctx.node("Sub", [x, m], layer.name), s], layer.name)


def embedding(ctx: ExportContext, layer: Any, x: str) -> str:
    """Gather from the table (the ids cast to int64 first when they come as floats)."""
    ids = x if ctx.is_integer(x) else ctx.node("Cast", [x], f"{layer.name}/ids", to=7)
    return ctx.node("Gather", [ctx.constant(layer.embeddings.value, f"{layer.name}/embeddings"), ids], layer.name,
                    axis=0)
