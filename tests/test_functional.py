"""The functional API: Input, Model(inputs, outputs), shared layers, several inputs and outputs."""

import numpy as np
import pytest

import corelib
from corelib import ConfigError, DataError, Input, ShapeError, layers, models, optimizers


def two_branch():
    a = Input(shape=(3,), name="a")
    b = Input(shape=(2,), name="b")
    xa = layers.Dense(4, activation="tanh", name="da")(a)
    xb = layers.Dense(4, activation="tanh", name="db")(b)
    merged = layers.Concatenate(name="cat")([xa, xb])
    out = layers.Dense(2, activation="softmax", name="out")(merged)
    return models.Model([a, b], out, name="two_branch")


def multi_head():
    x = Input(shape=(4,), name="x")
    h = layers.Dense(8, activation="relu", name="trunk")(x)
    digit = layers.Dense(3, activation="softmax", name="digit")(h)
    even = layers.Dense(1, activation="sigmoid", name="even")(h)
    return models.Model(x, {"digit": digit, "even": even}, name="multi_head")


def test_symbolic_calls_build_layers_and_infer_shapes():
    x = Input(shape=(5,))
    y = layers.Dense(7)(x)
    assert y.shape == (None, 7)
    model = models.Model(x, y)
    assert model.input_shape == (None, 5) and model.output_shape == (None, 7)
    assert [type(l).__name__ for l in model.layers] == ["InputLayer", "Dense"]
    assert isinstance(models.Sequential(), models.Model)


def test_incompatible_call_names_the_layer_and_the_tensor():
    x = Input(shape=(5,), name="pixels")
    with pytest.raises(ShapeError, match=r"'reshape'.*'pixels' \(None, 5\)"):
        layers.Reshape((2, 2), name="reshape")(x)


def test_two_branch_model_trains_from_lists_and_dicts(blobs):
    x, y = blobs
    model = two_branch()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    labels = (y == 0).astype(np.int64)
    history = model.fit([x[:, :3], x[:, 3:1:-1]], labels, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    as_list = model.predict([x[:, :3], x[:, 3:1:-1]], verbose=0)
    as_dict = model.predict({"a": x[:, :3], "b": x[:, 3:1:-1]}, verbose=0)
    np.testing.assert_array_equal(as_list, as_dict)
    assert as_list.shape == (240, 2)
    assert model.evaluate({"a": x[:, :3], "b": x[:, 3:1:-1]}, labels, verbose=0)[1] > 0.8


def test_wrong_input_structures_are_refused(blobs):
    x, _ = blobs
    model = two_branch()
    with pytest.raises(DataError, match="list of 1 arrays but the model has 2"):
        model.predict([x[:, :3]], verbose=0)
    with pytest.raises(DataError, match="no entry for 'b'"):
        model.predict({"a": x[:, :3]}, verbose=0)
    with pytest.raises(DataError, match="pass x as a list or a dict"):
        model.predict(x, verbose=0)
    with pytest.raises(ShapeError, match=r"x\['b'\]"):
        model.predict({"a": x[:, :3], "b": x[:, :3]}, verbose=0)


def test_multi_head_losses_are_averaged_and_logged_per_output(blobs):
    x, y = blobs
    targets = {"digit": y, "even": (y % 2 == 0).astype(np.float32)[:, None]}
    model = multi_head()
    model.compile(optimizer="adam", loss={"digit": "sparse_categorical_crossentropy", "even": "binary_crossentropy"},
                  metrics={"digit": ["accuracy"], "even": ["accuracy"]})
    logs = model.evaluate(x, targets, verbose=0, batch_size=240, return_dict=True)
    assert set(logs) == {"loss", "digit_loss", "even_loss", "digit_accuracy", "even_accuracy"}
    assert logs["loss"] == pytest.approx((logs["digit_loss"] + logs["even_loss"]) / 2, rel=1e-6)
    history = model.fit(x, targets, epochs=3, verbose=0, validation_split=0.2)
    assert {"val_digit_loss", "val_even_accuracy"} <= set(history.history)
    preds = model.predict(x, verbose=0)
    assert set(preds) == {"digit", "even"} and preds["digit"].shape == (240, 3) and preds["even"].shape == (240, 1)


def test_loss_weights_give_a_weighted_sum(blobs):
    x, y = blobs
    targets = [y, (y % 2 == 0).astype(np.float32)[:, None]]
    x_in = Input(shape=(4,))
    h = layers.Dense(8, activation="relu")(x_in)
    model = models.Model(x_in, [layers.Dense(3, activation="softmax")(h), layers.Dense(1, activation="sigmoid")(h)])
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "binary_crossentropy"],
                  loss_weights=[2.0, 0.5])
    logs = model.evaluate(x, targets, verbose=0, batch_size=240, return_dict=True)
    names = model.output_names
    assert logs["loss"] == pytest.approx(2.0 * logs[f"{names[0]}_loss"] + 0.5 * logs[f"{names[1]}_loss"], rel=1e-6)
    with pytest.raises(ConfigError, match="3 entries but the model has 2 outputs"):
        model.compile(loss=["mse", "mse", "mse"])
    with pytest.raises(ConfigError, match="unknown output 'nope'"):
        model.compile(loss={"nope": "mse"})


def test_a_layer_called_twice_shares_its_weights():
    shared = layers.Dense(3, name="shared")
    a, b = Input(shape=(4,)), Input(shape=(4,))
    model = models.Model([a, b], layers.Add()([shared(a), shared(b)]))
    assert len(model.weights) == 2  # one kernel, one bias
    xa, xb = np.ones((2, 4), np.float32), np.full((2, 4), 2.0, np.float32)
    k, bias = shared.get_weights()
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0), xa @ k + xb @ k + 2 * bias, rtol=1e-6)


def _model_gradients_match_finite_differences(model, xs, y, loss="mse"):
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss=loss)
    xs = model._prepare_x(xs)
    ys = [np.asarray(y, np.float64)]
    model.compute_gradients(xs, ys)
    for p in model.trainable_weights:
        numeric = np.zeros_like(p.value)
        it = np.nditer(p.value, flags=["multi_index"])
        for _ in it:
            i = it.multi_index
            old = p.value[i]
            p.value[i] = old + 1e-6
            up = model.compiled_loss.value(ys, model.predict_step(xs), None)
            p.value[i] = old - 1e-6
            down = model.compiled_loss.value(ys, model.predict_step(xs), None)
            p.value[i] = old
            numeric[i] = (up - down) / 2e-6
        err = np.max(np.abs(numeric - p.grad)) / max(np.max(np.abs(numeric)), 1e-12)
        assert err < 1e-6, f"{p.path}: relative error {err}"


def test_gradients_sum_where_a_tensor_feeds_several_layers(float64):
    rng = np.random.default_rng(0)
    x_in = Input(shape=(3,))
    h = layers.Dense(4, activation="tanh", name="h")(x_in)
    left = layers.Dense(2, activation="sigmoid", name="left")(h)
    right = layers.Dense(2, activation="tanh", name="right")(h)
    shared = layers.Dense(2, name="shared")
    out = layers.Add()([shared(left), shared(right), layers.Dense(2, name="skip")(x_in)])
    model = models.Model(x_in, out)
    _model_gradients_match_finite_differences(model, rng.standard_normal((5, 3)), rng.standard_normal((5, 2)))


def test_graph_errors_name_the_layers():
    a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
    ya = layers.Dense(2, name="from_a")(a)
    yb = layers.Dense(2, name="from_b")(b)
    with pytest.raises(ConfigError, match="Layer 'from_b' uses input 'b', which is not one of the model's inputs"):
        models.Model(a, [ya, yb])
    with pytest.raises(ConfigError, match="Input 'b' is not connected to any output"):
        models.Model([a, b], ya)
    with pytest.raises(ConfigError, match="Output 'c' does not depend on the model's inputs"):
        models.Model(a, Input(shape=(3,), name="c"))
    with pytest.raises(ConfigError, match="two different layers named 'same'"):
        models.Model(a, layers.Dense(2, name="same")(layers.Dense(2, name="same")(a)))
    with pytest.raises(ConfigError, match="must come from Input"):
        models.Model(ya, layers.Dense(1)(ya))


def test_config_cycle_and_dangling_reference_are_refused():
    model = two_branch()
    config = model.get_config()
    da = next(item for item in config["layers"] if item["config"]["name"] == "da")
    da["inbound"] = [[["out", 0, 0]]]  # da now depends on the output: a cycle
    with pytest.raises(ConfigError, match="Layer '.*' cannot be connected"):
        models.Model.from_config(config)
    config = two_branch().get_config()
    config["outputs"] = [["ghost", 0, 0]]
    with pytest.raises(ConfigError, match="no tensor"):
        models.Model.from_config(config)


def test_graph_round_trips_through_files_and_json(tmp_path, blobs):
    x, y = blobs
    model = multi_head()
    targets = {"digit": y, "even": (y % 2 == 0).astype(np.float32)[:, None]}
    model.compile(optimizer="adam", loss={"digit": "sparse_categorical_crossentropy", "even": "binary_crossentropy"},
                  metrics={"digit": ["accuracy"]}, loss_weights={"digit": 1.0, "even": 0.3})
    model.fit(x, targets, epochs=2, verbose=0)
    model.save(tmp_path / "g.dl")
    loaded = models.load_model(tmp_path / "g.dl")
    for key, value in model.predict(x, verbose=0).items():
        np.testing.assert_array_equal(value, loaded.predict(x, verbose=0)[key])
    assert loaded.metrics_names == model.metrics_names
    corelib.set_seed(5)
    model.fit(x, targets, epochs=1, verbose=0)
    corelib.set_seed(5)
    loaded.fit(x, targets, epochs=1, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)

    clone = models.model_from_json(model.to_json())
    assert clone.get_config() == model.get_config()
    model.save_weights(tmp_path / "w.npz")
    clone.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(clone.predict(x, verbose=0)["even"], model.predict(x, verbose=0)["even"])


def test_load_weights_refuses_a_mismatched_file(tmp_path):
    model = two_branch()
    other = models.Sequential([layers.Dense(4, input_shape=(3,))])
    other.save_weights(tmp_path / "w.npz")
    with pytest.raises(corelib.ModelFileError, match="do not match"):
        model.load_weights(tmp_path / "w.npz")


def test_summary_shows_what_each_layer_is_connected_to():
    lines = []
    two_branch().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text
    cat_line = next(l for l in lines if l.startswith("cat (Concatenate)"))
    assert "da[0][0], db[0][0]" in cat_line


def test_get_layer_by_name_and_index():
    model = two_branch()
    assert model.get_layer("cat").name == "cat"
    assert model.get_layer(index=0).name == "a"
    with pytest.raises(ConfigError, match="No layer named 'nope'"):
        model.get_layer("nope")


def test_sequential_accepts_an_input_first_like_keras_3():
    model = models.Sequential([Input(shape=(6,)), layers.Dense(4), layers.Dense(2)])
    assert model.layers[0].input_shape == (None, 6) and model.output_shape == (None, 2)
    assert model.predict(np.ones((3, 6), np.float32), verbose=0).shape == (3, 2)


def test_model_to_dot_has_a_node_per_layer_and_an_edge_per_connection():
    from corelib import utils

    text = utils.model_to_dot(two_branch())
    assert text.startswith('digraph "two_branch" {')
    for name in ("a", "b", "da", "db", "cat", "out"):
        assert f'"{name}" [label=' in text
    for edge in ('"a" -> "da"', '"da" -> "cat"', '"db" -> "cat"', '"cat" -> "out"'):
        assert edge in text
    assert "output: (None, 8)" in text


def test_plot_model_writes_dot_and_png(tmp_path):
    import shutil

    from corelib import utils

    model = two_branch()
    assert utils.plot_model(model, tmp_path / "m.dot") == str(tmp_path / "m.dot")
    assert (tmp_path / "m.dot").read_text().startswith("digraph")
    with pytest.raises(ConfigError, match="writes .dot, .png"):
        utils.plot_model(model, tmp_path / "m.txt")
    if shutil.which("dot") is None:
        with pytest.raises(ConfigError, match="needs Graphviz"):
            utils.plot_model(model, tmp_path / "m.png")
        assert not (tmp_path / "m.png").exists()
    else:
        utils.plot_model(model, tmp_path / "m.png")
        assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) in (["m.dot"], ["m.dot", "m.png"])


class _MaskZeros(corelib.Layer):
    """Test layer: passes x through and masks the time steps that are all zero."""

    def forward(self, x, training=False):
        return x, lambda dy, need_input_grad=True: dy

    def compute_mask(self, x, mask=None):
        return np.any(x != 0, axis=-1)


class _MaskedSum(corelib.Layer):
    """Test layer: sums over time only the steps the mask keeps."""

    accepts_mask = True

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def forward(self, x, training=False, mask=None):
        keep = np.ones(x.shape[:2], bool) if mask is None else mask
        self.seen_mask = mask
        y = (x * keep[..., None]).sum(axis=1)
        return y, lambda dy, need_input_grad=True: np.repeat(dy[:, None, :], x.shape[1], 1) * keep[..., None]


class _PassThrough(corelib.Layer):
    supports_masking = True

    def forward(self, x, training=False):
        return x * 2, lambda dy, need_input_grad=True: dy * 2


def test_masks_flow_from_the_layer_that_makes_them_to_the_layers_that_use_them():
    seq = Input(shape=(4, 3))
    summed = _MaskedSum()(_PassThrough()(_MaskZeros()(seq)))
    model = models.Model(seq, summed)
    x = np.ones((2, 4, 3), np.float32)
    x[0, 2:] = 0.0
    x[1, 1] = 0.0
    out = model.predict(x, verbose=0)
    np.testing.assert_array_equal(out, [[4.0] * 3, [6.0] * 3])
    np.testing.assert_array_equal(model.layers[-1].seen_mask, [[True, True, False, False], [True, False, True, True]])
