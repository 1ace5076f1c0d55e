"""The ONNX form of dl's activations, shared by every exporter whose layer has one
(Dense, Conv, Activation and the activation layers)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from corelib.saving.onnx_export import ExportContext

__all__ = ["apply_activation", "SUPPORTED"]

# dl's selu constants (corelib/kernels/activations.pyx), not ONNX's defaults
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946

#: activation name -> the ONNX ops it becomes (for the docs and `dl list`)
SUPPORTED = {
    "linear": "(none)",
    "relu": "Relu",
    "leaky_relu": "LeakyRelu",
    "elu": "Elu",
    "selu": "Selu",
    "sigmoid": "Sigmoid",
    "hard_sigmoid": "HardSigmoid (alpha 1/6, beta 0.5)",
    "tanh": "Tanh",
    "softmax": "Softmax (last axis)",
    "softplus": "Softplus",
    "swish": "Sigmoid, Mul",
    "gelu": "Div, Erf, Add, Mul (exact gelu)",
}


def _float(ctx: ExportContext, value: float, hint: str) -> str:
    return ctx.constant(np.asarray(value, dtype=np.float32), hint)


def _thresholded_relu(ctx: ExportContext, act: Any, x: str, hint: str) -> str:
    """Keras's general relu: min(x, max_value) above the threshold, slope * (x - threshold) below."""
    above = x if act.max_value is None else ctx.node("Min", [x, _float(ctx, act.max_value, f"{hint}/max")], hint)
    th = _float(ctx, act.threshold, f"{hint}/threshold")
    below = ctx.node("Mul", [ctx.node("Sub", [x, th], hint), _float(ctx, act.negative_slope, f"{hint}/slope")], hint)
    return ctx.node("Where", [ctx.node("Greater", [x, th], hint), above, below], hint)


def _softmax_over(ctx: ExportContext, x: str, axes: tuple[int, ...], hint: str) -> str:
    if len(axes) == 1:
        return ctx.node("Softmax", [x], hint, axis=int(axes[0]))
    shifted = ctx.node("Sub", [x, ctx.reduce("ReduceMax", x, axes, True, hint)], hint)
    e = ctx.node("Exp", [shifted], hint)
    return ctx.node("Div", [e, ctx.reduce("ReduceSum", e, axes, True, hint)], hint)


def apply_activation(ctx: ExportContext, layer: Any, act: Any, x: str, hint: str) -> str:
    """`act` (a dl activation object) applied to tensor `x`; ExportError naming `layer` for an
    activation ONNX export does not know (one a plugin registered)."""
    if act is None:
        return x
    if hasattr(act, "threshold") and hasattr(act, "max_value"):
        return _thresholded_relu(ctx, act, x, hint)
    if hasattr(act, "axes"):
        return _softmax_over(ctx, x, tuple(act.axes), hint)
    name = getattr(act, "name", None)
    alpha = float(getattr(act, "alpha", 0.0))
    if name == "linear":
        return x
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus"}
    if name in simple:
        return ctx.node(simple[name], [x], hint)
    if name == "leaky_relu":
        return ctx.node("LeakyRelu", [x], hint, alpha=alpha)
    if name == "elu":
        return ctx.node("Elu", [x], hint, alpha=alpha)
    if name == "selu":
        return ctx.node("Selu", [x], hint, alpha=_SELU_ALPHA, gamma=_SELU_SCALE)
    if name == "hard_sigmoid":
        return ctx.node("HardSigmoid", [x], hint, alpha=1.0 / 6.0, beta=0.5)
    if name == "softmax":
        return ctx.node("Softmax", [x], hint, axis=-1)
    if name == "swish":
        return ctx.node("Mul", [x, ctx.node("Sigmoid", [x], hint)], hint)
    if name == "gelu":
        erf = ctx.node("Erf", [ctx.node("Div", [x, _float(ctx, math.sqrt(2.0), f"{hint}/sqrt2")], hint)], hint)
        half = ctx.node("Mul", [x, _float(ctx, 0.5, f"{hint}/half")], hint)
        return ctx.node("Mul", [half, ctx.node("Add", [erf, _float(ctx, 1.0, f"{hint}/one")], hint)], hint)
    raise ctx.fail(layer, f"activation {name!r} has no ONNX form; supported: {', '.join(SUPPORTED)}")
