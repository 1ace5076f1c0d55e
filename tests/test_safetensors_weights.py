"""Weights in safetensors (`save_weights("w.safetensors")` / `load_weights`): they round-trip the
examples in dl, and loaded into the equivalent torch modules (the mapping docs/interop.md gives)
they give dl's predictions to 1e-5; bad files are refused with one line, before any weight changes."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from corelib import layers, models, spec
from corelib.errors import ModelFileError

pytest.importorskip("safetensors")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NAMES = ["digits_mlp", "digits_cnn", "digits_lstm", "digits_multihead", "digits_inception"]


def example(name: str, seed: int = 0):
    """The example's model with random weights (positive variances), so nothing matches by accident."""
    model = spec.build_model(spec.load_spec(EXAMPLES / f"{name}.yaml"))
    rng = np.random.default_rng(seed)
    model.set_weights([(np.abs(rng.standard_normal(w.shape)) + 0.5 if p.name == "moving_variance"
                        else rng.standard_normal(w.shape) * 0.3).astype(w.dtype)
                       for p, w in zip(model.weights, model.get_weights())])
    return model


def images(n: int = 7) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, 8, 8, 1)).astype(np.float32)


def outputs(model, x) -> list[np.ndarray]:
    y = model.predict(x, verbose=0)
    return [y[k] for k in model.output_names] if isinstance(y, dict) else list(y) if isinstance(y, list) else [y]


@pytest.mark.parametrize("name", NAMES)
def test_the_examples_round_trip_through_safetensors(tmp_path, name):
    model, fresh = example(name, 0), example(name, 1)
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    assert path.read_bytes()[8:9] == b"{"  # a safetensors header, not a zip
    fresh.load_weights(path)
    for a, b in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(outputs(model, images()), outputs(fresh, images())):
        np.testing.assert_array_equal(a, b)


# -- into torch -----------------------------------------------------------------------------------

torch = pytest.importorskip("torch")
nn = torch.nn


class NHWC(nn.Module):
    """dl's channels_last tensors through a torch module that takes NCHW."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


def torch_layer(layer, tensors: dict):
    """The torch module equal to a dl layer, its weights from the safetensors file's tensors."""
    kind, cfg = type(layer).__name__, layer.get_config()

    def w(name):
        return tensors[f"{layer.name}/{name}"]

    act = {"relu": nn.ReLU(), "softmax": nn.Softmax(-1), "sigmoid": nn.Sigmoid(), "linear": nn.Identity(),
           None: nn.Identity()}
    if kind == "Dense":
        lin = nn.Linear(*w("kernel").shape)
        lin.load_state_dict({"weight": w("kernel").T, "bias": w("bias")})
        return nn.Sequential(lin, act[cfg["activation"]])
    if kind == "Conv2D":
        kh, kw, cin, cout = w("kernel").shape
        assert cfg["padding"] == "same" and tuple(cfg["strides"]) == (1, 1)
        conv = nn.Conv2d(cin, cout, (kh, kw), padding="same")
        conv.load_state_dict({"weight": w("kernel").permute(3, 2, 0, 1), "bias": w("bias")})
        return nn.Sequential(NHWC(conv), act[cfg["activation"]])
    if kind == "BatchNormalization":
        bn = nn.BatchNorm2d(w("gamma").shape[0], eps=cfg["epsilon"])
        bn.load_state_dict({"weight": w("gamma"), "bias": w("beta"), "running_mean": w("moving_mean"),
                            "running_var": w("moving_variance"), "num_batches_tracked": torch.tensor(0)})
        return NHWC(bn.eval())  # inference: the moving statistics
    if kind == "MaxPooling2D":
        size, stride = cfg["pool_size"][0], (cfg["strides"] or cfg["pool_size"])[0]
        return NHWC(nn.MaxPool2d(size, stride, padding=size // 2 if cfg["padding"] == "same" else 0))
    if kind == "Flatten":  # dl flattens channels_last: (h, w, c) order, which NHWC tensors keep
        return nn.Flatten()
    if kind == "Dropout":
        return nn.Identity()
    if kind == "Reshape":
        return _Reshape(cfg["target_shape"])
    if kind == "LSTM":
        units = w("recurrent_kernel").shape[0]
        lstm = nn.LSTM(w("kernel").shape[0], units, batch_first=True)  # torch's gates i, f, g, o = Keras's i, f, c, o
        lstm.load_state_dict({"weight_ih_l0": w("kernel").T, "weight_hh_l0": w("recurrent_kernel").T,
                              "bias_ih_l0": w("bias"), "bias_hh_l0": torch.zeros(4 * units)})
        return _LastStep(lstm)
    raise AssertionError(f"no torch equivalent written for {kind}")


class _Reshape(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape((x.shape[0],) + self.shape)


class _LastStep(nn.Module):
    def __init__(self, lstm):
        super().__init__()
        self.lstm = lstm

    def forward(self, x):
        return self.lstm(x)[0][:, -1]


def torch_forward(model, tensors: dict, x: np.ndarray) -> list[np.ndarray]:
    """Run the dl model with torch modules, layer by layer (a graph through `model.connections()`)."""
    order = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    modules = {layer.name: torch_layer(layer, tensors) for layer in order if type(layer).__name__ != "Concatenate"}
    with torch.no_grad():
        if type(model).__name__ == "Sequential":
            h = torch.from_numpy(x)
            for layer in order:
                h = modules[layer.name](h)
            return [h.numpy()]
        values = {model.input_names[0]: torch.from_numpy(x)}
        graph = model.connections()
        for layer in order:
            ins = [values[ref.split("[")[0]] for ref in graph[layer.name][0]]
            values[layer.name] = torch.cat(ins, -1) if type(layer).__name__ == "Concatenate" \
                else modules[layer.name](ins[0])
        return [values[name].numpy() for name in model.output_names]


@pytest.mark.parametrize("name", NAMES)
def test_dls_safetensors_load_into_the_equivalent_torch_modules(tmp_path, name):
    from safetensors.torch import load_file

    model = example(name)
    model.save_weights(tmp_path / "w.safetensors")
    tensors = load_file(str(tmp_path / "w.safetensors"))
    assert set(tensors) == {p.path for p in model.weights}
    x = images(9)
    for got, want in zip(torch_forward(model, tensors, x), outputs(model, x)):
        assert got.shape == want.shape
        assert np.max(np.abs(got - want)) <= 1e-5 * max(1.0, float(np.max(np.abs(want))))


def test_gru_conv1d_embedding_and_layer_normalization_map_onto_torch_as_docs_interop_says(tmp_path):
    from safetensors.torch import load_file

    model = models.Sequential([layers.Embedding(11, 6, input_shape=(7,)), layers.LayerNormalization(),
                               layers.Conv1D(4, 3), layers.GRU(5, return_sequences=True)])
    rng = np.random.default_rng(0)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in model.get_weights()])
    model.save_weights(tmp_path / "w.safetensors")
    t = load_file(str(tmp_path / "w.safetensors"))
    e, n, c, g = (layer.name for layer in model.layers)
    u = 5

    def zr(a):  # dl's gate blocks z, r, h -> torch's r, z, n
        return torch.cat([a[..., u:2 * u], a[..., :u], a[..., 2 * u:]], -1)

    emb, norm, conv = nn.Embedding(11, 6), nn.LayerNorm(6, eps=1e-3), nn.Conv1d(6, 4, 3)
    gru = nn.GRU(4, u, batch_first=True)
    emb.load_state_dict({"weight": t[f"{e}/embeddings"]})
    norm.load_state_dict({"weight": t[f"{n}/gamma"], "bias": t[f"{n}/beta"]})
    conv.load_state_dict({"weight": t[f"{c}/kernel"].permute(2, 1, 0), "bias": t[f"{c}/bias"]})
    gru.load_state_dict({"weight_ih_l0": zr(t[f"{g}/kernel"]).T, "weight_hh_l0": zr(t[f"{g}/recurrent_kernel"]).T,
                         "bias_ih_l0": zr(t[f"{g}/bias"][0]), "bias_hh_l0": zr(t[f"{g}/bias"][1])})
    ids = rng.integers(0, 11, (3, 7))
    with torch.no_grad():
        h = conv(norm(emb(torch.from_numpy(ids))).transpose(1, 2)).transpose(1, 2)
        want = gru(h)[0].numpy()
    np.testing.assert_allclose(model.predict(ids, verbose=0), want, rtol=1e-5, atol=1e-5)


def test_weights_written_by_torch_under_dls_names_load_into_dl(tmp_path):
    """A file from another tool (no dl index) is matched by key: here torch's Linear layers, turned
    into dl's layout, under the model's weight paths."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    lin1, lin2 = nn.Linear(4, 5), nn.Linear(5, 3)
    model = models.Sequential([layers.Dense(5, activation="relu", input_shape=(4,)), layers.Dense(3)])
    d1, d2 = model.layers
    save_file({f"{d1.name}/kernel": lin1.weight.detach().T.contiguous(), f"{d1.name}/bias": lin1.bias.detach(),
               f"{d2.name}/kernel": lin2.weight.detach().T.contiguous(), f"{d2.name}/bias": lin2.bias.detach()},
              str(tmp_path / "torch.safetensors"))
    model.load_weights(tmp_path / "torch.safetensors")
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    with torch.no_grad():
        want = lin2(torch.relu(lin1(torch.from_numpy(x)))).numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


# -- refusals -------------------------------------------------------------------------------------

def small():
    return models.Sequential([layers.Dense(3, input_shape=(4,)), layers.Dense(2)])


def test_a_foreign_file_with_other_names_is_refused_naming_one(tmp_path):
    from safetensors.numpy import save_file

    model = small()
    save_file({"fc1.weight": np.zeros((3, 4), np.float32)}, str(tmp_path / "w.safetensors"))
    before = model.get_weights()
    with pytest.raises(ModelFileError, match=r"no dl index.*'fc1.weight' is not a weight of model"):
        model.load_weights(tmp_path / "w.safetensors")
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_file_of_another_model_is_refused_naming_the_weight(tmp_path):
    other = models.Sequential([layers.Dense(3, input_shape=(5,)), layers.Dense(2)])
    other.save_weights(tmp_path / "w.safetensors")
    with pytest.raises(ModelFileError, match=r"weight 0 is Dense '.*kernel' float32\[5, 3\] in the file"):
        small().load_weights(tmp_path / "w.safetensors")


def _raw(header: dict, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


@pytest.mark.parametrize("content, message", [
    (b"", "shorter than its 8-byte header length"),
    (struct.pack("<Q", 10**12) + b"{}", "its header claims"),
    (struct.pack("<Q", 3) + b"abc", "its header is not JSON"),
    (_raw({"a/kernel": {"dtype": "F32", "shape": [4, 3], "data_offsets": [0, 48]}}, b"\0" * 8),
     "byte range does not fit"),
    (_raw({"a/kernel": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}), "no valid shape"),
    (_raw({"a/kernel": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}}, b"\0\0"), "a dtype dl does not read"),
    (_raw({"__metadata__": {"dl": "[1"}}), "not a dl weights index"),
    (_raw({}, b"\0" * (2**21)), "more weight data"),
])
def test_a_damaged_file_is_refused_with_one_line(tmp_path, content, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    model = small()
    before = model.get_weights()
    with pytest.raises(ModelFileError, match=message) as info:
        model.load_weights(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_weights_is_atomic_and_honours_overwrite(tmp_path):
    model = small()
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    with pytest.raises(ModelFileError, match="exists and overwrite=False"):
        model.save_weights(path, overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]


def test_dl_export_writes_a_model_files_weights_as_safetensors(tmp_path):
    from _cli import dl_invoker, one_error_line

    model = example("digits_cnn")
    model.save(tmp_path / "m.dl")
    invoke = dl_invoker()
    result = invoke("export", tmp_path / "m.dl", "-o", tmp_path / "w.safetensors")
    assert result.exit_code == 0, result.output
    assert "the 16 weights of model" in result.stdout and "as safetensors" in result.stdout
    fresh = example("digits_cnn", seed=5)
    fresh.load_weights(tmp_path / "w.safetensors")
    for a, b in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert "name ending in .safetensors" in one_error_line(
        invoke("export", tmp_path / "m.dl", "-o", tmp_path / "w.npz", "--format", "safetensors"))
    assert "--opset is for --format onnx" in one_error_line(
        invoke("export", tmp_path / "m.dl", "-o", tmp_path / "v.safetensors", "--opset", "18"))
    assert not (tmp_path / "w.npz").exists() and not (tmp_path / "v.safetensors").exists()
