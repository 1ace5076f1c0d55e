"""Graph models in spec files, and what a malformed graph spec is told."""

import numpy as np
import pytest
import yaml

from corelib import spec
from corelib.spec import SpecError

GOOD = """
model:
  inputs: {a: [3], b: [2]}
  layers:
    - Dense: {units: 4}
      name: ha
      inputs: a
    - layer: ha
      name: ha_again
      inputs: a
    - Dense: {units: 4}
      name: hb
      inputs: b
    - Add: {}
      name: sum
      inputs: [ha, ha_again, hb]
  outputs: sum
"""


def parse(text):
    return spec.parse_spec(yaml.safe_load(text), source="g.yaml")


def test_a_graph_spec_builds_a_model_with_a_shared_layer():
    model = spec.build_model(parse(GOOD))
    assert model.input_names == ["a", "b"] and model.output_shape == (None, 4)
    assert len(model.weights) == 4  # ha (called twice) and hb
    x = {"a": np.ones((2, 3), np.float32), "b": np.ones((2, 2), np.float32)}
    k, bias = model.get_layer("ha").get_weights()
    kb, bb = model.get_layer("hb").get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), 2 * (x["a"] @ k + bias) + x["b"] @ kb + bb, rtol=1e-6)


def test_keras_style_model_config_is_read_too():
    model = spec.build_model(parse(GOOD))
    again = spec.build_model(spec.parse_spec({"model": {"class_name": "Model", "config": model.get_config()}}))
    assert again.get_config() == model.get_config()


BAD = {
    "input defined below": (GOOD.replace("inputs: [ha, ha_again, hb]", "inputs: [ha, later]"),
                            "input 'later' is not defined above"),
    "name used twice": (GOOD.replace("name: hb", "name: ha"), "the name 'ha' is already used"),
    "layer without inputs": (GOOD.replace("      inputs: b\n", ""), "missing 'inputs'"),
    "reuse of unknown layer": (GOOD.replace("layer: ha", "layer: nope"), "layer 'nope' is not defined above"),
    "unknown output": (GOOD.replace("outputs: sum", "outputs: [total]"), "'total' is not a layer or input"),
    "bad input shape": (GOOD.replace("a: [3]", "a: [-3]"), "model.inputs.a"),
    "two layers in one item": (GOOD.replace("- Dense: {units: 4}\n      name: hb",
                                            "- Dense: {units: 4}\n      Dropout: {rate: 0.1}\n      name: hb"),
                               "exactly one layer"),
    "inputs not a mapping": (GOOD.replace("inputs: {a: [3], b: [2]}", "inputs: [a, b]"), "model.inputs"),
    "unknown key in model": (GOOD.replace("model:\n", "model:\n  wires: 3\n"), "wires"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_graph_specs_get_one_line_errors(case):
    text, fragment = BAD[case]
    with pytest.raises(SpecError) as info:
        spec.build_model(parse(text))
    message = str(info.value)
    assert fragment in message and message.startswith("g.yaml: ") and "\n" not in message


def test_shape_mismatch_in_a_graph_spec_names_the_layer():
    text = GOOD.replace("name: hb\n      inputs: b", "name: hb\n      inputs: a").replace("{units: 4}\n      name: hb",
                                                                                      "{units: 5}\n      name: hb")
    with pytest.raises(SpecError, match=r"model.layers\[3\] \(sum\)"):
        spec.build_model(parse(text))


def test_column_groups_must_fit_the_data_and_the_inputs():
    s = parse(GOOD + "training:\n  inputs: {a: [0, 3], b: [3, 6]}\n  loss: mse\n")
    model = spec.build_model(s)
    spec.compile_model(model, s)
    with pytest.raises(SpecError, match=r"columns \[3, 6\) but x has 5 columns"):
        spec.prepare_arrays(model, s, np.zeros((4, 5), np.float32), np.zeros((4, 4), np.float32))
    s2 = parse(GOOD + "training:\n  inputs: {a: [0, 3]}\n  loss: mse\n")
    with pytest.raises(SpecError, match="no columns for the model input 'b'"):
        spec.prepare_arrays(model, s2, np.zeros((4, 5), np.float32), np.zeros((4, 4), np.float32))
    with pytest.raises(SpecError, match=r"training.inputs.a"):
        parse(GOOD + "training:\n  inputs: {a: [3, 1]}\n")
