"""Model specs: parsing, validation messages, building and compiling models."""

import json
from pathlib import Path

import numpy as np
import pytest

from corelib import hookimpl, spec
from corelib.errors import ConfigError, DataError
from corelib.layers.base import Layer
from corelib.registry import Registry, use_registry
from corelib.spec import SpecError

FRIENDLY = """
name: tiny
model:
  - Flat: {input_shape: [2, 2]}
  - Scale: {factor: 2.0}
  - Flat
training:
  loss: categorical_crossentropy
  optimizer: {name: adam, learning_rate: 0.01}
  metrics: accuracy
  epochs: 3
  batch_size: 8
  validation_split: 0.25
  data: train.npz
  seed: 5
  output: out/model.dl
"""


class Scale(Layer):
    """Multiplies its input by `factor`."""

    def __init__(self, factor: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}

    def forward(self, x, training=False):
        return x * self.factor, lambda dy: dy * self.factor


class Flat(Layer):
    """Flattens all but the batch axis."""

    def compute_output_shape(self, input_shape):
        return (input_shape[0], int(np.prod(input_shape[1:])))

    def forward(self, x, training=False):
        return x.reshape(len(x), -1), lambda dy: dy.reshape(x.shape)


class CategoricalCrossentropy:
    """Stands in for the real loss: only its registered name matters here."""


class TestPlugin:
    @hookimpl
    def register_layers(self, register):
        register(Scale)
        register(Flat)

    @hookimpl
    def register_losses(self, register):
        register(CategoricalCrossentropy)

    @hookimpl
    def register_datasets(self, register):
        register("toy", lambda scale=1.0: ((np.ones((4, 2)) * scale, np.arange(4)), (np.ones((2, 2)), np.arange(2))))


@pytest.fixture
def reg():
    r = Registry(builtin=False, entry_points=False)
    r.register_plugin(TestPlugin(), name="testplugin")
    with use_registry(r):
        yield r


def _write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_friendly_yaml(tmp_path):
    s = spec.load_spec(_write(tmp_path, FRIENDLY))
    assert s.name == "tiny" and s.source == "spec.yaml"
    assert s.layers == [
        {"class_name": "Flat", "config": {"input_shape": [2, 2]}},
        {"class_name": "Scale", "config": {"factor": 2.0}},
        {"class_name": "Flat", "config": {}},
    ]
    t = s.training
    assert t.loss == "categorical_crossentropy"
    assert t.optimizer == {"class_name": "adam", "config": {"learning_rate": 0.01}}
    assert t.metrics == ["accuracy"]
    assert (t.epochs, t.batch_size, t.validation_split, t.seed) == (3, 8, 0.25, 5)
    # Paths in a spec are relative to the spec file.
    assert t.data == {"path": tmp_path.resolve() / "train.npz", "target": None}
    assert t.output == tmp_path.resolve() / "out" / "model.dl"


def test_keras_style_json_with_input_layer(tmp_path):
    doc = {
        "model": {
            "class_name": "Sequential",
            "config": {
                "name": "k",
                "layers": [
                    {"class_name": "InputLayer", "config": {"batch_shape": [None, 4]}},
                    {"module": "keras.layers", "class_name": "Scale", "config": {"factor": 3}, "registered_name": None},
                ],
            },
        },
        "training": {"loss": {"class_name": "CategoricalCrossentropy", "config": {}}, "data": {"name": "toy", "scale": 2}},
    }
    s = spec.load_spec(_write(tmp_path, json.dumps(doc), "spec.json"))
    assert s.name == "k"
    assert s.layers == [{"class_name": "Scale", "config": {"factor": 3, "batch_input_shape": [None, 4]}}]
    assert s.training.loss == {"class_name": "CategoricalCrossentropy", "config": {}}
    assert s.training.data == {"dataset": "toy", "options": {"scale": 2}}


def test_defaults_are_keras_defaults():
    s = spec.parse_spec({"model": ["Flat"]})
    t = s.training
    assert (t.loss, t.optimizer, t.metrics, t.epochs, t.batch_size, t.validation_split, t.shuffle) == (
        None, "rmsprop", [], 1, 32, 0.0, True
    )
    assert t.data is None and t.seed is None and t.output is None


MALFORMED = [
    ("- Dense", "the spec must be a mapping with a 'model' key, got ['Dense']"),
    ("training: {epochs: 1}", "missing field 'model'"),
    ("model: [Flat]\ntrainig: {}", "unknown field 'trainig'. Did you mean 'training'?"),
    ("model: []", "model must be a non-empty list of layers, got []"),
    ("model: [3]", "model[0] must be a layer name or a one-key mapping like {Dense: {units: 64}}, got 3"),
    ("model:\n  - Dense: 64", "model[0].Dense must be a mapping of layer arguments (e.g. {units: 64}), got 64"),
    ("model:\n  - {Dense: {}, Flat: {}}", "model[0] must be a layer name or a one-key mapping"),
    ("model: {class_name: Pipeline, config: {}}", "model.class_name must be 'Sequential' or 'Model'"),
    ("model: {class_name: Sequential, config: {}}", "model.config.layers must be a non-empty list of layers, got None"),
    ("model: [{class_name: Dense, config: 3}]", "model[0].config must be a mapping of layer arguments, got 3"),
    ("model: [{class_name: InputLayer, config: {}}, Flat]", "model[0] (InputLayer) needs a shape"),
    ("model: [{class_name: InputLayer, config: {shape: [4]}}]", "model must be a list with at least one layer besides"),
    ("model: [Flat]\ntraining: [1]", "training must be a mapping (loss, optimizer, epochs, ...), got [1]"),
    ("model: [Flat]\ntraining: {epochs: ten}", "training.epochs must be a positive int, got 'ten'"),
    ("model: [Flat]\ntraining: {epochs: 0}", "training.epochs must be a positive int, got 0"),
    ("model: [Flat]\ntraining: {epochs: true}", "training.epochs must be a positive int, got True"),
    ("model: [Flat]\ntraining: {epochs: 2.5}", "training.epochs must be a positive int, got 2.5"),
    ("model: [Flat]\ntraining: {batch_size: -1}", "training.batch_size must be a positive int, got -1"),
    ("model: [Flat]\ntraining: {validation_split: 1.0}", "training.validation_split must be a number in [0, 1), got 1.0"),
    ("model: [Flat]\ntraining: {epoch: 3}", "unknown field 'training.epoch'. Did you mean 'epochs'?"),
    ("model: [Flat]\ntraining: {optimizer: {learning_rate: 0.1}}", "training.optimizer must be a name or a mapping with 'name'"),
    ("model: [Flat]\ntraining: {loss: 3}", "training.loss must be a name or a mapping"),
    ("model: [Flat]\ntraining: {metrics: 3}", "training.metrics must be a list of metric names, got 3"),
    ("model: [Flat]\ntraining: {metrics: [accuracy, 4]}", "training.metrics[1] must be a name"),
    ("model: [Flat]\ntraining: {data: 5}", "training.data must be a data set name, a .npz/.npy/.csv path"),
    ("model: [Flat]\ntraining: {data: {path: a.csv, column: y}}", "unknown field 'training.data.column'"),
    ("model: [Flat]\ntraining: {seed: -1}", "training.seed must be a non-negative int, got -1"),
    ("model: [Flat]\ntraining: {shuffle: 'yes'}", "training.shuffle must be true or false, got 'yes'"),
    ("model: [Flat]\ntraining: {output: ''}", "training.output must be a non-empty string"),
    ("model: [Flat\n", "invalid YAML at line 2, column 1"),
    ("name: 3\nmodel: [Flat]", "name must be a non-empty string, got 3"),
]


@pytest.mark.parametrize("text, expected", MALFORMED, ids=[m[1][:40] for m in MALFORMED])
def test_malformed_specs_name_the_file_and_field(tmp_path, text, expected):
    with pytest.raises(SpecError) as info:
        spec.load_spec(_write(tmp_path, text))
    message = str(info.value)
    assert message.startswith("spec.yaml: ") and expected in message, message
    assert "\n" not in message
    assert isinstance(info.value, ConfigError)


def test_bad_json_and_missing_file(tmp_path):
    with pytest.raises(SpecError, match=r"spec.json: invalid JSON at line 1, column 2"):
        spec.load_spec(_write(tmp_path, "{model: 1}", "spec.json"))
    with pytest.raises(SpecError, match="nope.yaml: spec file not found"):
        spec.load_spec(tmp_path / "nope.yaml")


def test_yaml_tags_are_never_constructed(tmp_path):
    text = "model: !!python/object/apply:os.system ['echo hacked']\n"
    with pytest.raises(SpecError, match="invalid YAML"):
        spec.load_spec(_write(tmp_path, text))


def test_build_model_uses_the_registry(reg, tmp_path):
    model = spec.build_model(spec.load_spec(_write(tmp_path, FRIENDLY)))
    assert [type(layer).__name__ for layer in model.layers] == ["Flat", "Scale", "Flat"]
    assert model.name == "tiny" and model.layers[1].factor == 2.0
    assert model.output_shape == (None, 4)


@pytest.mark.parametrize(
    "layers, expected",
    [
        (["Flat", "Scal"], "spec.yaml: model[1] (Scal): Unknown layer: 'Scal'. Did you mean 'Scale'?"),
        ([{"Scale": {"factr": 2}}], "spec.yaml: model[0] (Scale): Scale got unrecognized keyword arguments: ['factr']"),
        ([{"Flat": {"input_shape": "x"}}], "spec.yaml: model[0] (Flat): Flat 'flat': input_shape must be a tuple of ints"),
    ],
)
def test_build_model_errors_name_the_layer(reg, layers, expected):
    s = spec.parse_spec({"model": layers}, source="spec.yaml")
    with pytest.raises(SpecError) as info:
        spec.build_model(s)
    assert str(info.value).startswith(expected)


def test_with_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = spec.load_spec(_write(tmp_path, FRIENDLY))
    o = spec.with_overrides(s, epochs=7, batch_size=None, data="other.csv", output="m.dl", seed=0)
    assert (o.training.epochs, o.training.batch_size, o.training.seed) == (7, 8, 0)
    assert o.training.data == {"path": Path.cwd() / "other.csv", "target": None}
    assert o.training.output == Path("m.dl")
    assert spec.with_overrides(s, data="iris").training.data == {"dataset": "iris", "options": {}}
    assert s.training.epochs == 3  # the original is untouched
    with pytest.raises(SpecError, match="spec.yaml: --epochs must be a positive int, got 0"):
        spec.with_overrides(s, epochs=0)


def test_load_training_data_from_files_and_data_sets(reg, tmp_path):
    np.savez(tmp_path / "train.npz", x=np.ones((6, 2, 2)), y=np.arange(6))
    s = spec.load_spec(_write(tmp_path, FRIENDLY))
    d = spec.load_training_data(s)
    assert d.x.shape == (6, 2, 2) and d.x_test is None and d.source.endswith("train.npz")
    d = spec.load_training_data(spec.with_overrides(s, data="toy"))
    assert d.x.shape == (4, 2) and d.x_test.shape == (2, 2) and d.source == "data set 'toy'"
    with pytest.raises(SpecError, match="spec.yaml: training.data: Unknown dataset: 'toyz'. Did you mean 'toy'"):
        spec.load_training_data(spec.with_overrides(s, data="toyz"))
    np.save(tmp_path / "x.npy", np.ones((3, 2)))
    with pytest.raises(DataError, match="holds inputs only"):
        spec.load_training_data(spec.with_overrides(s, data=str(tmp_path / "x.npy")))
    with pytest.raises(SpecError, match="spec.yaml: training.data is required"):
        spec.load_training_data(spec.parse_spec({"model": ["Flat"]}, source="spec.yaml"))


def test_prepare_targets(reg):
    cce = CategoricalCrossentropy()
    labels = np.array([0, 2, 1])
    np.testing.assert_array_equal(spec.prepare_targets(labels, cce, 4), np.eye(4)[[0, 2, 1]])
    assert spec.prepare_targets(labels, cce, 4).dtype == np.float32
    np.testing.assert_array_equal(spec.prepare_targets(labels, cce, None), np.eye(3)[[0, 2, 1]])
    with pytest.raises(DataError, match="Labels run from 0 to 2, but the model's output has 2 classes"):
        spec.prepare_targets(labels, cce, 2)

    class Sparse:
        sparse_targets = True

    assert spec.prepare_targets(labels, Sparse(), 3) is not None
    np.testing.assert_array_equal(spec.prepare_targets(labels, Sparse(), 3), labels)
    column = spec.prepare_targets(np.array([1.5, 2.5]), object(), 1)
    assert column.shape == (2, 1) and column.dtype == np.float32
    onehot = np.eye(3)[labels]
    assert spec.prepare_targets(onehot, cce, 3) is not None and spec.prepare_targets(onehot, cce, 3).shape == (3, 3)


def test_compile_model_with_builtin_components(tmp_path):
    pytest.importorskip("corelib.builtin.plugin")
    text = FRIENDLY.replace("Flat", "Flatten").replace("Scale: {factor: 2.0}", "Dense: {units: 3, activation: softmax}")
    s = spec.load_spec(_write(tmp_path, text))
    with use_registry(Registry(entry_points=False)):
        model = spec.build_model(s)
        spec.compile_model(model, s)
        assert model.metrics_names == ["loss", "accuracy"]
        bad = spec.with_overrides(s, optimizer="adamm")
        with pytest.raises(SpecError, match="spec.yaml: training.optimizer: .*'adamm'.*Did you mean 'adam'"):
            spec.compile_model(spec.build_model(bad), bad)
        no_loss = spec.parse_spec({"model": ["Flatten"]}, source="spec.yaml")
        with pytest.raises(SpecError, match="spec.yaml: training.loss is required"):
            spec.compile_model(spec.build_model(no_loss), no_loss)
