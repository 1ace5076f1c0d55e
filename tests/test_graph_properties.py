"""Property tests: random stacks and their functional twins agree; saved graphs reload bit-identically."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corelib import Input, config, layers, models

ACTIVATIONS = ["linear", "relu", "tanh", "sigmoid", "elu", "gelu", "softplus"]

layer_spec = st.one_of(
    st.tuples(st.just("Dense"), st.integers(1, 6), st.sampled_from(ACTIVATIONS)),
    st.tuples(st.just("Activation"), st.just(0), st.sampled_from(ACTIVATIONS)),
    st.tuples(st.just("Dropout"), st.just(0), st.just("")),
)


def make(spec):
    kind, units, act = spec
    if kind == "Dense":
        return layers.Dense(units, activation=act)
    if kind == "Activation":
        return layers.Activation(act)
    return layers.Dropout(0.5)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 5), st.lists(layer_spec, min_size=1, max_size=5), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_sequential_and_functional_twin_give_the_same_outputs_and_gradients(features, specs, batch, seed):
    config.set_floatx("float64")
    try:
        seq = models.Sequential([Input(shape=(features,))] + [make(s) for s in specs])
        inp = Input(shape=(features,))
        x = inp
        for s in specs:
            x = make(s)(x)
        twin = models.Model(inp, x)
        twin.set_weights(seq.get_weights())
        data = np.random.default_rng(seed).standard_normal((batch, features))
        np.testing.assert_array_equal(seq.predict(data, verbose=0), twin.predict(data, verbose=0))
        grads = []
        for model in (seq, twin):
            for p in model.weights:
                p.grad.fill(0)
            ys, backprop = model._forward([data], False)
            backprop([np.ones_like(ys[0])])
            grads.append([p.grad.copy() for p in model.weights])
        for a, b in zip(*grads):
            np.testing.assert_array_equal(a, b)
    finally:
        config.set_floatx("float32")


def random_graph(draw_widths, seed):
    """Two inputs, two branches of Dense layers, merged, and two heads."""
    a, b = Input(shape=(3,), name="a"), Input(shape=(4,), name="b")
    xa, xb = a, b
    for w in draw_widths:
        xa = layers.Dense(w, activation="tanh")(xa)
        xb = layers.Dense(w, activation="relu")(xb)
    merged = layers.Concatenate()([xa, xb])
    head1 = layers.Dense(2, activation="softmax", name="head1")(merged)
    head2 = layers.Dense(1, name="head2")(layers.Add()([xa, xb]))
    return models.Model([a, b], [head1, head2])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(1, 5), min_size=1, max_size=3), st.integers(0, 2**31 - 1))
def test_saved_random_graphs_reload_with_bit_identical_predictions(tmp_path_factory, widths, seed):
    model = random_graph(widths, seed)
    model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"])
    rng = np.random.default_rng(seed)
    x = [rng.standard_normal((6, 3)).astype(np.float32), rng.standard_normal((6, 4)).astype(np.float32)]
    model.fit(x, [rng.integers(0, 2, 6), rng.standard_normal((6, 1)).astype(np.float32)], epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("graphs") / "g.dl"
    model.save(path)
    loaded = models.load_model(path)
    for got, want in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(got, want)
