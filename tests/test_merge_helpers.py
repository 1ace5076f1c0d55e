"""Keras's lowercase merge helpers (layers.concatenate, add, ..., dot): build the layer and call it."""

import numpy as np
import pytest
import yaml

import corelib
from corelib import layers, models, spec

RNG = np.random.default_rng(0)
A = RNG.standard_normal((5, 4)).astype(np.float32)
B = RNG.standard_normal((5, 4)).astype(np.float32)
C = RNG.standard_normal((5, 4)).astype(np.float32)


@pytest.mark.parametrize("helper, numpy_fn", [
    (layers.add, lambda xs: xs[0] + xs[1] + xs[2]),
    (layers.multiply, lambda xs: xs[0] * xs[1] * xs[2]),
    (layers.average, lambda xs: (xs[0] + xs[1] + xs[2]) / 3),
    (layers.maximum, lambda xs: np.maximum(np.maximum(xs[0], xs[1]), xs[2])),
    (layers.minimum, lambda xs: np.minimum(np.minimum(xs[0], xs[1]), xs[2])),
    (layers.concatenate, lambda xs: np.concatenate(xs, axis=-1)),
])
def test_helpers_on_arrays_match_numpy(helper, numpy_fn):
    np.testing.assert_allclose(helper([A, B, C]), numpy_fn([A, B, C]), rtol=1e-6)


def test_subtract_concatenate_axis_and_dot_on_arrays():
    np.testing.assert_allclose(layers.subtract([A, B]), A - B, rtol=1e-6)
    x3, y3 = A.reshape(5, 2, 2), B.reshape(5, 2, 2)
    np.testing.assert_allclose(layers.concatenate([x3, y3], axis=1), np.concatenate([x3, y3], axis=1))
    np.testing.assert_allclose(layers.dot([A, B], axes=1), np.sum(A * B, axis=1, keepdims=True), rtol=1e-5)
    cosine = np.sum(A * B, axis=1, keepdims=True) / (np.linalg.norm(A, axis=1, keepdims=True)
                                                     * np.linalg.norm(B, axis=1, keepdims=True))
    np.testing.assert_allclose(layers.dot([A, B], axes=1, normalize=True), cosine, rtol=1e-5)


def test_helpers_build_a_functional_model():
    a, b = corelib.Input((4,), name="a"), corelib.Input((4,), name="b")
    joined = layers.concatenate([a, b], name="joined")
    diff = layers.subtract([a, b])
    score = layers.dot([a, b], axes=-1, normalize=True)
    assert joined.shape == (None, 8) and diff.shape == (None, 4) and score.shape == (None, 1)
    out = layers.concatenate([joined, diff, score], axis=-1)
    model = models.Model([a, b], out)
    assert model.output_shape == (None, 13)
    assert type(model.get_layer("joined")).__name__ == "Concatenate"  # kwargs reach the layer
    got = model.predict([A, B], verbose=0)
    np.testing.assert_allclose(got[:, :8], np.concatenate([A, B], axis=-1), rtol=1e-6)
    np.testing.assert_allclose(got[:, 8:12], A - B, rtol=1e-6)
    reloaded = models.model_from_json(model.to_json())  # the helpers leave ordinary layers in the graph
    assert [type(l).__name__ for l in reloaded.layers] == [type(l).__name__ for l in model.layers]


def test_the_capitalised_names_stay_the_classes():
    for name in ("Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Dot"):
        cls = getattr(layers, name)
        assert isinstance(cls, type) and issubclass(cls, layers.Layer)
        assert layers.get(name.lower()) is cls  # the registry's snake_case alias is untouched
    assert layers.Concatenate(axis=1).axis == 1


def test_lowercase_names_in_a_spec_still_mean_the_layers():
    doc = yaml.safe_load("""
model:
  inputs: {a: [3], b: [3]}
  layers:
    - concatenate: {axis: -1}
      name: joined
      inputs: [a, b]
    - add: {}
      name: total
      inputs: [a, b]
    - concatenate: {}
      name: both
      inputs: [joined, total]
  outputs: both
""")
    model = spec.build_model(spec.parse_spec(doc, source="merge.yaml"))
    assert model.output_shape == (None, 9)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(model.predict({"a": x, "b": 2 * x}, verbose=0),
                               np.concatenate([x, 2 * x, 3 * x], axis=-1))
    stack = spec.build_model(spec.parse_spec({"model": [{"dense": {"units": 2, "input_shape": [3]}}]}))
    assert type(stack.layers[0]).__name__ == "Dense"


def test_helpers_pass_bad_arguments_to_the_layer_to_refuse():
    with pytest.raises(corelib.ConfigError, match="axis must be a non-zero int"):
        layers.concatenate([A, B], axis=0)
    with pytest.raises(TypeError):
        layers.dot([A, B])  # axes is required, as in Keras
