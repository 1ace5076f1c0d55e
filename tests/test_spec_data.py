"""corelib.spec.data: data checked against a model (names, shapes, labels) with the file named, and
the command-line overrides of a spec's training section."""

import numpy as np
import pytest

from corelib import layers, models, spec
from corelib.errors import DataError
from corelib.layers.input_layer import Input
from corelib.registry import Registry, use_registry
from corelib.spec import SpecError
from corelib.spec.data import check_for_model, data_argument, prepare_arrays

pytest.importorskip("corelib.builtin.plugin")


@pytest.fixture(autouse=True)
def builtin():
    with use_registry(Registry(entry_points=False)):
        yield


@pytest.fixture
def two_heads():
    a, b = Input((3,), name="a"), Input((2, 2), name="b")
    merged = layers.Concatenate()([a, layers.Flatten()(b)])
    model = models.Model({"a": a, "b": b}, {"cls": layers.Dense(4, activation="softmax", name="cls")(merged),
                                            "reg": layers.Dense(2, name="reg")(merged)})
    model.compile(loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"})
    return model


def test_named_arrays_fit_a_model_with_several_inputs_and_outputs(two_heads):
    x = {"a": np.ones((5, 3)), "b": np.ones((5, 2, 2))}
    y = {"cls": np.arange(5) % 4, "reg": np.ones((5, 2))}
    xs, ys = prepare_arrays(two_heads, None, x, y, source="f.npz")
    assert xs is x and ys["cls"].shape == (5,)


@pytest.mark.parametrize("x, y, expected", [
    ({"a": np.ones((5, 3))}, None, "f.npz: has no array x_b for the model's input 'b' (it holds x_a); "
                                   "the model's inputs are ['a', 'b']"),
    ({"a": np.ones((5, 3)), "b": np.ones((5, 2, 2)), "c": np.ones((5, 1))}, None,
     "f.npz: holds x_c, but the model has no input 'c'"),
    (np.ones((5, 3)), None, "f.npz: has one x array, but the model has 2 inputs ['a', 'b']"),
    ({"a": np.ones((5, 4)), "b": np.ones((5, 2, 2))}, None,
     "f.npz: x_a has samples of shape (4,), but the model's input 'a' takes (3,)"),
    ({"a": np.ones((5, 3)), "b": np.ones((5, 2, 2))}, {"cls": np.full(5, 4), "reg": np.ones((5, 2))},
     "f.npz: y_cls holds class labels from 4 to 4, but the model's output 'cls' has 4 classes (labels 0 to 3)"),
    ({"a": np.ones((5, 3)), "b": np.ones((5, 2, 2))}, {"cls": np.zeros(5), "reg": np.ones((5, 3))},
     "f.npz: y_reg has targets of shape (3,), but the model's output 'reg' gives (2,)"),
    ({"a": np.ones((5, 3)), "b": np.ones((5, 2, 2))}, {"cls": np.zeros((5, 2)), "reg": np.ones((5, 2))},
     "f.npz: y_cls has labels of shape (2,), but the model's output 'cls' gives (4,)"),
    ({"a": np.ones((5, 3)), "b": np.ones((5, 2, 2))}, np.zeros(5),
     "f.npz: has one target array, but the model has 2 outputs ['cls', 'reg']"),
])
def test_data_that_does_not_fit_is_refused_naming_the_file(two_heads, x, y, expected):
    with pytest.raises(DataError) as info:
        prepare_arrays(two_heads, None, x, y, source="f.npz")
    assert str(info.value).startswith(expected), str(info.value)


def test_categorical_labels_out_of_range_name_the_file():
    model = models.Sequential([layers.Dense(3, activation="softmax", input_shape=(2,))])
    model.compile(loss="categorical_crossentropy")
    with pytest.raises(DataError, match="^d.csv: Labels run from 0 to 5, but the model's output has 3 classes"):
        prepare_arrays(model, None, np.ones((6, 2)), np.arange(6), source="d.csv")
    check_for_model(model, np.ones((6, 2)), np.eye(3)[[0, 1, 2, 0, 1, 2]], "d.csv")


def test_overrides_for_the_command_line(tmp_path, monkeypatch):
    s = spec.parse_spec({"model": ["Flatten"], "training": {"optimizer": {"name": "sgd", "momentum": 0.9},
                                                            "data": "d.csv"}}, source="s.yaml", base_dir=tmp_path)
    o = spec.with_overrides(s, loss="mse", metrics=["mae", "mse"], learning_rate=0.5, target="label")
    t = o.training
    assert t.loss == "mse" and t.metrics == ["mae", "mse"]
    assert t.optimizer == {"class_name": "sgd", "config": {"momentum": 0.9, "learning_rate": 0.5}}
    assert t.data == {"path": tmp_path / "d.csv", "target": "label"}
    o = spec.with_overrides(s, optimizer="adam", learning_rate=2)
    assert o.training.optimizer == {"class_name": "adam", "config": {"learning_rate": 2.0}}
    with pytest.raises(SpecError, match="s.yaml: --learning-rate must be a positive number, got 0"):
        spec.with_overrides(s, learning_rate=0)
    with pytest.raises(SpecError, match="s.yaml: --loss must be a name or a mapping"):
        spec.with_overrides(s, loss=3)
    with pytest.raises(SpecError, match="--target names a column of a .csv data file, but the data is the data set"):
        spec.with_overrides(s, data="iris", target="label")
    monkeypatch.chdir(tmp_path)
    assert data_argument("x.csv", "y") == {"path": tmp_path / "x.csv", "target": "y"}
    assert data_argument("iris") == {"dataset": "iris", "options": {}}
    with pytest.raises(SpecError, match="--target names a column of a .csv data file, but --data names the data"):
        data_argument("iris", "y")
