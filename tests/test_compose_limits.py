"""`dl compose` builds for shapes and parameter counts only, within the machine's memory, and takes
Embedding's input_dim for what it is (issue 14, items 8 and 10)."""

from __future__ import annotations

import copy
import tracemalloc

import numpy as np
import pytest
from click.testing import CliRunner

from corelib import spec
from corelib.errors import ConfigError
from corelib.layers.base import shapes_only
from corelib.registry import Registry, get_registry, use_registry
from corelib.spec import compose as C
from dl_cli.main import cli

pytest.importorskip("corelib.builtin.plugin")


@pytest.fixture
def builtin_registry():
    with use_registry(Registry(entry_points=False)) as reg:
        yield reg


def peak_bytes(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- shapes only -------------------------------------------------------------------------------------------

def test_compose_of_a_huge_dense_allocates_no_weights(builtin_registry):
    (doc, model), peak = peak_bytes(lambda: C.compose(["Dense(50_000_000)", "Dense(2)"], [3]))
    assert model.count_params() == 300_000_002 and model.output_shape == (None, 2)
    assert doc["model"][0] == {"Dense": {"units": 50_000_000, "input_shape": [3]}}
    assert peak < 20 * 2**20  # the kernel alone would take 600 MB, its float64 initial values 1.2 GB


def test_dl_compose_of_a_huge_dense_prints_its_summary_and_writes_the_spec(tmp_path, builtin_registry):
    result, peak = peak_bytes(lambda: CliRunner().invoke(cli, ["compose", "Dense(50000000)", "--input-shape", "3",
                                                                 "-o", str(tmp_path / "big.yaml")]))
    assert result.exit_code == 0, result.output
    assert "Total params: 200,000,000" in result.stdout
    assert spec.load_spec(tmp_path / "big.yaml").layers == [
        {"class_name": "Dense", "config": {"units": 50_000_000, "input_shape": [3]}}]
    assert peak < 20 * 2**20


def test_compose_refuses_weights_past_the_limit(builtin_registry):
    with pytest.raises(ConfigError, match=r"^layer 2 'Dense\(5\)': Dense 'dense_1': weight 'kernel' of shape "
                                          r"\(100, 5\) needs 2000 bytes, more than the 1600 bytes left of "
                                          r"max_weight_bytes$"):
        C.compose(["Dense(100)", "Dense(5)"], [3], max_weight_bytes=3200)


def test_dl_compose_of_a_layer_bigger_than_the_machine_is_exit_2(builtin_registry):
    result = CliRunner().invoke(cli, ["compose", "Dense(100000000000000)", "--input-shape", "3"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: layer 1 'Dense(100000000000000)': Dense 'dense': weight 'kernel' of "
                                    "shape (3, 100000000000000) needs 1200000000000000 bytes, more than the ")
    assert result.stderr.strip().endswith(" bytes left of this machine's memory")


def test_compose_allocates_weights_on_request(builtin_registry):
    _, model = C.compose(["Dense(4)"], [3], allocate=True)
    kernel = model.layers[0].weights[0].value
    assert kernel.flags.writeable and np.any(kernel != 0)
    _, model = C.compose(["Dense(4)"], [3])
    assert not model.layers[0].weights[0].value.flags.writeable


def _conformance_cases():
    from test_conformance import LAYER_CASES

    return [pytest.param(name, shape, kwargs, id=f"{name}-{i}")
            for name, cases in LAYER_CASES.items() for i, (shape, kwargs) in enumerate(cases)]


@pytest.mark.parametrize("name, shape, kwargs", _conformance_cases())
def test_a_shapes_only_build_agrees_with_a_real_one(name, shape, kwargs):
    try:
        cls = get_registry().get("layers", name)
    except KeyError:
        pytest.skip(f"{name} is not installed")
    full = [(None, *s[1:]) for s in shape] if isinstance(shape, list) else (None, *shape[1:])

    def build():
        layer = cls.from_config(copy.deepcopy(kwargs))
        return layer, layer.ensure_built(full)

    if "input_data" in kwargs:  # the conformance check's data, not an argument
        pytest.skip(f"{name}'s case needs its data")
    real, real_shape = build()
    with shapes_only():
        placeholder, shape_only = build()
    assert shape_only == real_shape and placeholder.count_params() == real.count_params()
    assert [(p.name, p.shape, p.value.dtype, p.trainable) for p in placeholder.weights] == \
           [(p.name, p.shape, p.value.dtype, p.trainable) for p in real.weights]


# -- Embedding's input_dim -----------------------------------------------------------------------------------

def test_compose_takes_embeddings_input_dim_for_its_vocabulary(builtin_registry):
    doc, model = C.compose(["Embedding(1000, 64)", "Flatten", "Dense(1)"], [10])
    assert doc["model"][0] == {"Embedding": {"input_dim": 1000, "output_dim": 64, "input_shape": [10]}}
    assert model.layers[0].output_shape == (None, 10, 64) and model.count_params() == 64_000 + 641
    with pytest.raises(ConfigError, match="gives its own input shape and so does --input-shape"):
        C.compose(["Dense(3, input_dim=4)"], [6])  # Dense's input_dim is the input's size


@pytest.mark.parametrize("input_layer", [
    "{InputLayer: {shape: [10]}}",
    "{class_name: InputLayer, config: {batch_shape: [null, 10]}}",
])
def test_an_input_layer_before_embedding_gives_its_shape(tmp_path, builtin_registry, input_layer):
    (tmp_path / "s.yaml").write_text(f"model:\n  - {input_layer}\n  - Embedding: {{input_dim: 100, output_dim: 8}}\n"
                                     "  - Flatten\n")
    model = spec.build_model(spec.load_spec(tmp_path / "s.yaml"))
    assert model.built and model.output_shape == (None, 80)
    assert model.predict(np.array([[99] * 10])).shape == (1, 80)


def test_an_input_layer_before_dense_with_input_dim_keeps_input_dim(tmp_path, builtin_registry):
    (tmp_path / "s.yaml").write_text("model:\n  - InputLayer: {shape: [10]}\n  - Dense: {units: 2, input_dim: 4}\n")
    assert spec.build_model(spec.load_spec(tmp_path / "s.yaml")).input_shape == (None, 4)


# ---- fuzz findings (issue 14, item 16) ------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["²", "1²", "٣", "99999999999999999999", "2147483648", "0" * 30])
def test_input_shape_takes_ascii_digits_up_to_2_to_the_31_only(text):
    with pytest.raises(ConfigError, match=r"--input-shape must be positive ints separated by commas, like 28,28,1 "
                                          r"\(each at most 2147483647\)"):
        C.parse_shape(text, "--input-shape")
    assert C.parse_shape("2147483647, 007") == [2147483647, 7]


def test_an_input_layer_alone_is_refused_as_the_spec_it_would_write_does_not_load(builtin_registry):
    with pytest.raises(ConfigError, match=r"^an InputLayer alone is no model \(a spec needs a layer besides it\)"):
        C.compose(["InputLayer"], [8, 8, 1])
    doc, _ = C.compose(["InputLayer", "Flatten"], [8, 8, 1])
    assert doc["model"] == [{"InputLayer": {"input_shape": [8, 8, 1]}}, {"Flatten": {}}]


def test_a_layer_after_one_with_several_outputs_is_refused_naming_both(builtin_registry):
    with pytest.raises(ConfigError, match=r"^layer 2 'Dense\(2\)': Layer 'dense.*' \(Dense\) cannot follow layer "
                                          r"'gru.*' \(GRU\) in a Sequential: 'gru.*' has 2 outputs \[\(None, 5, 1\), "
                                          r"\(None, 1\)\]"):
        C.compose(["GRU(1, return_sequences=True, return_state=True)", "Dense(2)"], [5, 3])
