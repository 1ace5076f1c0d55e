"""The model file: exact round trips, atomic writes, and files that must be refused."""

import io
import json
import os
import sys
import zipfile

import numpy as np
import pytest

import corelib
from corelib import ModelFileError, UnknownComponentError, layers, models


def trained_model(blobs, optimizer="adam"):
    x, y = blobs
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(4,), kernel_regularizer="l2"),
                               layers.Dropout(0.2), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return model


def test_round_trip_is_exact_and_keeps_the_compile_settings(tmp_path, blobs):
    x, y = blobs
    model = trained_model(blobs)
    path = tmp_path / "m.dl"
    model.save(path)
    loaded = models.load_model(path)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert loaded.get_config() == model.get_config()
    assert loaded.metrics_names == ["loss", "accuracy"]
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


def test_training_continues_exactly_after_save_and_load(tmp_path, blobs):
    x, y = blobs
    model = trained_model(blobs)
    model.save(tmp_path / "m.dl")
    loaded = models.load_model(tmp_path / "m.dl")
    for m in (model, loaded):
        corelib.set_seed(99)
        m.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_file_records_registered_names_and_plugins(tmp_path, blobs):
    model = trained_model(blobs)
    model.save(tmp_path / "m.dl")
    with zipfile.ZipFile(tmp_path / "m.dl") as zf:
        assert sorted(zf.namelist()) == ["config.json", "optimizer.npz", "weights.npz"]
        doc = json.loads(zf.read("config.json"))
    assert doc["format"] == "dl-model" and doc["format_version"] == 1
    first = doc["model"]["config"]["layers"][0]
    assert first["class_name"] == "Dense" and first["plugin"] == "dl"


def test_save_without_optimizer(tmp_path, blobs):
    trained_model(blobs).save(tmp_path / "m.dl", include_optimizer=False)
    with zipfile.ZipFile(tmp_path / "m.dl") as zf:
        assert "optimizer.npz" not in zf.namelist()
    assert models.load_model(tmp_path / "m.dl").compiled


def test_a_failed_save_leaves_no_file_and_keeps_the_old_one(tmp_path, blobs, monkeypatch):
    model = trained_model(blobs)
    path = tmp_path / "m.dl"
    path.write_bytes(b"previous contents")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(corelib.saving.model_file, "npz_bytes", boom)
    with pytest.raises(RuntimeError):
        model.save(path)
    assert path.read_bytes() == b"previous contents"
    assert os.listdir(tmp_path) == ["m.dl"]


def _rewrite(src, dst, replace=None, extra=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if replace and name in replace:
                data = replace[name](data)
                if data is None:
                    continue
            zout.writestr(name, data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)


def _config_edit(fn):
    def edit(data):
        doc = json.loads(data)
        fn(doc)
        return json.dumps(doc).encode()
    return edit


def _npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.fixture
def saved(tmp_path, blobs):
    path = tmp_path / "good.dl"
    trained_model(blobs).save(path)
    return path


def _pickled_weights(data):
    with np.load(io.BytesIO(data)) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["dense/kernel"] = np.array([{"evil": 1}], dtype=object)
    return _npz(**arrays)


CASES = {
    "unknown format version": dict(replace={"config.json": _config_edit(lambda d: d.update(format_version=99))}),
    "not a dl config": dict(replace={"config.json": _config_edit(lambda d: d.pop("format"))}),
    "config is not json": dict(replace={"config.json": lambda d: b"{not json"}),
    "missing weights": dict(replace={"weights.npz": lambda d: None}),
    "pickle in weights": dict(replace={"weights.npz": _pickled_weights}),
    "path traversal entry": dict(extra={"../evil.py": b"print('x')"}),
    "module path as layer": dict(replace={"config.json": _config_edit(
        lambda d: d["model"]["config"]["layers"][0].update(class_name="os.system"))}),
    "unknown model class": dict(replace={"config.json": _config_edit(
        lambda d: d["model"].update(class_name="subprocess.Popen"))}),
    "weights shape contradicts config": dict(replace={"config.json": _config_edit(
        lambda d: d["model"]["config"]["layers"][0]["config"].update(units=9))}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_crafted_files_are_refused_with_one_line_errors(case, saved, tmp_path):
    bad = tmp_path / "bad.dl"
    _rewrite(saved, bad, **CASES[case])
    before = set(os.listdir(tmp_path))
    modules = set(sys.modules)
    with pytest.raises((ModelFileError, UnknownComponentError)) as info:
        models.load_model(bad)
    message = str(info.value)
    assert "\n" not in message and str(bad) in message
    assert set(os.listdir(tmp_path)) == before
    assert not {"subprocess", "evil"} & (set(sys.modules) - modules)


def test_truncated_and_non_zip_files_are_refused(saved, tmp_path):
    data = saved.read_bytes()
    (tmp_path / "trunc.dl").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.dl").write_text("hello")
    for name in ("trunc.dl", "text.dl", "missing.dl"):
        with pytest.raises(ModelFileError, match=name):
            models.load_model(tmp_path / name)


def test_missing_plugin_is_named(saved, tmp_path):
    bad = tmp_path / "plugin.dl"

    def edit(doc):
        layer = doc["model"]["config"]["layers"][0]
        layer.update(class_name="FancyDense", plugin="dl-fancy", plugin_version="2.1")

    _rewrite(saved, bad, replace={"config.json": _config_edit(edit)})
    with pytest.raises(UnknownComponentError, match=r"'FancyDense' from plugin 'dl-fancy' 2.1 is not installed"):
        models.load_model(bad)


def test_oversized_weights_entry_is_refused_before_reading(saved, tmp_path):
    bad = tmp_path / "bomb.dl"
    big = _npz(pad=np.zeros(4 * 2**20, np.uint8))
    _rewrite(saved, bad, replace={"weights.npz": lambda d: big})
    with pytest.raises(ModelFileError, match="weights do not match the model config"):
        models.load_model(bad)


def test_compile_components_record_their_providing_plugin(tmp_path, blobs):
    trained_model(blobs).save(tmp_path / "m.dl")
    with zipfile.ZipFile(tmp_path / "m.dl") as zf:
        providers = json.loads(zf.read("config.json"))["compile"]["providers"]
    assert providers["optimizers/Adam"][0] == "dl"
    assert providers["losses/SparseCategoricalCrossentropy"] == ["dl", corelib.__version__]
    assert any(key.startswith("metrics/") for key in providers)


def test_a_file_names_its_plugin_when_two_plugins_claim_a_layer_name(tmp_path):
    from corelib import hookimpl
    from corelib.builtin.layers.dense import Dense
    from corelib.registry import Registry, use_registry

    class OtherDense(Dense):
        """A second plugin's Dense."""

    class Other:
        @hookimpl
        def register_layers(self, register):
            register(OtherDense, name="Dense")

    model = models.Sequential([layers.Dense(3, input_shape=(2,))])
    model.save(tmp_path / "m.dl")
    registry = Registry(entry_points=False)
    registry.register_plugin(Other(), name="dl-other", version="1.0")
    with use_registry(registry), pytest.warns(Warning, match="registered by two plugins"):
        loaded = models.load_model(tmp_path / "m.dl")
    assert type(loaded.layers[0]) is Dense  # the file was saved with plugin "dl"


def test_saved_files_get_the_usual_permissions(tmp_path, blobs):
    import stat

    old = os.umask(0o022)
    try:
        trained_model(blobs).save(tmp_path / "m.dl")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.dl").st_mode) == 0o644
