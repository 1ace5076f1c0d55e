"""Issue 17's "done when": every format round-trips the examples of examples/ (MLP, CNN, LSTM,
the multi-head and inception graphs), one chain per example, each link against Keras 3's own
predictions (max |diff| <= 1e-5 * max(1, |keras|), float32):

    Keras model, the example's architecture at the spec's sizes, random weights
      -> .keras -> dl load_model                                   (Keras import)
      -> dl model file -> dl export -> onnxruntime                 (ONNX)
      -> save_weights .safetensors -> the model built from the example's spec
         -> load_weights                                           (safetensors)
      -> the Keras model's model.weights.h5 -> load_weights        (Keras weights file)
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from corelib import spec
from corelib.models import load_model

pytest.importorskip("h5py")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("safetensors")
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def keras_example(K, name: str):
    """The example's architecture in Keras, at the sizes its spec gives."""
    L = K.layers
    if name == "digits_mlp":
        return K.Sequential([K.Input((8, 8, 1)), L.Flatten(), L.Dense(64, activation="relu"), L.Dropout(0.1),
                             L.Dense(10, activation="softmax")])
    if name == "digits_cnn":
        return K.Sequential([K.Input((8, 8, 1)), L.Conv2D(32, 3, padding="same", activation="relu"),
                             L.BatchNormalization(momentum=0.9), L.Conv2D(32, 3, padding="same", activation="relu"),
                             L.MaxPooling2D(2), L.Conv2D(64, 3, padding="same", activation="relu"),
                             L.BatchNormalization(momentum=0.9), L.MaxPooling2D(2), L.Flatten(), L.Dropout(0.3),
                             L.Dense(10, activation="softmax")])
    if name == "digits_lstm":
        return K.Sequential([K.Input((8, 8, 1)), L.Reshape((8, 8)), L.LSTM(64), L.Dense(10, activation="softmax")])
    pixels = K.Input((8, 8, 1), name="pixels")
    if name == "digits_multihead":
        trunk = L.Dense(64, activation="relu", name="trunk")(L.Flatten(name="flat")(pixels))
        return K.Model(pixels, [L.Dense(10, activation="softmax", name="digit")(trunk),
                                L.Dense(1, activation="sigmoid", name="even")(trunk)], name=name)
    stem = L.Conv2D(16, 3, padding="same", activation="relu", name="stem")(pixels)
    a = L.Conv2D(16, 1, padding="same", activation="relu", name="branch_1x1")(stem)
    b = L.Conv2D(8, 1, padding="same", activation="relu", name="branch_3x3_reduce")(stem)
    b = L.Conv2D(16, 3, padding="same", activation="relu", name="branch_3x3")(b)
    c = L.MaxPooling2D(3, strides=1, padding="same", name="branch_pool")(stem)
    c = L.Conv2D(8, 1, padding="same", activation="relu", name="branch_pool_proj")(c)
    x = L.MaxPooling2D(2, name="pool")(L.Concatenate(axis=-1, name="inception")([a, b, c]))
    x = L.Dense(64, activation="relu", name="hidden")(L.Flatten(name="flat")(x))
    return K.Model(pixels, L.Dense(10, activation="softmax", name="digit")(L.Dropout(0.2, name="dropout")(x)),
                   name=name)


def as_list(y) -> list[np.ndarray]:
    if isinstance(y, dict):
        return [np.asarray(y[k]) for k in sorted(y)]
    return [np.asarray(v) for v in y] if isinstance(y, (list, tuple)) else [np.asarray(y)]


def assert_matches(got, want, what: str) -> None:
    assert len(got) == len(want), what
    for g, w in zip(got, want):
        assert g.shape == w.shape, f"{what}: shape {g.shape} != {w.shape}"
        err = float(np.max(np.abs(g.astype(np.float64) - w)))
        assert err <= 1e-5 * max(1.0, float(np.max(np.abs(w)))), f"{what}: max difference {err:.3g}"


@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn", "digits_lstm", "digits_multihead", "digits_inception"])
def test_every_format_round_trips_the_example(keras, tmp_path, name):
    import onnxruntime as ort
    from click.testing import CliRunner

    from dl_cli.main import cli

    keras.config.set_floatx("float32")
    kmodel = keras_example(keras, name)
    rng = np.random.default_rng(0)
    for v in kmodel.weights:
        value = rng.normal(0, 0.3, v.shape).astype("float32")
        v.assign(np.abs(value) + 0.5 if "variance" in v.path else value)
    x = rng.normal(size=(5, 8, 8, 1)).astype("float32")
    want = as_list(kmodel.predict(x, verbose=0))
    kmodel.save(tmp_path / "m.keras")

    model = load_model(tmp_path / "m.keras")  # Keras import
    assert_matches(as_list(model.predict(x, verbose=0)), want, ".keras in dl")

    model.save(tmp_path / "m.dl")  # ONNX, from the shell, of the imported model's dl file
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "m.dl"), "-o", str(tmp_path / "m.onnx")])
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {session.get_inputs()[0].name: x})
    order = [model.output_names.index(n) for n in sorted(model.output_names)]  # as_list sorts dict outputs
    assert_matches([onnx_out[i] for i in order] if len(onnx_out) > 1 else onnx_out, want, "ONNX")

    model.save_weights(tmp_path / "w.safetensors")  # safetensors into the model the spec builds
    from_spec = spec.build_model(spec.load_spec(EXAMPLES / f"{name}.yaml"))
    from_spec.load_weights(tmp_path / "w.safetensors")
    assert_matches(as_list(from_spec.predict(x, verbose=0)), want, "safetensors into the spec's model")

    with zipfile.ZipFile(tmp_path / "m.keras") as zf:  # Keras's weights file into the spec's model
        (tmp_path / "m.weights.h5").write_bytes(zf.read("model.weights.h5"))
    fresh = spec.build_model(spec.load_spec(EXAMPLES / f"{name}.yaml"))
    fresh.load_weights(tmp_path / "m.weights.h5")
    assert_matches(as_list(fresh.predict(x, verbose=0)), want, ".weights.h5 into the spec's model")
