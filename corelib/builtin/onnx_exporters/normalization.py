"""ONNX exporters of BatchNormalization (its inference form) and LayerNormalization."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.saving.onnx_export import ExportContext

__all__ = ["batch_normalization", "layer_normalization"]


def batch_normalization(ctx: ExportContext, layer: Any, x: str) -> str:
    """Mul, Add: the moving statistics, gamma and beta folded into one scale and one shift
    per channel (computed in float64, stored as float32)."""
    rank = len(ctx.shape_of(x))
    axis = layer.axis % rank
    var = layer.moving_variance.value.astype(np.float64)
    scale = 1.0 / np.sqrt(var + layer.epsilon)
    if layer.gamma is not None:
        scale = scale * layer.gamma.value
    shift = -layer.moving_mean.value * scale
    if layer.beta is not None:
        shift = shift + layer.beta.value
    shape = [1] * rank
    shape[axis] = scale.shape[0]
    y = ctx.node("Mul", [x, ctx.constant(scale.reshape(shape), f"{layer.name}/scale")], layer.name)
    return ctx.node("Add", [y, ctx.constant(shift.reshape(shape), f"{layer.name}/shift")], layer.name)


def layer_normalization(ctx: ExportContext, layer: Any, x: str) -> str:
    """LayerNormalization (opset 17) over trailing axes; ReduceMean & co. for other axes or
    rms_scaling."""
    rank = len(ctx.shape_of(x))
    axes = tuple(layer._axes(rank))
    param_shape = tuple(ctx.shape_of(x)[a] if a in axes else 1 for a in range(rank))[min(axes):]
    gamma = None if layer.gamma is None else layer.gamma.value.reshape(param_shape)
    beta = None if layer.beta is None else layer.beta.value.reshape(param_shape)
    name = layer.name
    if axes == tuple(range(axes[0], rank)) and not layer.rms_scaling:
        dims = param_shape
        g = ctx.constant(gamma if gamma is not None else np.ones(dims, np.float32), f"{name}/gamma")
        ins = [x, g] + ([ctx.constant(beta, f"{name}/beta")] if beta is not None else [])
        return ctx.node("LayerNormalization", ins, name, axis=axes[0], epsilon=float(layer.epsilon))
    centred = x
    if not layer.rms_scaling:
        centred = ctx.node("Sub", [x, ctx.reduce("ReduceMean", x, axes, True, name)], name)
    var = ctx.reduce("ReduceMean", ctx.node("Mul", [centred, centred], name), axes, True, name)
    eps = ctx.constant(np.float32(layer.epsilon), f"{name}/epsilon")
    y = ctx.node("Div", [centred, ctx.node("Sqrt", [ctx.node("Add", [var, eps], name)], name)], name)
    if gamma is not None:
        y = ctx.node("Mul", [y, ctx.constant(gamma, f"{name}/gamma")], name)
    return ctx.add_bias(y, beta, name)
