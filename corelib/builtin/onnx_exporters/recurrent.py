"""ONNX exporters of SimpleRNN, LSTM, GRU, Bidirectional and TimeDistributed.

The recurrent layers become ONNX's RNN, LSTM and GRU ops (time-major, so a
Transpose before and after). dl's gate order is Keras's: LSTM (i, f, c, o),
which ONNX wants as (i, o, f, c); GRU (z, r, h), as ONNX; GRU's reset_after
(Keras's default) is ONNX's linear_before_reset=1 with a separate recurrent bias.
go_backwards reverses the sequence first (a Slice with step -1), so the outputs
come in processing order, as dl gives them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.saving.onnx_export import ExportContext

__all__ = ["recurrent", "bidirectional", "time_distributed"]

# dl activation -> (ONNX RNN activation, alpha, beta); only these are exported
_RNN_ACTIVATIONS = {
    "tanh": ("Tanh", None, None),
    "sigmoid": ("Sigmoid", None, None),
    "relu": ("Relu", None, None),
    "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),
    "linear": ("Affine", 1.0, 0.0),
}
_OPS = {1: "RNN", 3: "GRU", 4: "LSTM"}
_LSTM_ORDER = (0, 3, 1, 2)  # ONNX's (i, o, f, c) from dl's (i, f, c, o)


def _activations(ctx: ExportContext, layer: Any, acts: list[Any]) -> dict:
    names, alphas, betas = [], [], []
    for act in acts:
        form = _RNN_ACTIVATIONS.get(getattr(act, "name", None))
        if form is None:
            raise ctx.fail(layer, f"activation {getattr(act, 'name', act)!r} has no ONNX {_OPS[layer.n_gates]} form; "
                                  f"supported: {', '.join(_RNN_ACTIVATIONS)}")
        names.append(form[0])
        if form[1] is not None:  # runtimes consume alphas and betas in order, by the ops that take them
            alphas.append(form[1])
            betas.append(form[2])
    return {"activations": names, "activation_alpha": alphas or None, "activation_beta": betas or None}


def _gates(m: np.ndarray, layer: Any) -> np.ndarray:
    """The gate blocks of the last axis in ONNX's order."""
    if layer.n_gates != 4:
        return m
    u = layer.units
    return np.concatenate([m[..., g * u:(g + 1) * u] for g in _LSTM_ORDER], axis=-1)


def recurrent(ctx: ExportContext, layer: Any, x: str) -> Any:
    """RNN / LSTM / GRU (forward direction), Transposes and Squeezes around it."""
    gates, units, name = layer.n_gates, layer.units, layer.name
    acts = [layer.activation] if gates == 1 else [layer.recurrent_activation, layer.activation]
    if gates == 4:
        acts.append(layer.activation)
    attrs = _activations(ctx, layer, acts)
    if layer.go_backwards:
        x = ctx.reverse(x, 1, f"{name}/reversed")
    xt = ctx.transpose(x, [1, 0, 2], f"{name}/time_major")
    w = ctx.constant(_gates(layer.kernel.value, layer).T[None], f"{name}/W")
    r = ctx.constant(_gates(layer.recurrent_kernel.value, layer).T[None], f"{name}/R")
    ins = [xt, w, r]
    if layer.bias is not None:
        b = layer.bias.value
        if gates == 3 and layer.reset_after:
            both = np.concatenate([b[0], b[1]])
        else:
            both = np.concatenate([_gates(b, layer), np.zeros_like(b)])
        ins.append(ctx.constant(both[None], f"{name}/B"))
    if gates == 3:
        attrs["linear_before_reset"] = int(layer.reset_after)
    outs = ctx.node(_OPS[gates], ins, name, outputs=3 if gates == 4 else 2, hidden_size=units,
                    direction="forward", **attrs)
    h = ctx.squeeze(outs[1], [0], f"{name}/h")
    if layer.return_sequences:
        y = ctx.transpose(ctx.squeeze(outs[0], [1], name), [1, 0, 2], f"{name}/sequence")
    else:
        y = h
    if not layer.return_state:
        return y
    states = [h] + ([ctx.squeeze(outs[2], [0], f"{name}/c")] if gates == 4 else [])
    return [y, *states]


def bidirectional(ctx: ExportContext, layer: Any, x: str) -> Any:
    """The forward and backward layers' exports, the backward sequence reversed back, merged
    (Concat, Add, Mul, Add then Mul by 0.5, or two outputs)."""
    f, b = ctx.call(layer.forward_layer, x), ctx.call(layer.backward_layer, x)
    fs, bs = (f, b) if layer.return_state else ([f], [b])
    of, ob = fs[0], bs[0]
    if layer.return_sequences:
        ob = ctx.reverse(ob, 1, f"{layer.name}/backward_in_time_order")
    mode, name = layer.merge_mode, layer.name
    if mode == "concat":
        merged = [ctx.node("Concat", [of, ob], name, axis=-1)]
    elif mode == "sum":
        merged = [ctx.node("Add", [of, ob], name)]
    elif mode == "mul":
        merged = [ctx.node("Mul", [of, ob], name)]
    elif mode == "ave":
        half = ctx.constant(np.float32(0.5), f"{name}/half")
        merged = [ctx.node("Mul", [ctx.node("Add", [of, ob], name), half], name)]
    else:
        merged = [of, ob]
    outputs = merged + fs[1:] + bs[1:]
    return outputs if len(outputs) > 1 else outputs[0]


def time_distributed(ctx: ExportContext, layer: Any, x: str) -> str:
    """Reshape to (batch * steps, ...), the inner layer's export, Reshape back."""
    shape = ctx.shape_of(x)
    rest = tuple(shape[2:])
    if None in rest:
        raise ctx.fail(layer, f"the sizes after the time axis must be known; the input's shape is {shape}")
    flat = ctx.reshape(x, [-1, *rest], f"{layer.name}/samples")
    ctx.set_shape(flat, (None, *rest))
    y = ctx.call(layer.layer, flat)
    if isinstance(y, list):
        raise ctx.fail(layer, "an inner layer with several outputs is not exported")
    out = layer.layer.compute_output_shape((None, *rest))
    if None in tuple(out[1:]):
        raise ctx.fail(layer, f"the inner layer's output sizes must be known; they are {out}")
    lead = ctx.slice(ctx.node("Shape", [x], f"{layer.name}/shape"), [0], [2], [0], hint=f"{layer.name}/lead")
    target = ctx.node("Concat", [lead, ctx.ints(out[1:], f"{layer.name}/rest")], f"{layer.name}/target", axis=0)
    return ctx.node("Reshape", [y, target], layer.name)
