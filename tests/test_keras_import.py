"""Keras 3 `.keras` archives read by `corelib.models.load_model` (issue 17, item 2): models built
and saved with Keras 3 (torch backend) give the same predictions in dl.

Each model is built small with random weights (biases and normalization statistics too, so a
swapped or skipped weight shows), saved with `keras.Model.save`, loaded by dl, and both predict
on the same float32 input: max |dl - keras| <= 1e-5 * max(1, |keras|).

Keras is imported inside the fixture only: tests/test_model_file_safety.py checks that
collecting the suite imports none of its dependencies.
"""

from __future__ import annotations

import numpy as np
import pytest

from corelib.models import load_model

pytest.importorskip("h5py")
pytestmark = [pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
              pytest.mark.filterwarnings("ignore:Layer .* does not support masking")]


@pytest.fixture(scope="module")
def K(keras):
    """keras, with its layers as K.L, in float32."""
    keras.config.set_floatx("float32")
    keras.utils.set_random_seed(0)
    return keras


def randomize(model, seed=0):
    """Every weight random, moving variances positive: a weight read into the wrong slot shows."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        value = rng.normal(0, 0.5, v.shape).astype("float32")
        if "variance" in v.path:
            value = np.abs(value) + 0.5
        v.assign(value)
    return model


def assert_same_predictions(kmodel, inputs, tmp_path, name="m"):
    """Save `kmodel`, load it in dl, and compare predictions on `inputs`; returns the dl model."""
    path = tmp_path / f"{name}.keras"
    kmodel.save(path)
    model = load_model(path)
    ref = kmodel.predict(inputs, verbose=0)
    got = model.predict(inputs, verbose=0)
    refs = ref if isinstance(ref, (list, tuple)) else [ref[k] for k in sorted(ref)] if isinstance(ref, dict) \
        else [ref]
    gots = got if isinstance(got, (list, tuple)) else [got[k] for k in sorted(got)] if isinstance(got, dict) \
        else [got]
    assert len(refs) == len(gots)
    for r, g in zip(refs, gots):
        r, g = np.asarray(r), np.asarray(g)
        assert g.shape == r.shape and g.dtype == np.float32
        assert np.max(np.abs(g - r)) <= 1e-5 * max(1.0, float(np.max(np.abs(r)))), np.max(np.abs(g - r))
    return model


def data(*shape, seed=1):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


# -- the models of examples/ -------------------------------------------------------------------


def test_mlp_of_digits_mlp_yaml(K, tmp_path):
    L = K.layers
    m = K.Sequential([K.Input((8, 8, 1)), L.Flatten(), L.Dense(64, activation="relu"), L.Dropout(0.1),
                      L.Dense(10, activation="softmax")])
    m.compile(optimizer=K.optimizers.Adam(0.002), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model = assert_same_predictions(randomize(m), data(5, 8, 8, 1), tmp_path)
    assert model.compiled and model.optimizer.get_config()["learning_rate"] == pytest.approx(0.002)


def test_cnn_of_digits_cnn_yaml(K, tmp_path):
    L = K.layers
    m = K.Sequential([K.Input((8, 8, 1)), L.Conv2D(4, 3, padding="same", activation="relu"),
                      L.BatchNormalization(momentum=0.9), L.Conv2D(4, 3, padding="same", activation="relu"),
                      L.MaxPooling2D(2), L.Conv2D(6, 3, padding="same", activation="relu"),
                      L.BatchNormalization(momentum=0.9), L.MaxPooling2D(2), L.Flatten(), L.Dropout(0.3),
                      L.Dense(10, activation="softmax")])
    assert_same_predictions(randomize(m), data(3, 8, 8, 1), tmp_path)


def test_lstm_of_digits_lstm_yaml(K, tmp_path):
    L = K.layers
    m = K.Sequential([K.Input((8, 8, 1)), L.Reshape((8, 8)), L.LSTM(6), L.Dense(10, activation="softmax")])
    assert_same_predictions(randomize(m), data(4, 8, 8, 1), tmp_path)


def test_multihead_of_digits_multihead(K, tmp_path):
    L = K.layers
    pixels = K.Input((8, 8, 1), name="pixels")
    trunk = L.Dense(16, activation="relu", name="trunk")(L.Flatten(name="flat")(pixels))
    digit = L.Dense(10, activation="softmax", name="digit")(trunk)
    even = L.Dense(1, activation="sigmoid", name="even")(trunk)
    m = K.Model(pixels, {"digit": digit, "even": even}, name="digits_multihead")
    m.compile(optimizer="adam", loss={"digit": "sparse_categorical_crossentropy", "even": "binary_crossentropy"},
              loss_weights={"digit": 1.0, "even": 0.5})
    model = assert_same_predictions(randomize(m), data(4, 8, 8, 1), tmp_path)
    assert sorted(model.output_names) == ["digit", "even"] and model.compiled


def test_inception_of_digits_inception(K, tmp_path):
    L = K.layers

    def block(x, name):
        a = L.Conv2D(4, 1, padding="same", activation="relu", name=f"{name}_1x1")(x)
        b = L.Conv2D(3, 1, padding="same", activation="relu", name=f"{name}_3x3_reduce")(x)
        b = L.Conv2D(4, 3, padding="same", activation="relu", name=f"{name}_3x3")(b)
        c = L.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
        c = L.Conv2D(3, 1, padding="same", activation="relu", name=f"{name}_pool_proj")(c)
        return L.Concatenate(axis=-1, name=name)([a, b, c])

    pixels = K.Input((8, 8, 1), name="pixels")
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="stem")(pixels)
    x = block(block(x, "inception_1"), "inception_2")
    x = L.MaxPooling2D(2, name="pool")(x)
    x = L.Dense(8, activation="relu", name="hidden")(L.Flatten(name="flat")(x))
    digit = L.Dense(10, activation="softmax", name="digit")(L.Dropout(0.2, name="dropout")(x))
    assert_same_predictions(randomize(K.Model(pixels, digit, name="digits_inception")), data(3, 8, 8, 1), tmp_path)


# -- layers ------------------------------------------------------------------------------------


def test_recurrent_layers(K, tmp_path):
    L = K.layers
    inp = K.Input((5, 3))
    x = L.Bidirectional(L.LSTM(4, return_sequences=True))(inp)
    x = L.GRU(5, return_sequences=True)(x)
    x = L.GRU(3, reset_after=False, return_sequences=True)(x)
    x = L.Bidirectional(L.SimpleRNN(3, return_sequences=True), merge_mode="sum")(x)
    x = L.SimpleRNN(4, activation="relu")(x)
    assert_same_predictions(randomize(K.Model(inp, x)), data(3, 5, 3), tmp_path)


def test_embedding_conv1d_layernorm(K, tmp_path):
    L = K.layers
    ids = K.Input((7,), dtype="int32")
    x = L.Embedding(20, 6)(ids)
    x = L.Conv1D(5, 3, padding="same", activation="tanh")(x)
    x = L.LayerNormalization()(x)
    x = L.MaxPooling1D(2)(x)
    x = L.Conv1D(4, 2, strides=1, dilation_rate=1)(x)
    x = L.GlobalAveragePooling1D()(x)
    out = L.Dense(3)(x)
    ids_data = np.random.default_rng(0).integers(0, 20, (4, 7)).astype("int32")
    assert_same_predictions(randomize(K.Model(ids, out)), ids_data, tmp_path)


def test_merges_shared_layers_and_several_inputs(K, tmp_path):
    L = K.layers
    a, b = K.Input((4,), name="a"), K.Input((4,), name="b")
    shared = L.Dense(4, activation="tanh", name="shared")
    sa, sb = shared(a), shared(b)
    merged = [L.Add()([sa, sb]), L.Subtract()([sa, sb]), L.Multiply()([sa, sb]), L.Average()([sa, sb]),
              L.Maximum()([sa, sb]), L.Minimum()([sa, sb])]
    x = L.Concatenate()(merged)
    out1 = L.Dense(2, name="out1")(x)
    out2 = L.Dot(axes=1)([sa, sb])
    m = K.Model([a, b], [out1, out2])
    assert_same_predictions(randomize(m), [data(3, 4, seed=1), data(3, 4, seed=2)], tmp_path)


def test_nested_models(K, tmp_path):
    L = K.layers
    inner = K.Sequential([K.Input((6,)), L.Dense(5, activation="relu"), L.Dense(4)], name="inner")
    i2 = K.Input((4,))
    encoder = K.Model(i2, L.Dense(3)(i2), name="encoder")
    inp = K.Input((6,))
    out = L.Dense(2)(encoder(inner(inp)))
    assert_same_predictions(randomize(K.Model(inp, out)), data(3, 6), tmp_path)


def test_more_layers(K, tmp_path):
    L = K.layers
    m = K.Sequential([K.Input((6, 6, 2)), L.ZeroPadding2D(1), L.Conv2D(3, 3, strides=2), L.ReLU(max_value=2.0),
                      L.AveragePooling2D(2, padding="same"), L.UpSampling2D(2), L.Cropping2D(1),
                      L.SpatialDropout2D(0.1), L.GlobalMaxPooling2D(), L.RepeatVector(2),
                      L.TimeDistributed(L.Dense(3)), L.Activation("sigmoid"), L.Flatten(), L.LeakyReLU(0.2),
                      L.PReLU(), L.ELU(), L.Softmax()])
    assert_same_predictions(randomize(m), data(2, 6, 6, 2), tmp_path)


def test_summary_cli_prints_the_layers(K, tmp_path):
    from _cli import dl_invoker

    L = K.layers
    m = K.Sequential([K.Input((3,)), L.Dense(4, name="hidden"), L.Dense(2, name="out")])
    m.save(tmp_path / "m.keras")
    result = dl_invoker()("summary", tmp_path / "m.keras")
    assert result.exit_code == 0, result.output
    assert "hidden" in result.output and "out" in result.output and "26" in result.output


def test_masked_sequences_between_recurrent_layers(K, tmp_path):
    L = K.layers
    m = K.Sequential([K.Input((6,), dtype="int32"), L.Embedding(10, 4, mask_zero=True),
                      L.LSTM(5, return_sequences=True), L.GRU(3), L.Dense(2)])
    ids = np.random.default_rng(0).integers(1, 10, (4, 6)).astype("int32")
    ids[:, 4:] = 0  # padded
    ids[0, 2:] = 0
    assert_same_predictions(randomize(m), ids, tmp_path)


def test_masked_sequence_read_by_another_layer_is_refused(K, tmp_path):
    from corelib.errors import ModelFileError

    L = K.layers
    m = K.Sequential([K.Input((6,), dtype="int32"), L.Embedding(10, 4, mask_zero=True),
                      L.LSTM(5, return_sequences=True, name="seq"), L.Flatten(), L.Dense(2)])
    m.save(tmp_path / "masked.keras")
    with pytest.raises(ModelFileError, match="'seq' \\(LSTM\\): zero_output_for_mask=False with a mask"):
        load_model(tmp_path / "masked.keras")
