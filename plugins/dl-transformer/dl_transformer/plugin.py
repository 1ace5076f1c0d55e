"""The dl plugin: registers the transformer layers through ``register_layers``."""

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
