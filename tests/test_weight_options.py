"""corelib.layers.weight_options: initializer and regularizer arguments, resolved once and written back."""

import pytest

from corelib import initializers, regularizers
from corelib.errors import ConfigError
from corelib.layers import Layer
from corelib.layers.weight_options import set_weight_options, weight_options_config


class Scaled(Layer):
    def __init__(self, scale_initializer="ones", scale_regularizer=None, offset_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        set_weight_options(self, scale_initializer=scale_initializer, scale_regularizer=scale_regularizer)
        set_weight_options(self, offset_initializer=offset_initializer)

    def get_config(self):
        return {**super().get_config(), **weight_options_config(self)}


def test_options_are_resolved_through_their_registry_views():
    layer = Scaled(scale_initializer={"class_name": "Constant", "config": {"value": 2.0}}, scale_regularizer="l2")
    assert isinstance(layer.scale_initializer, initializers.Initializer)
    assert layer.scale_initializer.value == 2.0
    assert isinstance(layer.scale_regularizer, regularizers.Regularizer)
    assert layer.offset_initializer.get_config() == initializers.get("zeros").get_config()


def test_the_config_holds_every_option_in_the_order_set_and_rebuilds_the_layer():
    layer = Scaled(scale_regularizer="l1")
    config = layer.get_config()
    assert list(config)[-3:] == ["scale_initializer", "scale_regularizer", "offset_initializer"]
    assert config["scale_regularizer"] == regularizers.serialize(layer.scale_regularizer)
    assert Scaled.from_config(config).get_config() == config


def test_a_layer_without_options_has_an_empty_options_config():
    assert weight_options_config(Layer()) == {}


def test_an_option_that_is_neither_an_initializer_nor_a_regularizer_is_refused():
    with pytest.raises(ConfigError, match=r"'scale_activation' is not a weight option"):
        set_weight_options(Layer(), scale_activation="relu")
