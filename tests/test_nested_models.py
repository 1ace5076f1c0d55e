"""Issue 13: a model is a layer (nesting, feature extractors), freezing, subclassed models,
clone_model, integer inputs, and the graph attributes Keras scripts use."""

from __future__ import annotations

import io

import numpy as np
import pytest

from corelib import ConfigError, Input, ShapeError, layers, models
from corelib.models import Model, Sequential, clone_model, load_model


def _data(n=48, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype("float32")
    y = np.eye(k, dtype="float32")[np.argmax(x[:, :k], axis=1)]  # learnable labels
    return x, y


def _base(name="base"):
    return Sequential([layers.Dense(8, activation="tanh", input_shape=(4,), name=f"{name}_h"),
                       layers.Dense(6, activation="tanh", name=f"{name}_x")], name=name)


# -- composition API ---------------------------------------------------------------------

def test_input_layer_first_in_sequential_with_integer_dtype():
    model = Sequential([layers.InputLayer(shape=(5,), dtype="int32"), layers.Embedding(10, 3),
                        layers.GlobalAveragePooling1D(), layers.Dense(2)])
    assert model.input.dtype == "int32"
    assert model.predict(np.array([[1, 2, 3, 4, 9]]), verbose=0).shape == (1, 2)
    assert layers.Input is Input


def test_model_and_layer_graph_attributes():
    inp = Input(shape=(4,), name="features")
    hidden = layers.Dense(5, name="hidden")
    h = hidden(inp)
    out = layers.Dense(2, name="out")(h)
    model = Model(inp, out)
    assert model.input is inp and model.inputs == [inp]
    assert model.output is out and model.outputs == [out]
    assert hidden.input is inp and hidden.output is h
    with pytest.raises(ConfigError, match="never been called"):
        layers.Dense(3).output


def test_feature_extractor_shares_weights_with_its_base():
    base = _base()
    x, _ = _data()
    extractor = Model(base.input, base.get_layer("base_h").output)
    manual = np.tanh(x @ base.get_layer("base_h").get_weights()[0] + base.get_layer("base_h").get_weights()[1])
    np.testing.assert_allclose(extractor.predict(x, verbose=0), manual, rtol=1e-5, atol=1e-6)
    assert extractor.get_layer("base_h") is base.get_layer("base_h")


# -- a model is a layer ---------------------------------------------------------------------

def test_sequential_of_a_model_trains_the_inner_weights():
    base = _base()
    model = Sequential([base, layers.Dense(3, activation="softmax")])
    assert model.output_shape == (None, 3)
    inner_before = base.get_weights()
    x, y = _data()
    model.compile("adam", "categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(inner_before, base.get_weights()))
    assert len(model.weights) == len(base.weights) + 2


def test_gradients_flow_through_the_inner_model_numerically():
    """Analytic gradients of the outer loss w.r.t. the inner model's weights match central differences."""
    base = Sequential([layers.Dense(3, activation="tanh", input_shape=(2,), dtype="float64", name="i1"),
                       layers.Dense(3, activation="tanh", dtype="float64", name="i2")])
    inp = Input(shape=(2,), dtype="float64")
    out = layers.Dense(1, dtype="float64", name="o")(base(inp))
    model = Model(inp, out)
    model.compile("sgd", "mse")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 2)), rng.standard_normal((5, 1))
    model.compute_gradients([x], [y])
    for p in base.weights:
        analytic = p.grad.copy()
        numeric = np.zeros_like(p.value)
        for idx in np.ndindex(p.value.shape):
            keep = p.value[idx]
            p.value[idx] = keep + 1e-6
            up = model.compiled_loss.value([y], [model.predict_on_batch(x)], None)
            p.value[idx] = keep - 1e-6
            down = model.compiled_loss.value([y], [model.predict_on_batch(x)], None)
            p.value[idx] = keep
            numeric[idx] = (up - down) / 2e-6
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_nested_model_input_gradient_reaches_layers_before_it():
    inner = Sequential([layers.Dense(3, input_shape=(3,), dtype="float64", name="n1")])
    inp = Input(shape=(2,), dtype="float64")
    first = layers.Dense(3, dtype="float64", name="before")
    out = layers.Dense(1, dtype="float64", name="after")(inner(first(inp)))
    model = Model(inp, out)
    model.compile("sgd", "mse")
    x, y = np.ones((4, 2)), np.zeros((4, 1))
    model.compute_gradients([x], [y])
    assert np.abs(first.kernel.grad).sum() > 0


def test_functional_call_with_training_false_keeps_inner_inference_mode():
    base = Sequential([layers.Dense(4, input_shape=(3,), name="bd"), layers.Dropout(0.9, name="bdrop")])
    inp = Input(shape=(3,))
    out = layers.Dense(1, name="head")(base(inp, training=False))
    model = Model(inp, out)
    x = np.ones((8, 3), "float32")
    # training=True at the step: dropout inside base stays off because the call fixed training=False
    y1 = model(x, training=True)
    y2 = model(x, training=False)
    np.testing.assert_allclose(y1, y2, rtol=1e-6)
    # and the fixed mode survives the config round trip
    again = Model.from_config(model.get_config())
    assert [n.training for n in again.plan.nodes if n.layer.name == base.name] == [False]


def test_nested_models_save_load_and_config_round_trip(tmp_path):
    base = _base()
    inp = Input(shape=(4,))
    out = layers.Dense(3, activation="softmax", name="head")(base(inp))
    model = Model(inp, out)
    seq = Sequential([_base("inner"), layers.Dense(2, name="top")])
    x, _ = _data()
    for m in (model, seq):
        path = tmp_path / f"{m.name}.dl"
        m.save(path)
        loaded = load_model(path)
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), m.predict(x, verbose=0))
        rebuilt = type(m).from_config(m.get_config())
        assert rebuilt.get_config() == m.get_config()
        nested = [layer for layer in loaded.layers if isinstance(layer, models.BaseModel)]
        assert len(nested) == 1 and isinstance(nested[0], Sequential)


def test_summary_expand_nested_and_show_trainable():
    base = _base()
    model = Sequential([base, layers.Dense(2, name="top")])
    base.get_layer("base_h").trainable = False
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    assert not any("base_h" in line for line in lines)
    lines.clear()
    model.summary(print_fn=lines.append, expand_nested=True, show_trainable=True)
    text = "\n".join(lines)
    assert "└ base_h (Dense)" in text and "Trainable" in lines[2]
    row = next(line for line in lines if "base_h" in line)
    assert row.rstrip().endswith("N")
    assert next(line for line in lines if "top (Dense)" in line).rstrip().endswith("Y")
    assert f"Non-trainable params: {4 * 8 + 8}" in text


def test_duplicate_weight_owner_names_across_nesting_are_refused():
    inner = Sequential([layers.Dense(2, input_shape=(2,), name="dup")])
    inp = Input(shape=(2,))
    with pytest.raises(ConfigError, match="dup"):
        Model(inp, layers.Dense(2, name="dup")(inner(inp)))


# -- freezing ---------------------------------------------------------------------------------

def test_frozen_layer_is_bit_identical_after_fit_and_propagates():
    base = _base()
    model = Sequential([base, layers.Dense(3, activation="softmax", name="head")])
    base.trainable = False
    assert all(not layer.trainable for layer in base.layers)
    assert model.trainable_weights == model.get_layer("head").trainable_weights
    frozen = [w.copy() for w in base.get_weights()]
    head = [w.copy() for w in model.get_layer("head").get_weights()]
    x, y = _data()
    model.compile("adam", "categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for a, b in zip(frozen, base.get_weights()):
        assert a.tobytes() == b.tobytes()
    assert any(not np.array_equal(a, b) for a, b in zip(head, model.get_layer("head").get_weights()))
    model.trainable = False
    assert model.trainable_weights == [] and all(not layer.trainable for layer in model.layers)


def test_frozen_layer_with_regularizer_stays_bit_identical():
    dense = layers.Dense(4, input_shape=(4,), kernel_regularizer="l2", name="reg")
    model = Sequential([dense, layers.Dense(3, name="head2")])
    dense.trainable = False
    before = dense.get_weights()[0].copy()
    x, y = _data()
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=1, verbose=0)
    assert before.tobytes() == dense.get_weights()[0].tobytes()


def test_batchnorm_frozen_runs_in_inference_mode():
    bn = layers.BatchNormalization(name="bn")
    model = Sequential([layers.Dense(4, input_shape=(4,), name="pre"), bn, layers.Dense(3, name="post")])
    bn.trainable = False
    x, y = _data()
    moving = [w.copy() for w in bn.get_weights()]
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(moving, bn.get_weights()):
        assert a.tobytes() == b.tobytes()
    # inference mode in training: the output equals the inference output
    np.testing.assert_allclose(model(x, training=True), model(x, training=False), rtol=1e-6)


def test_unfreeze_and_recompile_trains_the_base():
    base = _base()
    model = Sequential([base, layers.Dense(3, activation="softmax", name="head")])
    x, y = _data()
    base.trainable = False
    model.compile("adam", "categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    before = [w.copy() for w in base.get_weights()]
    base.trainable = True
    model.compile(optimizer=models_optimizer(1e-4), loss="categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, base.get_weights()))


def models_optimizer(lr):
    from corelib import optimizers

    return optimizers.Adam(learning_rate=lr)


# -- subclassed models ---------------------------------------------------------------------------

class TwoLayer(Model):
    def __init__(self, units=5, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = layers.Dense(units, activation="relu")
        self.drop = layers.Dropout(0.2)
        self.out = layers.Dense(3, activation="softmax")

    def call(self, x, training=False):
        return self.out(self.drop(self.hidden(x)))


def test_subclassed_model_traces_trains_summarises_and_saves(tmp_path):
    model = TwoLayer()
    assert not model.built and len(model.layers) == 3
    x, y = _data()
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=5, verbose=0)
    assert model.built and history.history["loss"][-1] < history.history["loss"][0]
    out = io.StringIO()
    model.summary(print_fn=lambda line: out.write(line + "\n"))
    assert '"two_layer' in out.getvalue() and "Dense" in out.getvalue()
    path = tmp_path / "sub.dl"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_subclassed_model_build_and_call_on_tensors():
    model = TwoLayer(units=4)
    model.build((None, 4))
    assert model.output_shape == (None, 3)
    inp = Input(shape=(4,))
    outer = Model(inp, layers.Dense(1)(model(inp)))
    assert outer.predict(np.zeros((2, 4)), verbose=0).shape == (2, 1)


def test_subclassed_custom_train_step_is_refused():
    class Custom(Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(1)

        def call(self, x):
            return self.d(x)

        def train_step(self, data):
            return {}

    with pytest.raises(ConfigError, match="train_step"):
        Custom()


def test_subclassed_call_that_is_not_made_of_layers_is_refused():
    class NumpyCall(Model):
        def call(self, x):
            return np.zeros(3)

    with pytest.raises(ConfigError, match="NumPy"):
        NumpyCall().build((None, 3))


# -- clone_model ---------------------------------------------------------------------------------

def test_clone_model_has_new_weights_and_same_architecture():
    inp = Input(shape=(4,))
    out = layers.Dense(3, name="cl_out")(_base()(inp))
    model = Model(inp, out)
    clone = clone_model(model)
    assert clone.get_config() == model.get_config()
    assert all(c is not o for c, o in zip(clone.weights, model.weights))
    x, _ = _data()
    assert not np.allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    seq = _base("sq")
    assert clone_model(seq).get_config() == seq.get_config()
    shared = clone_model(model, clone_function=lambda layer: layer)
    assert shared.get_layer("cl_out") is model.get_layer("cl_out")


# -- integer inputs --------------------------------------------------------------------------------

def test_integer_ids_stay_exact_into_embedding():
    big = 2**24 + 1
    ids = Input(shape=(1,), dtype="int64")
    emb = layers.Embedding(big + 1, 1, embeddings_initializer="zeros", name="emb")
    model = Model(ids, layers.Flatten()(emb(ids)))
    emb.embeddings.value[big - 1] = 1.0
    emb.embeddings.value[big] = 2.0
    assert model.predict(np.array([[big]]), verbose=0)[0, 0] == 2.0
    model.compile("sgd", "mse")
    model.fit(np.array([[big]]), np.array([[0.0]]), verbose=0)
    assert emb.embeddings.value[big - 1, 0] == 1.0 and emb.embeddings.value[big, 0] != 2.0


def test_integer_input_into_float_layer_is_refused_naming_both():
    ids = Input(shape=(3,), dtype="int32", name="ids")
    with pytest.raises(ShapeError, match=r"'dense_int' \(Dense\).*'ids' is int32"):
        layers.Dense(2, name="dense_int")(ids)


def test_sequential_with_embedding_first_keeps_ids_exact():
    big = 2**24 + 1
    model = Sequential([layers.Embedding(big + 1, 1, input_shape=(1,), embeddings_initializer="zeros",
                                         name="e1"), layers.Flatten()])
    model.get_layer("e1").embeddings.value[big] = 7.0
    assert model.predict(np.array([[big]]), verbose=0)[0, 0] == 7.0
    with pytest.raises(Exception, match="non-integer"):
        model.predict(np.array([[1.5]]), verbose=0)


def test_transfer_learning_example_runs_end_to_end(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "transfer_learning.py"
    spec = importlib.util.spec_from_file_location("transfer_learning", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.main(epochs=12)
    assert result["base_unchanged"]
    assert result["head_accuracy"] >= 0.7 and result["tuned_accuracy"] >= 0.7
    assert "└ conv2d" in capsys.readouterr().out


def test_subclassed_model_traced_on_integer_data_keeps_ids_exact():
    big = 2**24 + 1

    class Lookup(Model):
        def __init__(self):
            super().__init__()
            self.emb = layers.Embedding(big + 1, 1, embeddings_initializer="zeros")
            self.flat = layers.Flatten()

        def call(self, ids):
            return self.flat(self.emb(ids))

    model = Lookup()
    model.emb.ensure_built((None, 1))
    model.emb.embeddings.value[big] = 3.0
    assert model.predict(np.array([[big]]), verbose=0)[0, 0] == 3.0
    assert model.input.dtype == "int64"


def test_nested_seeded_dropout_state_is_part_of_the_model_state():
    inner = Sequential([layers.Dense(4, input_shape=(3,), name="sd"), layers.Dropout(0.5, seed=3, name="sdrop")])
    outer = Sequential([inner, layers.Dense(1, name="sout")])
    x = np.ones((6, 3), "float32")
    outer(x, training=True)  # a seeded Dropout makes its generator on first use
    state = outer.get_rng_state()
    assert state is not None and "0" in state["layers"]
    first = outer(x, training=True)
    outer.set_rng_state(state)
    np.testing.assert_array_equal(outer(x, training=True), first)


def test_a_config_nesting_models_too_deep_is_refused_in_one_line(tmp_path):
    from corelib.models import model_from_config

    cfg = {"class_name": "Sequential", "config": Sequential([layers.Dense(2, input_shape=(2,), name="deep")]).get_config()}
    for i in range(200):
        cfg = {"class_name": "Sequential", "config": {"name": f"s{i}", "layers": [cfg]}}
    with pytest.raises(ConfigError, match="nested more than 32 deep") as info:
        model_from_config(cfg)
    assert "\n" not in str(info.value) and str(info.value).startswith("layers[0].layers[0]")
