"""Keras 3 files dl refuses, and never runs (issue 17, item 2): Lambda layers, custom objects,
unknown classes, settings dl cannot honour, corrupt archives; and `load_weights` of Keras's
`.weights.h5` into an existing dl model.

Every refusal is one line (a ModelFileError) naming the file and the layer, class or entry.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from corelib import layers, models
from corelib.errors import ModelFileError
from corelib.models import load_model
from _cli import dl_invoker, one_error_line

pytest.importorskip("h5py")
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(scope="module")
def K(keras):
    keras.config.set_floatx("float32")
    return keras


def refusal(path) -> str:
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def rewrite(src, dst, edit_config=None, entries=None):
    """Copy a .keras archive, with config.json passed through `edit_config` and entries replaced."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "config.json" and edit_config is not None:
                config = json.loads(data)
                edit_config(config)
                data = json.dumps(config).encode()
            if entries and name in entries:
                data = entries.pop(name)
                if data is None:
                    continue
            zout.writestr(name, data)
        for name, data in (entries or {}).items():
            zout.writestr(name, data)
    return dst


@pytest.fixture(scope="module")
def small(K, tmp_path_factory):
    """A saved Sequential Dense model."""
    path = tmp_path_factory.mktemp("keras") / "small.keras"
    K.Sequential([K.Input((3,)), K.layers.Dense(4, name="hidden"), K.layers.Dense(2, name="out")]).save(path)
    return path


# -- code in the file never runs ---------------------------------------------------------------


def test_lambda_is_refused_and_never_runs(K, tmp_path):
    marker = tmp_path / "marker"

    def touch(x):
        open(marker, "w").close()  # what a malicious Lambda would do on load
        return x

    inp = K.Input((3,))
    m = K.Model(inp, K.layers.Dense(2)(K.layers.Lambda(touch, name="evil")(inp)))
    m.save(tmp_path / "lambda.keras")
    marker.unlink()  # Keras ran it while building
    message = refusal(tmp_path / "lambda.keras")
    assert "'evil' (Lambda)" in message and "never runs" in message
    assert not marker.exists()


def test_custom_object_is_refused_by_name(K, tmp_path):
    @K.saving.register_keras_serializable(package="evilpkg")
    class Doubler(K.layers.Layer):
        def call(self, x):
            return 2 * x

    inp = K.Input((3,))
    K.Model(inp, Doubler(name="doubler")(inp)).save(tmp_path / "custom.keras")
    message = refusal(tmp_path / "custom.keras")
    assert "'doubler' (Doubler)" in message and "evilpkg>Doubler" in message


def test_module_fields_are_never_imported(small, tmp_path, monkeypatch):
    import sys

    def edit(config):
        layer = config["config"]["layers"][1]
        layer["module"] = "evil_module_never_imported"
        layer["class_name"] = "Evil"
        layer["registered_name"] = "evil_module_never_imported>Evil"

    message = refusal(rewrite(small, tmp_path / "evil.keras", edit))
    assert "dl has no layer 'Evil'" in message
    assert "evil_module_never_imported" not in sys.modules


def test_unknown_layer_class_is_refused(small, tmp_path):
    def edit(config):
        config["config"]["layers"][1]["class_name"] = "ConvLSTM3D"

    message = refusal(rewrite(small, tmp_path / "unknown.keras", edit))
    assert "layer 'hidden' (ConvLSTM3D): dl has no layer 'ConvLSTM3D'" in message


@pytest.mark.parametrize("key,value,expected", [
    ("kernel_constraint", {"module": "keras.constraints", "class_name": "NonNeg", "config": {}},
     "kernel_constraint"),
    ("activity_regularizer", {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.1}},
     "activity_regularizer"),
    ("dtype", {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "mixed_float16"}},
     "mixed_float16"),
    ("frobnicate", 3, "frobnicate=3"),
])
def test_settings_dl_cannot_honour_are_refused(small, tmp_path, key, value, expected):
    def edit(config):
        config["config"]["layers"][1]["config"][key] = value

    message = refusal(rewrite(small, tmp_path / "setting.keras", edit))
    assert "layer 'hidden' (Dense)" in message and expected in message


def test_a_regularizer_is_kept(small, tmp_path):
    def edit(config):
        config["config"]["layers"][1]["config"]["kernel_regularizer"] = {
            "module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.25}}

    model = load_model(rewrite(small, tmp_path / "reg.keras", edit))
    assert model.get_layer("hidden").kernel_regularizer is not None


@pytest.mark.parametrize("damage,expected", [
    (lambda p: p.write_bytes(b"not a zip at all"), "not a readable zip"),
    (lambda p: p.write_bytes(p.read_bytes()[:200]), "not a readable zip"),
    (lambda p: rewrite(p.with_suffix(".orig"), p, entries={"model.weights.h5": None}), "no model.weights.h5"),
    (lambda p: rewrite(p.with_suffix(".orig"), p, entries={"config.json": b"{nope"}), "config.json is corrupt"),
    (lambda p: rewrite(p.with_suffix(".orig"), p, entries={"model.weights.h5": b"\x89HDF\r\n\x1a\n" + b"0" * 64}),
     "model.weights.h5 is corrupt"),
    (lambda p: rewrite(p.with_suffix(".orig"), p, entries={"../x.py": b"print(1)"}), "unsafe path"),
    (lambda p: rewrite(p.with_suffix(".orig"), p, entries={"assets/vocab.txt": b"a"}), "unexpected entry"),
])
def test_corrupt_archive_gives_one_line(small, tmp_path, damage, expected):
    path = tmp_path / "bad.keras"
    path.with_suffix(".orig").write_bytes(small.read_bytes())
    path.write_bytes(small.read_bytes())
    damage(path)
    assert expected in refusal(path)


def test_weights_of_another_shape_are_refused(small, tmp_path):
    def edit(config):
        config["config"]["layers"][1]["config"]["units"] = 5

    message = refusal(rewrite(small, tmp_path / "shape.keras", edit))
    assert "layer 'hidden' (Dense" in message and "[3, 4]" in message


def test_summary_of_a_bad_archive_exits_2_with_one_line(small, tmp_path):
    bad = rewrite(small, tmp_path / "bad.keras", lambda c: c["config"]["layers"][1].update(class_name="Lambda"))
    line = one_error_line(dl_invoker()("summary", bad))
    assert "'hidden' (Lambda)" in line


def test_uncompilable_compile_config_warns_and_loads(K, tmp_path):
    m = K.Sequential([K.Input((3,)), K.layers.Dense(2)])
    m.compile(optimizer=K.optimizers.Adam(use_ema=True), loss="mse")
    m.save(tmp_path / "ema.keras")
    with pytest.warns(UserWarning, match="uncompiled.*use_ema"):
        model = load_model(tmp_path / "ema.keras")
    assert not model.compiled
    assert not load_model(tmp_path / "ema.keras", compile=False).compiled


# -- load_weights(".weights.h5") ---------------------------------------------------------------


def test_load_weights_from_keras_weights_file(K, tmp_path):
    rng = np.random.default_rng(0)
    km = K.Sequential([K.Input((4,)), K.layers.Dense(3, activation="relu"), K.layers.BatchNormalization(),
                       K.layers.Dense(2)])
    for v in km.weights:
        v.assign(np.abs(rng.normal(size=v.shape)).astype("float32") + 0.1)
    km.save_weights(tmp_path / "w.weights.h5")
    model = models.Sequential([layers.InputLayer(shape=(4,)), layers.Dense(3, activation="relu"),
                               layers.BatchNormalization(), layers.Dense(2)])
    model.load_weights(tmp_path / "w.weights.h5")
    x = rng.normal(size=(5, 4)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), km.predict(x, verbose=0), rtol=1e-5, atol=1e-5)

    other = models.Sequential([layers.InputLayer(shape=(4,)), layers.Dense(3), layers.Dense(2)])
    with pytest.raises(ModelFileError, match="layers/batch_normalization.*which no layer"):
        other.load_weights(tmp_path / "w.weights.h5")
    wider = models.Sequential([layers.InputLayer(shape=(4,)), layers.Dense(5), layers.BatchNormalization(),
                               layers.Dense(2)])
    before = [w.copy() for w in wider.get_weights()]
    with pytest.raises(ModelFileError, match=r"'/layers/dense/vars/0' is float32\[4, 3\] in the file, but layer "
                       r"'dense\w*' \(Dense, 'layers/dense'\) has kernel float32\[4, 5\]"):
        wider.load_weights(tmp_path / "w.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(before, wider.get_weights()))  # nothing written
