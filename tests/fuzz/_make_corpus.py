"""Write the binary seed files of the fuzz corpus: small real model files, .npz and .npy data.

    python tests/fuzz/_make_corpus.py      # rewrites tests/fuzz/corpus/{model,data,weights}/*.bin|npz|npy|...

The Keras seeds (.keras archives in model/, .weights.h5 in weights/) need Keras 3 and torch.

The text seeds (.yaml, .json, .csv, .txt) are written by hand. Model seeds end in .bin (not
.dl, which .gitignore leaves out); load_model reads any name.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"


def _models() -> None:
    from corelib import config, layers as L
    from corelib.layers.base import reset_name_counters
    from corelib.models import Model, Sequential

    folder = CORPUS / "model"
    config.set_seed(0)
    reset_name_counters()
    mlp = Sequential([L.Dense(3, activation="relu", input_shape=(4,)), L.Dense(2, activation="softmax")], name="mlp")
    mlp.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    mlp.fit(np.zeros((4, 4), np.float32), np.eye(2, dtype=np.float32)[[0, 1, 0, 1]], epochs=1, verbose=0)
    mlp.save(folder / "mlp_adam.bin")

    a, b = L.Input((3,), name="a"), L.Input((2,), name="b")
    out = L.Dense(1, name="out")(L.Concatenate()([L.Dense(2)(a), b]))
    two = Model([a, b], out, name="two_inputs")
    two.compile(optimizer="sgd", loss="mse")
    two.save(folder / "two_inputs_sgd.bin")

    rnn = Sequential([L.Embedding(10, 3, input_shape=(4,)), L.LSTM(2), L.Dense(1)], name="rnn")
    rnn.save(folder / "embedding_lstm.bin")

    conv = Sequential([L.Conv2D(2, 3, input_shape=(5, 5, 1)), L.BatchNormalization(), L.Flatten(), L.Dense(1)])
    conv.save(folder / "conv_bn.bin")
    (folder / "not_a_zip.bin").write_bytes(b"PK\x03\x04" + b"\x00" * 26)


def _data() -> None:
    folder = CORPUS / "data"
    rng = np.random.default_rng(0)

    def npz(name: str, **arrays: np.ndarray) -> None:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        (folder / name).write_bytes(buf.getvalue())

    def npy(name: str, array: np.ndarray, allow_pickle: bool = False) -> None:
        buf = io.BytesIO()
        np.save(buf, array, allow_pickle=allow_pickle)
        (folder / name).write_bytes(buf.getvalue())

    npz("valid.npz", x=rng.standard_normal((4, 3)).astype(np.float32), y=np.array([0, 1, 2, 1]))
    npz("named.npz", x_a=np.ones((3, 2)), x_b=np.zeros((3, 1, 2)), y_out=np.array([0.5, 1.0, 2.0]))
    npz("uint64_targets.npz", x=np.ones((2, 2)), y=np.array([2**64 - 1, 1], dtype=np.uint64))
    npz("mismatched.npz", x=np.ones((3, 2)), y=np.ones(2))
    buf = io.BytesIO()
    np.savez_compressed(buf, x=np.arange(6.0).reshape(3, 2), y=np.array([True, False, True]))
    (folder / "compressed_bool.npz").write_bytes(buf.getvalue())
    npy("valid.npy", rng.standard_normal((3, 2, 2)))
    npy("float16.npy", np.array([[1.0, 65504.0]], dtype=np.float16))
    npy("big_float64.npy", np.array([[1e300, 1.0]]))
    npy("object.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    npy("structured.npy", np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]))
    npy("scalar.npy", np.float64(3.0))
    npy("empty.npy", np.zeros((0, 3)))
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000, 100000), }"
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    (folder / "huge_header.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("x.npy", (folder / "huge_header.npy").read_bytes())
        zf.writestr("y.npy", (folder / "valid.npy").read_bytes())
    (folder / "huge_header.npz").write_bytes(inner.getvalue())


def _weights() -> None:
    """Weights files for `_targets.weights_model()`: dl's safetensors (with its index, and matched by
    key without it), and Keras 3's .weights.h5 of the same layers; and Keras archives for model/."""
    import os

    sys.path.insert(0, str(HERE))
    from _targets import weights_model
    from safetensors.numpy import save_file

    folder = CORPUS / "weights"
    folder.mkdir(exist_ok=True)
    model = weights_model()
    model.save_weights(folder / "dl.safetensors")
    save_file({p.path: p.value for p in model.weights}, str(folder / "by_key.safetensors"))
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    K = keras.layers
    kmodel = keras.Sequential([keras.Input((4,)), K.Dense(3, activation="relu"), K.Dense(2)])
    kmodel.save_weights(folder / "keras.weights.h5")
    (folder / "keras.weights.h5").rename(folder / "keras.h5")
    kmodel.save(CORPUS / "model" / "keras_sequential.keras")
    (CORPUS / "model" / "keras_sequential.keras").rename(CORPUS / "model" / "keras_sequential.bin")
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    out = K.Dense(1, name="out")(K.Concatenate()([K.LSTM(2)(K.Reshape((3, 1))(a)), b]))
    keras.Model([a, b], out).save(CORPUS / "model" / "keras_functional.keras")
    (CORPUS / "model" / "keras_functional.keras").rename(CORPUS / "model" / "keras_functional.bin")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent.parent))
    if sys.argv[1:] != ["--weights-only"]:
        _models()
        _data()
    _weights()
