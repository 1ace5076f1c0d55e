"""LayerNormalization now lives in the core library (`corelib.builtin.layers.layer_normalization`),
which registers it; this module keeps the old import path working."""

from __future__ import annotations

from corelib.builtin.layers.layer_normalization import LayerNormalization

__all__ = ["LayerNormalization"]
