"""dl-transformer: transformer layers for dl.

MultiHeadAttention, PositionalEmbedding and TransformerEncoder, registered
through the ``dl`` entry point (see `dl_transformer.plugin`), so once
installed they are found as ``corelib.layers.MultiHeadAttention`` and by name
in model specs. LayerNormalization is dl's own built-in layer (it moved into
the core library); it is re-exported here so ``from dl_transformer import
LayerNormalization`` keeps working.
"""

from __future__ import annotations

from dl_transformer.layer_normalization import LayerNormalization
from dl_transformer.multi_head_attention import MultiHeadAttention
from dl_transformer.positional_embedding import PositionalEmbedding
from dl_transformer.transformer_encoder import TransformerEncoder

__all__ = ["LayerNormalization", "MultiHeadAttention", "PositionalEmbedding", "TransformerEncoder"]
__version__ = "0.1.0"
