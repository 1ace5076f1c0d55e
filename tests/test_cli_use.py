"""`dl compose`, `dl evaluate`, `dl predict` and `dl summary` through click's CliRunner."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from corelib import config, layers, models
from dl_cli.main import cli

from _cli import dl_invoker, one_error_line

pytest.importorskip("corelib.builtin.plugin")


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return dl_invoker()


# -- compose ---------------------------------------------------------------------------------------------

def test_compose_prints_the_summary_and_writes_a_spec_dl_train_reads(run, tmp_path):
    result = run("compose", "Conv2D(4, 3, activation='relu')", "MaxPooling2D", "Flatten",
                 "Dense(3, activation='softmax')", "--input-shape", "6,6,1", "-o", "cnn.yaml", "--plot", "cnn.dot")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "conv2d (Conv2D)" in out and "(None, 4, 4, 4)" in out and "(None, 2, 2, 4)" in out and "(None, 3)" in out
    assert "Total params: 91" in out
    assert out.endswith("Drew the model to cnn.dot\nWrote the spec to cnn.yaml\n")
    assert (tmp_path / "cnn.dot").read_text().startswith('digraph "sequential"')
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.standard_normal((20, 6, 6, 1)), y=rng.integers(0, 3, 20))
    result = run("train", "cnn.yaml", "--data", "d.npz", "--loss", "sparse_categorical_crossentropy", "-q")
    assert result.exit_code == 0, result.output
    assert models.load_model("cnn.dl").count_params() == 91


def test_compose_without_output_prints_the_spec(run):
    result = run("compose", "Dense(2)", "--input-shape", "(3,)", "--name", "tiny")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith('name: "tiny"\nmodel:\n  - Dense: {units: 2, input_shape: [3]}\n')


def test_compose_draws_a_png_with_graphviz(run, tmp_path):
    if not __import__("shutil").which("dot"):
        pytest.skip("Graphviz's dot is not installed")
    result = run("compose", "Dense(2)", "--input-shape", "3", "--plot", "m.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args, expected", [
    (["Flatten", "Conv2D(16, 3)", "--input-shape", "8,8,1"],
     "Error: layer 2 'Conv2D(16, 3)': Layer 'conv2d' (Conv2D) cannot follow layer 'flatten' (Flatten): 'flatten' "
     "outputs shape (None, 64), but Conv2D 'conv2d' expects an input of rank 4 (batch, rows, cols, channels), "
     "received shape (None, 64)"),
    (["Dense(3, activation=__import__('os').getcwd())", "--input-shape", "4"],
     "Error: layer 1 \"Dense(3, activation=__import__('os').getcwd())\": only literal arguments are allowed"),
    (["Dense(3)", "--input-shape", "four"], "Error: --input-shape must be positive ints separated by commas"),
    (["Dense(3)"], "Error: layer 1 'Dense(3)': the first layer needs an input shape"),
    (["Dense(3)", "--input-shape", "4", "-o", "spec.txt"], "Error: -o/--output writes a .yaml, .yml or .json spec"),
    (["Dense(3)", "--input-shape", "4", "--plot", "m.jpg"], "Error: --plot writes a .png, .svg, .pdf or .dot file"),
    (["Dense(3)", "--input-shape", "4", "-o", "nowhere/spec.yaml"], "nowhere/spec.yaml: the directory"),
])
def test_compose_errors_exit_2_in_one_line_and_write_nothing(run, tmp_path, args, expected):
    (tmp_path / "spec.yaml").write_text("kept")
    result = run("compose", *args, "-o", "spec.yaml") if "-o" not in args else run("compose", *args)
    assert result.exit_code == 2
    assert expected in one_error_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]
    assert (tmp_path / "spec.yaml").read_text() == "kept"


# -- a trained model -------------------------------------------------------------------------------------

@pytest.fixture
def trained(tmp_path):
    """A trained single-input model file and its data; and a two-input, two-output model."""
    from corelib.layers.input_layer import Input

    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    config.set_seed(0)
    model = models.Sequential([layers.Dense(2, activation="softmax", input_shape=(4,))])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "m.dl")
    np.savez(tmp_path / "d.npz", x=x, y=y)
    a, b = Input((3,), name="a"), Input((2,), name="b")
    merged = layers.Concatenate()([layers.Dense(4, name="ha")(a), layers.Dense(4, name="hb")(b)])
    two = models.Model({"a": a, "b": b}, {"cls": layers.Dense(2, activation="softmax", name="cls")(merged),
                                          "reg": layers.Dense(1, name="reg")(merged)})
    two.compile(optimizer="sgd", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"})
    two.save(tmp_path / "two.dl")
    np.savez(tmp_path / "two.npz", x_a=x[:, :3], x_b=x[:, 3:] * np.ones((1, 2)), y_cls=y, y_reg=x[:, :1])
    return model, x, y


def test_evaluate_text_and_json(run, trained):
    model, x, y = trained
    expected = model.evaluate(x, y, verbose=0, return_dict=True)
    result = run("evaluate", "m.dl", "--data", "d.npz")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(f"d.npz (40 samples): loss: {expected['loss']:.4f} - accuracy: "
                                  f"{expected['accuracy']:.4f}\n")
    data = json.loads(run("evaluate", "m.dl", "--data", "d.npz", "--json").stdout)
    assert data["samples"] == 40 and data["metrics"] == pytest.approx(expected) and data["data"].endswith("d.npz")


def test_evaluate_a_csv_with_a_target_column(run, trained, tmp_path):
    model, x, y = trained
    rows = "\n".join(",".join([str(int(t))] + [repr(float(v)) for v in row]) for row, t in zip(x, y))
    (tmp_path / "d.csv").write_text("label,a,b,c,d\n" + rows + "\n")
    result = run("evaluate", "m.dl", "--data", "d.csv", "--target", "label", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metrics"]["loss"] == pytest.approx(
        model.evaluate(x, y, verbose=0, return_dict=True)["loss"], rel=1e-6)


def test_evaluate_and_predict_models_with_named_inputs_and_outputs(run, trained, tmp_path):
    result = run("evaluate", "two.dl", "--data", "two.npz", "--json")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["metrics"]) == {"loss", "cls_loss", "reg_loss"}
    result = run("predict", "two.dl", "two.npz", "-o", "p.npz")
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "p.npz") as p:
        assert p["cls"].shape == (40, 2) and p["reg"].shape == (40, 1)
    result = run("predict", "two.dl", "two.npz", "-o", "p.npy")
    assert result.exit_code == 2 and "the model has 2 outputs ['cls', 'reg']; write them to a .npz" in result.stderr
    result = run("evaluate", "two.dl", "--data", "d.npz")
    assert result.exit_code == 2
    assert "d.npz: has one x array, but the model has 2 inputs ['a', 'b']" in one_error_line(result)


def test_predict_from_npy_npz_and_csv(run, trained, tmp_path):
    model, x, _ = trained
    want = model.predict(x, verbose=0)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "x.csv").write_text("a,b,c,d\n" + "\n".join(",".join(repr(float(v)) for v in r) for r in x) + "\n")
    for source in ("x.npy", "d.npz", "x.csv"):
        result = run("predict", "m.dl", source, "-o", "out.npy", "--batch-size", "7")
        assert result.exit_code == 0, result.output
        assert result.stdout == "Wrote predictions for 40 samples to out.npy: dense (40, 2)\n"
        np.testing.assert_allclose(np.load(tmp_path / "out.npy"), want, rtol=1e-6)


def test_predict_errors_leave_the_output_alone(run, trained, tmp_path):
    (tmp_path / "out.npy").write_bytes(b"old predictions")
    np.save(tmp_path / "wide.npy", np.ones((3, 5)))
    cases = [
        (["wide.npy"], "wide.npy: x has samples of shape (5,), but the model's input takes (4,)"),
        (["missing.npy"], "missing.npy: file not found"),
        (["d.npz", "--batch-size", "0"], "Invalid value for '--batch-size'"),
        (["nope.dl", "d.npz"], None),
    ]
    for args, expected in cases:
        model_args = ["m.dl"] if args[0] != "nope.dl" else []
        result = run("predict", *model_args, *args, "-o", "out.npy")
        assert result.exit_code == 2, result.output
        if expected:
            assert expected in result.stderr
        assert (tmp_path / "out.npy").read_bytes() == b"old predictions"
    result = run("predict", "m.dl", "d.npz", "-o", "out.csv")
    assert result.exit_code == 2 and "-o/--output writes a .npy or .npz file" in result.stderr


def test_summary_of_a_model_file_and_of_a_spec(run, trained, tmp_path):
    result = run("summary", "m.dl")
    assert result.exit_code == 0 and "dense (Dense)" in result.stdout and "Total params: 10" in result.stdout
    (tmp_path / "s.yaml").write_text("model: [Flatten, {Dense: {units: 3}}]\n")
    result = run("summary", "s.yaml")
    assert result.exit_code == 2
    assert one_error_line(result) == ("Error: s.yaml: the first layer has no input_shape; pass --input-shape "
                                      "(e.g. 8,8,1)")
    result = run("summary", "s.yaml", "--input-shape", "2,2")
    assert result.exit_code == 0 and "(None, 4)" in result.stdout and "Total params: 15" in result.stdout
    result = run("summary", "d.npz")
    assert result.exit_code == 2 and "d.npz" in one_error_line(result)


def test_evaluate_an_uncompiled_model_is_refused(run, tmp_path):
    model = models.Sequential([layers.Dense(2, input_shape=(4,))])
    model.save(tmp_path / "raw.dl")
    np.savez(tmp_path / "d.npz", x=np.ones((3, 4)), y=np.ones((3, 2)))
    result = run("evaluate", "raw.dl", "--data", "d.npz")
    assert result.exit_code == 2 and "saved without a loss (not compiled)" in one_error_line(result)


def test_predict_decodes_ctc_outputs_into_label_sequences(tmp_path):
    import numpy as np

    from corelib import Input, layers, losses, models

    x_in = Input(shape=(6, 3))
    model = models.Model(x_in, layers.Dense(4, activation="softmax")(x_in))
    model.compile(optimizer="sgd", loss=losses.get({"class_name": "CTC", "config": {"blank_index": 3}}))
    model.save(tmp_path / "ctc.dl")
    x = np.random.default_rng(0).standard_normal((5, 6, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = CliRunner().invoke(cli, ["predict", str(tmp_path / "ctc.dl"), str(tmp_path / "x.npy"),
                                      "-o", str(tmp_path / "labels.npy"), "--decode", "ctc"])
    assert result.exit_code == 0, result.output
    labels = np.load(tmp_path / "labels.npy")
    best = model.predict(x, verbose=0).argmax(-1)
    for row, path in zip(labels, best):
        merged = [c for i, c in enumerate(path) if c != 3 and (i == 0 or c != path[i - 1])]
        assert list(row[row >= 0]) == merged and np.all(row[len(merged):] == -1)
    plain = models.Sequential([layers.Dense(2, input_shape=(3,))])
    plain.compile(optimizer="sgd", loss="mse")
    plain.save(tmp_path / "plain.dl")
    np.save(tmp_path / "x2.npy", x[:, 0])
    result = CliRunner().invoke(cli, ["predict", str(tmp_path / "plain.dl"), str(tmp_path / "x2.npy"),
                                      "-o", str(tmp_path / "out.npy"), "--decode", "ctc"])
    assert result.exit_code == 2 and "needs a one-output model trained with the CTC loss" in result.stderr
    assert not (tmp_path / "out.npy").exists()
