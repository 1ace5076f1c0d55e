"""LayerNormalization moved into the core library: the plugin re-exports dl's own class
(its tests against torch.nn.LayerNorm are in dl's tests/test_keras_layers.py), no longer
registers it, and TransformerEncoder builds on it."""

from corelib import layers
from corelib.builtin.layers.layer_normalization import LayerNormalization as CoreLayerNormalization
from corelib.registry import get_registry
from dl_transformer import LayerNormalization, TransformerEncoder


def test_the_old_import_path_gives_the_core_class():
    assert LayerNormalization is CoreLayerNormalization
    assert layers.get("LayerNormalization") is CoreLayerNormalization
    assert get_registry().entry("layers", "LayerNormalization").plugin == "dl"
    assert "dl-transformer:LayerNormalization" not in {
        f"{e.plugin}:{e.name}" for e in get_registry().entries("layers")}


def test_transformer_encoder_normalizes_with_the_core_layer():
    encoder = TransformerEncoder(8, 2)
    encoder.ensure_built((None, 3, 4))
    norms = [part for part in encoder._parts.values() if isinstance(part, CoreLayerNormalization)]
    assert len(norms) == 2
