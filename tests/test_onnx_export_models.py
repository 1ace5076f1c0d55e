"""ONNX export of whole models (the repository's examples), its errors, the hook and `dl export`."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from corelib import Input, Layer, Model, Sequential, hookimpl, layers, spec  # noqa: E402
from corelib.errors import ConfigError, DLError, ExportError  # noqa: E402
from corelib.registry import Registry, use_registry  # noqa: E402

from _cli import dl_invoker, one_error_line  # noqa: E402
from _onnx import BATCH, check_export, randomize  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn", "digits_lstm", "digits_multihead", "digits_inception"])
def test_examples_round_trip(name, tmp_path):
    model = spec.build_model(spec.load_spec(EXAMPLES / f"{name}.yaml"))
    randomize(model)
    rng = np.random.default_rng(3)
    xs = [rng.uniform(0.0, 16.0, (BATCH, *t.shape[1:])).astype(np.float32) for t in model.inputs]
    check_export(model, tmp_path, xs)


class Doubler(Layer):
    """A layer no exporter knows."""

    def compute_output_shape(self, input_shape):
        return input_shape

    def forward(self, x, training=False):
        return 2 * x, lambda dy, need_input_grad=True: 2 * dy


class _Plugin:
    @hookimpl
    def register_layers(self, register):
        register(Doubler)


class _ExportingPlugin(_Plugin):
    @hookimpl
    def register_onnx_exporters(self, register):
        def doubler(ctx, layer, x):
            """Mul by 2."""
            return ctx.node("Mul", [x, ctx.constant(np.float32(2.0), f"{layer.name}/two")], layer.name)

        register(Doubler, doubler)


def _registry(plugin):
    reg = Registry(entry_points=False)
    reg.register_plugin(plugin, name="doubling")
    return reg


def test_layers_without_exporter_are_all_named_in_one_error(tmp_path):
    with use_registry(_registry(_Plugin())):
        model = Sequential([Input((3,)), Doubler(name="ctc_dense"), layers.Dense(2), Doubler(name="twice")])
        with pytest.raises(ExportError) as info:
            model.export(str(tmp_path / "m.onnx"), format="onnx")
    assert str(info.value) == (
        "cannot export to ONNX: layer 'ctc_dense' (Doubler), layer 'twice' (Doubler) have no ONNX exporter "
        "(a plugin adds one with the register_onnx_exporters hook)")
    assert isinstance(info.value, (DLError, ValueError))
    assert not list(tmp_path.iterdir())


def test_a_plugin_exporter_is_used_and_listed(tmp_path):
    with use_registry(_registry(_ExportingPlugin())) as reg:
        model = Sequential([Input((3,)), Doubler(), layers.Dense(2)])
        randomize(model)
        check_export(model, tmp_path, [np.ones((BATCH, 3), np.float32)])
        entry = reg.entry("onnx_exporters", "Doubler")
        assert (entry.plugin, entry.description) == ("doubling", "Mul by 2.")
        assert "Dense" in reg.names("onnx_exporter")


def test_a_padding_mask_that_a_layer_uses_is_refused(tmp_path):
    model = Sequential([Input((5,)), layers.Embedding(10, 3, mask_zero=True, name="emb"), layers.LSTM(2, name="rnn")])
    with pytest.raises(ExportError, match=r"layer 'emb' \(Embedding\) makes a padding mask .* layer 'rnn' \(LSTM\)"):
        model.export(str(tmp_path / "m.onnx"))
    unused = Sequential([Input((5,)), layers.Embedding(10, 3, mask_zero=True), layers.Flatten(), layers.Dense(2)])
    check_export(unused, tmp_path, [np.ones((BATCH, 5), np.float32)])


def test_options_onnx_cannot_express_are_refused(tmp_path):
    model = Sequential([Input((4, 4, 2)), layers.UpSampling2D(interpolation="bilinear", name="up")])
    with pytest.raises(ExportError, match=r"layer 'up' \(UpSampling2D\): interpolation='bilinear'"):
        model.export(str(tmp_path / "m.onnx"))


@pytest.mark.parametrize("build, message", [
    (lambda: Sequential([Input((8, 8, 2)), layers.Resizing(4, 4, name="rs")]), r"layer 'rs' \(Resizing\) has no ONNX"),
    (lambda: Sequential([Input((8, 8, 2)), layers.RandomCrop(4, 4, name="rc")]), r"layer 'rc' \(RandomCrop\) has no"),
    (lambda: _training_call(), r"layer 'dr' \(Dropout\): it is called with training=True"),
])
def test_layers_and_calls_without_an_inference_form_are_refused(tmp_path, build, message):
    with pytest.raises(ExportError, match=message):
        build().export(str(tmp_path / "m.onnx"))
    assert not (tmp_path / "m.onnx").exists()


def _training_call():
    x = Input((3,))
    return Model(x, layers.Dense(2)(layers.Dropout(0.5, name="dr")(x, training=True)))


def test_export_arguments_are_checked(tmp_path):
    model = Sequential([Input((3,)), layers.Dense(2)])
    with pytest.raises(ConfigError, match="supports 'onnx'"):
        model.export(str(tmp_path / "m"), format="tf_saved_model")
    with pytest.raises(ExportError, match="opset_version must be an int from 17 to 21"):
        model.export(str(tmp_path / "m.onnx"), opset_version=13)
    with pytest.raises(ConfigError, match="unexpected arguments"):
        model.export(str(tmp_path / "m.onnx"), dynamic_axes=True)
    with pytest.raises(ExportError, match="not built"):
        Sequential([layers.Dense(2)]).export(str(tmp_path / "m.onnx"))


def test_missing_onnx_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ExportError, match=r'pip install "dl\[onnx\]"'):
        Sequential([Input((3,)), layers.Dense(2)]).export(str(tmp_path / "m.onnx"))


# -- dl export ---------------------------------------------------------------------------------


@pytest.fixture
def model_file(tmp_path):
    model = Sequential([Input((4,)), layers.Dense(3, activation="relu"), layers.Dense(2)])
    randomize(model)
    path = tmp_path / "model.dl"
    model.save(str(path))
    return path, model


def test_cli_export_writes_a_model_that_runs(model_file, tmp_path):
    path, model = model_file
    result = dl_invoker()("export", path, "-o", tmp_path / "m.onnx")
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.stdout
    from _onnx import run_onnx

    x = np.random.default_rng(0).normal(size=(BATCH, 4)).astype(np.float32)
    (got,) = run_onnx(tmp_path / "m.onnx", [x])
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-5)


def test_cli_export_user_mistakes_exit_2_with_one_line(model_file, tmp_path):
    path, _ = model_file
    invoke = dl_invoker()
    assert "MODEL" in one_error_line(invoke("export", path, "-o", path)) and "same file" in \
        one_error_line(invoke("export", path, "-o", path))
    assert "does not exist" in one_error_line(invoke("export", path, "-o", tmp_path / "nowhere" / "m.onnx"))
    missing = one_error_line(invoke("export", tmp_path / "absent.dl", "-o", tmp_path / "m.onnx"))
    assert "absent.dl" in missing
    corrupt = tmp_path / "corrupt.dl"
    corrupt.write_bytes(b"not a zip file")
    assert "corrupt.dl" in one_error_line(invoke("export", corrupt, "-o", tmp_path / "m.onnx"))
    assert not (tmp_path / "m.onnx").exists()


def test_cli_export_refuses_a_read_only_folder_before_work(model_file, tmp_path, monkeypatch):
    """chmod where that works; as root (which writes anyway) the folder's temporary files raise EROFS."""
    import errno
    import os

    import dl_cli._paths

    path, _ = model_file
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:
        real = dl_cli._paths.tempfile.mkstemp

        def mkstemp(*args, dir=None, **kwargs):
            if dir is not None and os.path.abspath(dir) == str(folder):
                raise OSError(errno.EROFS, "Read-only file system", str(dir))
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(dl_cli._paths.tempfile, "mkstemp", mkstemp)
    folder.chmod(0o500)
    try:
        line = one_error_line(dl_invoker()("export", path, "-o", folder / "m.onnx"))
        assert "cannot write" in line and "m.onnx" in line
    finally:
        folder.chmod(0o700)
    assert not (folder / "m.onnx").exists()


def test_cli_export_names_an_unexportable_layer(tmp_path):
    with use_registry(_registry(_Plugin())):
        model = Sequential([Input((3,)), Doubler(name="twice")])
        model.save(str(tmp_path / "d.dl"))
        from click.testing import CliRunner
        from dl_cli.main import cli

        result = CliRunner().invoke(cli, ["export", str(tmp_path / "d.dl"), "-o", str(tmp_path / "d.onnx")])
    assert one_error_line(result) == ("Error: cannot export to ONNX: layer 'twice' (Doubler) has no ONNX exporter "
                                      "(a plugin adds one with the register_onnx_exporters hook)")
    assert not (tmp_path / "d.onnx").exists()


def test_a_multi_output_graph_round_trips_through_a_file(tmp_path):
    a = Input((4,), name="a")
    h = layers.Dense(3, activation="relu")(a)
    model = Model(a, [layers.Dense(2, name="y1")(h), layers.Dense(1, activation="sigmoid", name="y2")(h)])
    randomize(model)
    check_export(model, tmp_path, [np.random.default_rng(1).normal(size=(BATCH, 4)).astype(np.float32)])
