"""ONNX exporters of the merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate and Dot."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.saving.onnx_export import ExportContext

__all__ = ["elementwise", "concatenate", "dot"]

_FOLDS = {"Add": "Add", "Multiply": "Mul", "Maximum": "Max", "Minimum": "Min", "Average": "Add"}
_NORM_EPSILON = 1e-7  # Dot's normalize, as corelib.builtin.layers.dot


def elementwise(ctx: ExportContext, layer: Any, xs: list[str]) -> str:
    """Add / Sub / Mul / Max / Min over the inputs (Average: Add, then Mul by 1/n)."""
    kind = type(layer).__name__
    if kind == "Subtract":
        return ctx.node("Sub", list(xs), layer.name)
    op = _FOLDS[kind]
    y = xs[0]
    for x in xs[1:]:  # one binary node each: what dl computes, in its order
        y = ctx.node(op, [y, x], layer.name)
    if kind == "Average":
        y = ctx.node("Mul", [y, ctx.constant(np.float32(1.0 / len(xs)), f"{layer.name}/inverse_count")], layer.name)
    return y


def concatenate(ctx: ExportContext, layer: Any, xs: list[str]) -> str:
    """Concat on the layer's axis."""
    return ctx.node("Concat", list(xs), layer.name, axis=int(layer.axis))


def _l2_normalize(ctx: ExportContext, x: str, axis: int, hint: str) -> str:
    norm = ctx.reduce("ReduceL2", x, [axis], True, hint)
    norm = ctx.node("Max", [norm, ctx.constant(np.float32(_NORM_EPSILON), f"{hint}/epsilon")], hint)
    return ctx.node("Div", [x, norm], hint)


def dot(ctx: ExportContext, layer: Any, xs: list[str]) -> str:
    """MatMul of the inputs with the contracted axes moved into place (Transpose, Unsqueeze),
    then Squeeze; ReduceL2, Max, Div first with normalize=True."""
    shapes = [ctx.shape_of(x) for x in xs]
    a0, a1 = layer._resolved_axes(shapes)
    x0, x1 = xs
    if layer.normalize:
        x0, x1 = _l2_normalize(ctx, x0, a0, layer.name), _l2_normalize(ctx, x1, a1, layer.name)
    r0, r1 = len(shapes[0]), len(shapes[1])
    # input 0 as (batch, rows, k), input 1 as (batch, k, cols)
    x0 = ctx.unsqueeze(x0, [1], layer.name) if r0 == 2 else (ctx.transpose(x0, [0, 2, 1], layer.name) if a0 == 1
                                                              else x0)
    x1 = ctx.unsqueeze(x1, [2], layer.name) if r1 == 2 else (ctx.transpose(x1, [0, 2, 1], layer.name) if a1 == 2
                                                              else x1)
    y = ctx.node("MatMul", [x0, x1], layer.name)
    if r0 == 2 and r1 == 2:
        return ctx.squeeze(y, [2], layer.name)
    squeeze = ([1] if r0 == 2 else []) + ([2] if r1 == 2 else [])
    return ctx.squeeze(y, squeeze, layer.name) if squeeze else y
