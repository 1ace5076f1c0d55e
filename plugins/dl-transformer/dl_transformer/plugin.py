"""The dl plugin: registers the transformer layers through ``register_layers`` and their ONNX
exporters through ``register_onnx_exporters``."""

from __future__ import annotations

from typing import Callable

from corelib import hookimpl


@hookimpl
def register_layers(register: Callable[..., None]) -> None:
    """Register MultiHeadAttention, PositionalEmbedding, TransformerEncoder.

    LayerNormalization is registered by dl itself (registering it here too would make
    the name ambiguous)."""
    from dl_transformer import MultiHeadAttention, PositionalEmbedding, TransformerEncoder

    for cls in (MultiHeadAttention, PositionalEmbedding, TransformerEncoder):
        register(cls)


@hookimpl
def register_onnx_exporters(register: Callable[..., None]) -> None:
    """Register the ONNX exporters of MultiHeadAttention, PositionalEmbedding, TransformerEncoder."""
    from dl_transformer import MultiHeadAttention, PositionalEmbedding, TransformerEncoder
    from dl_transformer import onnx_exporters as ox

    register(MultiHeadAttention, ox.multi_head_attention)
    register(PositionalEmbedding, ox.positional_embedding)
    register(TransformerEncoder, ox.transformer_encoder)
