"""The dl plugin: registers the transformer layers through ``register_layers``."""

from __future__ import annotations

from typing import Callable

from corelib import hookimpl


@hookimpl
def register_layers(register: Callable[..., None]) -> None:
    """Register LayerNormalization, MultiHeadAttention, PositionalEmbedding, TransformerEncoder."""
    from dl_transformer import LayerNormalization, MultiHeadAttention, PositionalEmbedding, TransformerEncoder

    for cls in (LayerNormalization, MultiHeadAttention, PositionalEmbedding, TransformerEncoder):
        register(cls)
