"""Regression tests for issue 14's model defects: layer names a model file cannot store, NaN
loss weights, set_weights(None), quadratic Sequential.add, float64 / float32 layers in one
model, and predict on zero rows."""

from __future__ import annotations

import time
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corelib import Input, layers
from corelib.errors import ConfigError, DataError, ModelFileError
from corelib.layers.symbolic import MAX_NAME_LENGTH, check_name
from corelib.models import Model, Sequential, load_model
from corelib.models import sequential as sequential_module

pytest.importorskip("corelib.builtin.plugin")


# -- names ------------------------------------------------------------------------------

BAD_NAMES = ["enc:1", "..", ".", "/abs", "a/", "a//b", "a/../b", "./a", "a\\b", "a\x00b", "line\nbreak", "tab\there",
             "\x1b[31m", "", "\ud800", "x" * (MAX_NAME_LENGTH + 1)]
GOOD_NAMES = ["dense.1", "é ü", "a b", "...", "💥", "a%b*?", "CON", "-", "x" * MAX_NAME_LENGTH,
              "\u2603" * MAX_NAME_LENGTH, " leading and trailing ", "名前", "dense_1", "encoder/self_attention", "a/.../b"]


def round_trip(name: str, tmp_path) -> None:
    """A model whose layer, input and model names are `name`-based saves and loads back unchanged,
    through a model file and through a weights file."""
    inp = Input((3,), name=f"{name[:MAX_NAME_LENGTH - 5]}_in")
    model = Sequential([inp, layers.Dense(2, name=name)], name=name)
    model.save(tmp_path / "m.dl")
    again = load_model(tmp_path / "m.dl")
    assert again.name == name and again.layers[0].name == name
    assert again.input_names == model.input_names
    np.testing.assert_array_equal(again.get_weights()[0], model.get_weights()[0])
    other = Sequential([Input((3,)), layers.Dense(2, name=name)])
    model.save_weights(tmp_path / "w.weights.npz")
    other.load_weights(tmp_path / "w.weights.npz")
    np.testing.assert_array_equal(other.get_weights()[0], model.get_weights()[0])


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_names_a_model_file_cannot_store_are_refused_when_made(name):
    with pytest.raises(ConfigError, match="name"):
        layers.Dense(2, name=name)
    with pytest.raises(ConfigError, match="Sequential: name"):
        Sequential(name=name)
    with pytest.raises(ConfigError, match="InputLayer: name"):
        Input((3,), name=name)
    dense = layers.Dense(2, name="kept")
    with pytest.raises(ConfigError, match="Dense: name"):
        dense.name = name  # renaming later is checked too
    assert dense.name == "kept"


def test_a_bad_name_in_a_model_file_is_a_model_file_error(tmp_path):
    model = Sequential([Input((3,)), layers.Dense(2, name="enc")])
    model.save(tmp_path / "m.dl")
    with zipfile.ZipFile(tmp_path / "m.dl") as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    entries["config.json"] = entries["config.json"].replace(b'"enc"', b'"enc:1"')
    with zipfile.ZipFile(tmp_path / "bad.dl", "w") as zf:
        for n, data in entries.items():
            zf.writestr(n, data)
    with pytest.raises(ModelFileError, match=r"bad.dl: .*name cannot contain ':'"):
        load_model(tmp_path / "bad.dl")


@pytest.mark.parametrize("name", GOOD_NAMES, ids=repr)
def test_tricky_names_round_trip(name, tmp_path):
    round_trip(name, tmp_path)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(min_size=0, max_size=MAX_NAME_LENGTH + 5))
def test_every_accepted_name_round_trips(name, tmp_path):
    try:
        check_name(name, "Dense")
    except ConfigError:
        with pytest.raises(ConfigError):
            layers.Dense(2, name=name)
        return
    round_trip(name, tmp_path)


# -- loss weights and set_weights -----------------------------------------------------------

def two_outputs():
    inp = Input((3,))
    return Model(inp, [layers.Dense(1, name="a")(inp), layers.Dense(1, name="b")(inp)])


@pytest.mark.parametrize("weights", [[1.0, float("nan")], {"b": float("inf")}, [1.0, -0.5], [1.0, "x"], [True, 1]],
                         ids=["nan", "inf", "negative", "text", "bool"])
def test_loss_weights_must_be_finite_and_non_negative(weights):
    with pytest.raises(ConfigError, match=r"loss_weights\['[ab]'\] must be a finite number >= 0"):
        two_outputs().compile("sgd", "mse", loss_weights=weights)


def test_nan_loss_weights_in_a_spec_leave_the_model_file_alone(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from dl_cli.main import cli

    inp = "model:\n  inputs: {x: [3]}\n  layers:\n    - Dense: {units: 1}\n      name: a\n      inputs: x\n" \
          "    - Dense: {units: 1}\n      name: b\n      inputs: x\n  outputs: [a, b]\n"
    spec = inp + "training:\n  loss: mse\n  optimizer: sgd\n  loss_weights: [1, .nan]\n  epochs: 1\n  data: d.npz\n"
    (tmp_path / "s.yaml").write_text(spec)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((8, 3)), y_a=rng.random(8), y_b=rng.random(8))
    (tmp_path / "out.dl").write_bytes(b"an earlier model")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["train", "s.yaml", "--output", "out.dl"])
    assert result.exit_code == 2, result.output
    assert "s.yaml" in result.stderr and "loss_weights" in result.stderr and len(result.stderr.splitlines()) == 1
    assert (tmp_path / "out.dl").read_bytes() == b"an earlier model"


@pytest.mark.parametrize("weights", [None, 3, "ab", [None, None]], ids=repr)
def test_set_weights_refuses_none_and_non_arrays(weights):
    model = Sequential([Input((3,)), layers.Dense(2)])
    before = model.get_weights()
    with pytest.raises(DataError, match="set_weights"):
        model.set_weights(weights)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("weights", [None, [None, None], [np.ones((3, 2)), np.array([1.0, np.nan])]],
                         ids=["none", "nones", "nan"])
def test_a_layers_set_weights_is_all_or_nothing_too(weights):
    layer = layers.Dense(2)
    layer.build((None, 3))
    before = layer.get_weights()
    with pytest.raises(DataError, match="Dense 'dense.*set_weights"):
        layer.set_weights(weights)
    for a, b in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_uint64_labels_past_int64_are_refused_by_fit():
    model = Sequential([Input((3,)), layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    labels = np.array([0, 1, 2**63 + 1, 1], dtype=np.uint64)
    with pytest.raises(DataError, match="too large for an int64 label"):
        model.fit(np.ones((4, 3)), labels, verbose=0)
    with pytest.raises(DataError, match="too large for an int64 label"):
        model.fit(np.ones((4, 3)), labels.astype(np.float64), verbose=0)


def test_nan_loss_weights_are_refused_when_the_spec_is_read(tmp_path):
    from corelib import spec as specs

    path = tmp_path / "s.yaml"
    path.write_text("model:\n  inputs: {x: [3]}\n  layers:\n    - Dense: {units: 1}\n      name: a\n"
                    "      inputs: x\n  outputs: [a]\ntraining:\n  loss: mse\n  loss_weights: [.nan]\n")
    with pytest.raises(ConfigError, match=r"s.yaml.*loss_weights\[0\].*finite"):
        specs.load_spec(path)


# -- deep stacks ------------------------------------------------------------------------------

def test_sequential_add_makes_one_layer_call_per_layer(monkeypatch):
    """Adding n layers calls each layer once on the chain and compiles no plan: O(n), where each
    add used to re-call every layer before it and compile a plan (O(n^2))."""
    calls = []
    real = sequential_module.call_symbolic
    monkeypatch.setattr(sequential_module, "call_symbolic", lambda layer, x: calls.append(layer) or real(layer, x))
    plans = []
    real_plan = sequential_module.Plan
    monkeypatch.setattr(sequential_module, "Plan", lambda *a: plans.append(a) or real_plan(*a))
    model = Sequential([Input((4,))])
    for _ in range(200):
        model.add(layers.Activation("linear"))
    assert len(calls) == 200 and not plans
    model.predict(np.ones((2, 4)), verbose=0)
    model.summary(print_fn=lambda *a, **k: None)
    assert len(plans) == 1


def build_stack(n: int, layer=lambda: layers.Activation("linear")) -> tuple[Sequential, float]:
    start = time.perf_counter()
    model = Sequential([Input((4,))])
    for _ in range(n):
        model.add(layer())
    model.plan
    return model, time.perf_counter() - start


def test_building_a_deep_stack_is_linear_in_depth():
    build_stack(50)
    small = min(build_stack(1000)[1] for _ in range(2))
    large = min(build_stack(4000)[1] for _ in range(2))
    assert large / small < 8, (small, large)  # quadratic gives 16
    model, seconds = build_stack(5000)
    assert seconds < 10
    assert len(model.layers) == 5000 and model.output_shape == (None, 4)


def test_a_deep_stack_summarizes_predicts_trains_and_reloads(tmp_path):
    model, _ = build_stack(1500, lambda: layers.Dense(2))
    x = np.random.default_rng(0).random((4, 4)).astype(np.float32)
    start = time.perf_counter()
    lines = []
    model.summary(print_fn=lambda line, **k: lines.append(line))
    assert model.predict(x, verbose=0).shape == (4, 2)
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((4, 2)), epochs=1, verbose=0)
    again = Sequential.from_config(model.get_config())
    assert len(again.layers) == 1500 and time.perf_counter() - start < 10
    popped = model.pop()
    assert model.output_shape == (None, 2) and popped.name not in [l.name for l in model.layers]
    model.add(layers.Dense(3))
    assert model.predict(x, verbose=0).shape == (4, 3)


def test_sequential_still_refuses_clashing_names_and_pops_to_empty():
    model = Sequential([Input((4,), name="inp"), layers.Dense(3, name="d")])
    with pytest.raises(ConfigError, match="already has a layer named 'd'"):
        model.add(layers.Dense(3, name="d"))
    with pytest.raises(ConfigError, match="already has a layer named 'inp'"):
        model.add(layers.Dense(3, name="inp"))
    inner = Sequential([Input((3,)), layers.Dense(3, name="x")])
    with pytest.raises(ConfigError, match="two different layers named 'x'"):
        model.add(inner) or model.add(layers.Dense(3, name="x"))
    assert [l.name for l in model.layers] == ["d", inner.name]
    model.pop()
    model.pop()
    assert not model.built and model.layers == []
    model.add(layers.Dense(2))
    assert model.built and model.output_shape == (None, 2)
    ids = Sequential([Input((5,), dtype="int64")])
    with pytest.raises(ValueError, match="needs floating-point input"):
        ids.add(layers.Dense(3))
    assert ids.layers == [] and not ids.built  # a layer the chain refuses is not added


# -- float64 and float32 layers in one model -------------------------------------------------

def mixed(dtypes=("float64", "float32", "float64")):
    inp = Input((3,), dtype="float64")
    x = layers.Dense(4, activation="tanh", dtype=dtypes[0], name="first")(inp)
    x = layers.Dense(4, activation="tanh", dtype=dtypes[1], name="second")(x)
    return Model(inp, layers.Dense(2, dtype=dtypes[2], name="third")(x))


def gradients(model, x, y):
    for p in model.weights:
        p.grad[...] = 0
    model.compute_gradients([x], [y])
    return [p.grad.astype(np.float64) for p in model.weights]


def test_a_float32_layer_after_a_float64_one_predicts_and_trains():
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 3)), rng.random((16, 2))
    for dtypes in [("float64", "float32", "float64"), ("float32", "float64", "float32")]:
        model = mixed(dtypes)
        assert model.predict(x, verbose=0).dtype == np.dtype(dtypes[2])
        model.compile("sgd", "mse")
        history = model.fit(x, y, epochs=2, batch_size=8, verbose=0).history
        assert np.all(np.isfinite(history["loss"]))
        assert [p.value.dtype for p in model.weights] == [np.dtype(d) for d in dtypes for _ in range(2)]


def test_mixed_dtype_gradients_match_float64_and_finite_differences():
    rng = np.random.default_rng(1)
    x, y = rng.random((5, 3)), rng.random((5, 2))
    model, reference = mixed(), mixed(("float64",) * 3)
    model.compile("sgd", "mse")
    reference.compile("sgd", "mse")
    reference.set_weights([w.astype(np.float64) for w in model.get_weights()])
    got, expected = gradients(model, x, y), gradients(reference, x, y)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-6)
    kernel = model.weights[0]  # the first (float64) layer's, reached through the float32 one
    eps, (i, j) = 1e-3, (1, 2)
    loss = lambda: model.compiled_loss.value([y], [model.predict_on_batch(x)], None)
    kernel.value[i, j] += eps
    up = loss()
    kernel.value[i, j] -= 2 * eps
    down = loss()
    kernel.value[i, j] += eps
    assert got[0][i, j] == pytest.approx((up - down) / (2 * eps), rel=2e-2, abs=1e-5)


def test_a_merge_of_float64_and_float32_branches_trains():
    inp = Input((3,))
    a = layers.Dense(2, dtype="float64")(inp)
    b = layers.Dense(2)(inp)
    model = Model(inp, layers.Dense(1)(layers.Add()([a, b])))
    model.compile("adam", "mse")
    rng = np.random.default_rng(2)
    assert np.isfinite(model.fit(rng.random((8, 3)), rng.random((8, 1)), verbose=0).history["loss"][0])


# -- zero rows ------------------------------------------------------------------------------

def test_predict_on_zero_rows_gives_empty_outputs_of_the_output_shape():
    conv = Sequential([Input((8, 8, 3)), layers.Conv2D(4, 3), layers.Flatten(), layers.Dense(3)])
    empty = np.zeros((0, 8, 8, 3), np.float32)
    for out in (conv.predict(empty, verbose=0), conv.predict_on_batch(empty), conv(empty)):
        assert out.shape == (0, 3) and out.dtype == np.float32
    seq = Sequential([Input((None, 3)), layers.Conv1D(4, 3), layers.Dense(2)])
    assert seq.predict(np.zeros((0, 9, 3)), verbose=0).shape == (0, 7, 2)
    inp = Input((3,))
    heads = {"a": layers.Dense(2)(inp), "b": layers.Dense(5, dtype="float64")(inp)}
    named = Model(inp, heads).predict(np.zeros((0, 3)), verbose=0)
    assert {k: (v.shape, v.dtype) for k, v in named.items()} == {"a": ((0, 2), np.float32),
                                                                   "b": ((0, 5), np.float64)}
    listed = Model(inp, list(heads.values())).predict(np.zeros((0, 3)), verbose=0)
    assert [v.shape for v in listed] == [(0, 2), (0, 5)]


def test_evaluate_on_zero_rows_is_refused():
    model = Sequential([Input((3,)), layers.Dense(2)])
    model.compile("sgd", "mse")
    with pytest.raises(DataError, match="no samples"):
        model.evaluate(np.zeros((0, 3)), np.zeros((0, 2)), verbose=0)
