"""ONNX exporters of MultiHeadAttention, PositionalEmbedding and TransformerEncoder, registered
with dl's ``register_onnx_exporters`` hook (see `dl_transformer.plugin`); dl's
``Model.export(path, format="onnx")`` and ``dl export`` use them.

Each is ``exporter(ctx, layer, x)`` with `ctx` a `corelib.saving.onnx_export.ExportContext`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dl_transformer._attention import MASKED_SCORE
from dl_transformer._call import CallOptions

__all__ = ["multi_head_attention", "positional_embedding", "transformer_encoder"]


def _heads(ctx: Any, layer: Any, x: str, label: str, size: int) -> str:
    """The projection `label` of x (batch, steps, features) as (batch, heads, steps, size)."""
    kernel, bias = layer._projections[label]
    w = kernel.value.reshape(kernel.value.shape[0], -1)
    y = ctx.node("MatMul", [x, ctx.constant(w, f"{layer.name}/{label}_kernel")], f"{layer.name}/{label}")
    y = ctx.add_bias(y, None if bias is None else bias.value.reshape(-1), f"{layer.name}/{label}")
    y = ctx.reshape(y, [0, 0, layer.num_heads, size], f"{layer.name}/{label}_heads")
    return ctx.transpose(y, [0, 2, 1, 3], f"{layer.name}/{label}_heads")


def _causal(ctx: Any, name: str, q: str, k: str) -> str:
    """A (steps, keys) boolean lower triangle: Trilu on ones shaped from the inputs at run time."""
    lengths = [ctx.slice(ctx.node("Shape", [t], f"{name}/shape"), [1], [2], [0], hint=f"{name}/length")
               for t in (q, k)]
    shape = ctx.node("Concat", lengths, f"{name}/causal_shape", axis=0)
    ones = ctx.node("ConstantOfShape", [shape], f"{name}/ones",
                    value=ctx.tensor(np.ones(1, np.int64)))
    return ctx.node("Cast", [ctx.node("Trilu", [ones], f"{name}/lower", upper=0)], f"{name}/causal", to=9)


def multi_head_attention(ctx: Any, layer: Any, x: Any) -> Any:
    """MatMul projections, Reshape/Transpose into heads, MatMul, Softmax, MatMul, output MatMul
    (an attention_mask or use_causal_mask as Where; return_attention_scores as a second output)."""
    options = layer._call_options or CallOptions()
    if isinstance(x, (list, tuple)):
        query, value = x[0], x[1]
        key = x[2] if len(x) >= 3 else value
        mask = x[3] if len(x) == 4 else None
    else:
        query = value = key = x
        mask = None
    for t in (query, value, key):
        shape = ctx.shape_of(t)
        if shape is None or len(shape) != 3:
            raise ctx.fail(layer, f"inputs of rank 3 (batch, steps, features) are exported; received shape {shape}")
    name = layer.name
    q = _heads(ctx, layer, query, "query", layer.key_dim)
    k = _heads(ctx, layer, key, "key", layer.key_dim)
    v = _heads(ctx, layer, value, "value", layer.value_dim)
    scores = ctx.node("MatMul", [q, ctx.transpose(k, [0, 1, 3, 2], f"{name}/keys_t")], f"{name}/scores")
    scale = ctx.constant(np.float32(1.0 / math.sqrt(layer.key_dim)), f"{name}/scale")
    scores = ctx.node("Mul", [scores, scale], f"{name}/scores")
    keep = None
    if mask is not None:  # (batch, steps, keys), nonzero where attending is allowed
        zero = ctx.constant(np.float32(0.0), f"{name}/zero")
        keep = ctx.unsqueeze(ctx.node("Not", [ctx.node("Equal", [mask, zero], f"{name}/mask")], f"{name}/keep"),
                             [1], f"{name}/keep")
    if options.use_causal_mask:
        causal = _causal(ctx, name, query, key)
        keep = causal if keep is None else ctx.node("And", [keep, causal], f"{name}/keep")
    if keep is not None:
        masked = ctx.constant(np.float32(MASKED_SCORE), f"{name}/masked_score")
        scores = ctx.node("Where", [keep, scores, masked], f"{name}/scores")
    probs = ctx.node("Softmax", [scores], f"{name}/probs", axis=-1)
    attended = ctx.transpose(ctx.node("MatMul", [probs, v], f"{name}/attended"), [0, 2, 1, 3], f"{name}/attended")
    concat = ctx.reshape(attended, [0, 0, layer.num_heads * layer.value_dim], f"{name}/concat")
    y = _heads_output(ctx, layer, concat)
    return [y, probs] if options.return_attention_scores else y


def _heads_output(ctx: Any, layer: Any, concat: str) -> str:
    kernel, bias = layer._projections["output"]
    w = kernel.value.reshape(-1, kernel.value.shape[-1])
    y = ctx.node("MatMul", [concat, ctx.constant(w, f"{layer.name}/output_kernel")], f"{layer.name}/output")
    return ctx.add_bias(y, None if bias is None else bias.value, f"{layer.name}/output")


def positional_embedding(ctx: Any, layer: Any, x: str) -> str:
    """Add the first `steps` rows of the position table (a Slice sized from the input at run time)."""
    table = ctx.constant(layer.embeddings.value, f"{layer.name}/embeddings")
    steps = ctx.slice(ctx.node("Shape", [x], f"{layer.name}/shape"), [1], [2], [0], hint=f"{layer.name}/steps")
    rows = ctx.node("Slice", [table, ctx.ints([0], f"{layer.name}/start"), steps, ctx.ints([0], f"{layer.name}/axis")],
                    f"{layer.name}/positions")
    return ctx.node("Add", [x, rows], layer.name)


def transformer_encoder(ctx: Any, layer: Any, x: str) -> str:
    """Its parts' exports (MultiHeadAttention, LayerNormalization, Dense, Dropout) with the two
    residual Adds, post-norm or pre-norm as the layer computes."""
    p, shape = layer._parts, ctx.shape_of(x)

    def run(label: str, value: str) -> str:
        ctx.set_shape(value, shape if label != "feedforward_output" else (*shape[:-1], layer.intermediate_dim))
        return ctx.call(p[label], value)

    def branch(value: str, labels: tuple[str, ...], norm: str) -> str:
        h = run(norm, value) if layer.normalize_first else value
        for label in labels:
            h = run(label, h)
        out = ctx.node("Add", [value, h], f"{layer.name}/{norm}_residual")
        return run(norm, out) if not layer.normalize_first else out

    h = branch(x, ("self_attention", "self_attention_dropout"), "self_attention_norm")
    return branch(h, ("feedforward_intermediate", "feedforward_output", "feedforward_dropout"), "feedforward_norm")
