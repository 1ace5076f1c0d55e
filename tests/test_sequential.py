"""Sequential: composing layers, shape inference and refusal, summary, weights."""

import numpy as np
import pytest

from corelib import ShapeError, ConfigError, layers, models


def test_seed_idiom_infers_each_input_shape_from_the_layer_before():
    model = models.Sequential()
    model.add(layers.Dense(32, input_shape=(784,)))
    model.add(layers.Dense(32))
    assert model.layers[0].input_shape == (None, 784)
    assert model.layers[1].input_shape == (None, 32)
    assert model.output_shape == (None, 32)
    assert model.count_params() == 784 * 32 + 32 + 32 * 32 + 32


def test_incompatible_layer_is_refused_naming_both_layers_and_shapes():
    model = models.Sequential([layers.Dense(32, input_shape=(784,), name="first")])
    model.add(layers.Flatten(name="flat"))
    with pytest.raises(ShapeError) as info:
        model.add(layers.Reshape((5, 7), name="reshape_bad"))
    message = str(info.value)
    for fragment in ("reshape_bad", "Reshape", "flat", "Flatten", "(None, 32)"):
        assert fragment in message
    assert len(model.layers) == 2  # the refused layer was not added


def test_declared_input_shape_that_contradicts_previous_output_is_refused():
    model = models.Sequential([layers.Dense(8, input_shape=(4,), name="a")])
    with pytest.raises(ShapeError, match=r"'b'.*\(16,\).*'a'.*\(None, 8\)"):
        model.add(layers.Dense(3, input_shape=(16,), name="b"))


def test_model_without_input_shape_builds_on_first_data():
    model = models.Sequential([layers.Dense(5), layers.Dense(2)])
    assert not model.built
    out = model.predict(np.ones((3, 7), np.float32), verbose=0)
    assert out.shape == (3, 2)
    assert model.layers[0].input_shape == (None, 7)


def test_wrong_input_shape_for_built_model_is_a_clear_error():
    model = models.Sequential([layers.Dense(5, input_shape=(7,))])
    with pytest.raises(ShapeError, match=r"\(3, 6\).*\(None, 7\)"):
        model.predict(np.ones((3, 6), np.float32), verbose=0)


def test_add_rejects_non_layers_and_duplicate_names():
    model = models.Sequential()
    with pytest.raises(ConfigError, match="Layer instance"):
        model.add("Dense")
    model.add(layers.Dense(3, input_shape=(2,), name="d"))
    with pytest.raises(ConfigError, match="already has a layer named 'd'"):
        model.add(layers.Dense(3, name="d"))


def test_pop_removes_the_last_layer():
    model = models.Sequential([layers.Dense(4, input_shape=(2,)), layers.Dense(3)])
    last = model.pop()
    assert last.name == "dense_1" and len(model.layers) == 1


def test_weights_follow_keras_layout_kernel_then_bias():
    model = models.Sequential([layers.Dense(3, input_shape=(5,)), layers.Dense(2)])
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(5, 3), (3,), (3, 2), (2,)]
    new = [np.full(s, i, np.float32) for i, s in enumerate(shapes)]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="received 3"):
        model.set_weights(new[:3])
    with pytest.raises(ShapeError, match=r"kernel.*\(5, 3\).*\(3, 5\)"):
        model.set_weights([np.zeros((3, 5))] + new[1:])


def test_summary_lists_every_layer_with_shape_params_and_plugin():
    model = models.Sequential(name="mlp")
    model.add(layers.Dense(32, activation="relu", input_shape=(784,)))
    model.add(layers.Dense(10, activation="softmax"))
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "mlp"' in text
    assert "dense (Dense)" in text and "dense_1 (Dense)" in text
    assert "(None, 32)" in text and "(None, 10)" in text
    assert "25,120" in text and "330" in text
    assert "Total params: 25,450" in text
    assert "Trainable params: 25,450" in text
    assert "Non-trainable params: 0" in text
    assert "dl " in text  # providing plugin and version


def test_frozen_layer_counts_as_non_trainable():
    model = models.Sequential([layers.Dense(4, input_shape=(2,)), layers.Dense(1)])
    model.layers[0].trainable = False
    assert len(model.trainable_weights) == 2
    assert len(model.non_trainable_weights) == 2


def test_config_round_trip_rebuilds_the_same_architecture():
    model = models.Sequential([layers.Dense(4, activation="tanh", input_shape=(3,)), layers.Dropout(0.5),
                               layers.Dense(2, activation="softmax")])
    clone = models.Sequential.from_config(model.get_config())
    assert [type(l).__name__ for l in clone.layers] == ["Dense", "Dropout", "Dense"]
    assert clone.get_config() == model.get_config()
    assert [w.shape for w in clone.get_weights()] == [w.shape for w in model.get_weights()]


@pytest.mark.parametrize("how", ["list", "add", "build"])
def test_a_layer_after_a_multi_output_layer_is_refused_naming_both(how):
    gru = layers.GRU(4, return_state=True, name="enc")
    dense = layers.Dense(2, name="head")
    with pytest.raises(ConfigError) as info:
        if how == "list":
            models.Sequential([layers.Input((5, 3)), gru, dense])
        elif how == "add":
            model = models.Sequential([layers.Input((5, 3)), gru])
            model.add(dense)
        else:
            models.Sequential([gru, dense]).build((None, 5, 3))
    message = str(info.value)
    for fragment in ("'head' (Dense)", "'enc' (GRU)", "2 outputs", "(None, 4)"):
        assert fragment in message
