"""Regression tests of saving and weight-setting defects:

- a model compiled but never trained (stateful optimizer) saved, then refused on load;
- load_weights matched layers by their generated names, so the same architecture built
  twice in one process could not load its own weights;
- Model.set_weights wrote the layers before a bad array further on was found.
"""

import json
import zipfile

import numpy as np
import pytest

import corelib
from corelib import DataError, ModelFileError, ShapeError, callbacks, layers, models, optimizers
from corelib.callbacks.backup import BackupAndRestore

OPTIMIZERS = {
    "adam": lambda: optimizers.get("adam"),
    "rmsprop": lambda: optimizers.get("rmsprop"),
    "adagrad": lambda: optimizers.get("adagrad"),
    "nadam": lambda: optimizers.get("nadam"),
    "sgd_momentum": lambda: optimizers.get({"class_name": "SGD", "config": {"momentum": 0.9}}),
}


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    return x, rng.integers(0, 3, 40)


def mlp(seed=3):
    corelib.set_seed(seed)
    return models.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)), layers.Dropout(0.2),
                              layers.Dense(3, activation="softmax")])


def same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(np.array_equal(u, v) for u, v in zip(wa, wb))


# -- a compiled, untrained model saves and loads ----------------------------------------------


def _train_both(original, loaded, data):
    x, y = data
    corelib.set_seed(21)
    original.fit(x, y, batch_size=8, epochs=2, verbose=0)
    corelib.set_seed(21)
    loaded.fit(x, y, batch_size=8, epochs=2, verbose=0)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_compiled_untrained_model_with_a_stateful_optimizer_saves_and_loads(tmp_path, data, name):
    model = mlp()
    model.compile(optimizer=OPTIMIZERS[name](), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.save(tmp_path / "m.dl")
    loaded = models.load_model(tmp_path / "m.dl")
    assert loaded.optimizer.iterations == 0
    assert type(loaded.optimizer) is type(model.optimizer)
    assert same_weights(model, loaded)
    _train_both(model, loaded, data)
    assert same_weights(model, loaded)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 10


@pytest.mark.parametrize("how", ["fit_epochs_0", "second_compile"])
def test_models_whose_optimizer_never_stepped_save_and_load(tmp_path, data, how):
    x, y = data
    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    if how == "fit_epochs_0":
        model.fit(x, y, epochs=0, verbose=0)
    else:
        model.fit(x, y, epochs=1, verbose=0)
        model.compile(optimizer="nadam", loss="sparse_categorical_crossentropy")
    model.save(tmp_path / "m.dl")
    loaded = models.load_model(tmp_path / "m.dl")
    assert loaded.optimizer.iterations == 0 and same_weights(model, loaded)
    _train_both(model, loaded, data)
    assert same_weights(model, loaded)


def test_the_state_of_a_stepped_optimizer_is_still_checked(data):
    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="state does not match"):
        model.optimizer.set_state(model.trainable_weights, {"iterations": np.array(3)})
    with pytest.raises(ValueError, match="state does not match"):
        model.optimizer.set_state(model.trainable_weights, {"iterations": np.array(0), "velocity": np.ones(2)})


def test_an_unbuilt_state_resets_a_trained_optimizer(data):
    x, y = data
    model = mlp()
    model.compile(optimizer="nadam", loss="sparse_categorical_crossentropy")
    fresh = model.optimizer.get_state()
    model.fit(x, y, epochs=1, verbose=0)
    model.optimizer.set_state(model.trainable_weights, fresh)
    assert model.optimizer.iterations == 0
    assert model.optimizer.get_state().keys() == fresh.keys()


# -- load_weights matches by structure --------------------------------------------------------------


def two_branch():
    a = corelib.Input(shape=(4,))
    left = layers.Dense(5, activation="relu")(a)
    right = layers.Dense(3)(a)
    merged = layers.Concatenate()([left, right])
    return models.Model(a, layers.Dense(2)(merged))


@pytest.mark.parametrize("build", [mlp, two_branch])
@pytest.mark.parametrize("kind", ["weights", "model file"])
def test_the_same_architecture_built_twice_loads_its_own_weights(tmp_path, build, kind):
    first = build()
    second = build()
    assert [p.path for p in first.weights] != [p.path for p in second.weights]  # dense, dense_1 vs dense_2, ...
    for p in first.weights:
        p.value[...] = np.random.default_rng(len(p.path)).standard_normal(p.value.shape)
    if kind == "weights":
        first.save_weights(tmp_path / "w.npz")
        second.load_weights(tmp_path / "w.npz")
    else:
        first.save(tmp_path / "m.dl")
        second.load_weights(tmp_path / "m.dl")
    assert same_weights(first, second)
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(first.predict(x, verbose=0), second.predict(x, verbose=0))


def other_dense(units):
    """A layer with a Dense's weights under another class, OtherDense."""
    return type("OtherDense", (layers.Dense,), {})(units)


@pytest.mark.parametrize("make_other, message", [
    (lambda: models.Sequential([layers.Dense(8, input_shape=(4,)), layers.Dense(2)]),
     r"weight 2 is Dense 'dense_1/kernel' float32\[8, 3\] in the file, but Dense 'dense_\d+/kernel' "
     r"float32\[8, 2\]"),
    (lambda: models.Sequential([layers.Dense(8, input_shape=(4,)), other_dense(3)]),
     r"weight 2 is Dense 'dense_1/kernel' .* but OtherDense 'other_dense\w*/kernel'"),
    (lambda: models.Sequential([layers.Dense(8, input_shape=(4,))]),
     r"the file holds 4 weight arrays, model '\w+' has 2 \(first unexpected: 'dense_1/kernel'\)"),
    (lambda: models.Sequential([layers.Dense(8, input_shape=(4,)), layers.Dense(3), layers.Dense(1)]),
     r"the file holds 4 weight arrays, model '\w+' has 6 \(first missing: 'dense_\d+/kernel'\)"),
    (lambda: models.Sequential([layers.Dense(8, input_shape=(4,), use_bias=False), layers.Dense(8),
                                layers.Dense(3, use_bias=False)]),
     r"weight 1 is Dense 'dense/bias' float32\[8\] in the file, but Dense 'dense_\d+/kernel' float32\[8, 8\]"),
])
def test_a_structural_mismatch_names_the_first_weight_that_differs_and_writes_nothing(tmp_path, make_other,
                                                                                     message):
    mlp().save_weights(tmp_path / "w.npz")
    other = make_other()
    before = other.get_weights()
    with pytest.raises(ModelFileError, match="the weights do not match the model: " + message):
        other.load_weights(tmp_path / "w.npz")
    assert all(np.array_equal(a, b) for a, b in zip(before, other.get_weights()))


def test_a_weights_file_records_its_order_and_classes_and_numpy_still_reads_it(tmp_path):
    model = mlp()
    model.save_weights(tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz") as npz:
        index = json.loads(npz["__dl_weights__"].tobytes())
        assert index["weights"] == [p.path for p in model.weights]
        assert index["classes"] == ["Dense", "Dense", "Dense", "Dense"]
        np.testing.assert_array_equal(npz[model.weights[0].path], model.weights[0].value)


def test_an_old_weights_file_without_an_index_still_loads(tmp_path):
    model = mlp()
    for p in model.weights:
        p.value[...] = 0.5 + p.value
    target = mlp()
    np.savez(tmp_path / "by_name.npz", **{q.path: p.value for p, q in zip(reversed(model.weights),
                                                                        reversed(target.weights))})
    target.load_weights(tmp_path / "by_name.npz")  # the target's own names, reversed: matched by name
    assert same_weights(model, target)
    again = mlp()
    np.savez(tmp_path / "in_order.npz", **{p.path: p.value + 1 for p in model.weights})
    again.load_weights(tmp_path / "in_order.npz")  # other names: in the file's order
    assert all(np.array_equal(a, b + 1) for a, b in zip(again.get_weights(), model.get_weights()))


def test_a_corrupt_index_is_refused(tmp_path):
    model = mlp()
    np.savez(tmp_path / "bad.npz", **{p.path: p.value for p in model.weights},
             __dl_weights__=np.frombuffer(b"{not json", dtype=np.uint8))
    with pytest.raises(ModelFileError, match="index is corrupt"):
        mlp().load_weights(tmp_path / "bad.npz")
    np.savez(tmp_path / "lying.npz", **{p.path: p.value for p in model.weights},
             __dl_weights__=np.frombuffer(json.dumps({"format": "dl-weights", "weights": ["x/kernel"]}).encode(),
                                          dtype=np.uint8))
    with pytest.raises(ModelFileError, match="does not name its arrays"):
        mlp().load_weights(tmp_path / "lying.npz")


def test_a_checkpoint_resumes_into_the_same_architecture_built_again(tmp_path, data):
    x, y = data

    class StopAt(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if (self.epoch, batch) == (1, 2):
                self.model.interrupted = self.model.stop_training = True

    def run(cbs):
        model = mlp()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=cbs)
        return model

    reference = run([])
    run([BackupAndRestore(tmp_path, save_freq=False), StopAt()])
    resumed = run([BackupAndRestore(tmp_path, save_freq=False)])  # names differ from the checkpoint's
    assert same_weights(reference, resumed)


def test_a_checkpoint_of_another_layer_class_is_refused(tmp_path, data):
    x, y = data
    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[BackupAndRestore(tmp_path, delete_checkpoint=False)])
    corelib.set_seed(3)
    other = models.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)), other_dense(3)])
    other.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ModelFileError, match=r"weight 2 \('dense_1/kernel'\) belongs to a Dense there, but "
                                             r"'other_dense\w*/kernel' to a OtherDense here"):
        other.fit(x, y, epochs=1, verbose=0, callbacks=[BackupAndRestore(tmp_path)])


def test_a_model_file_records_the_layer_class_of_each_weight(tmp_path):
    model = two_branch()
    model.save(tmp_path / "m.dl")
    with zipfile.ZipFile(tmp_path / "m.dl") as zf:
        doc = json.loads(zf.read("config.json"))
    assert doc["weights"] == [p.path for p in model.weights]
    assert doc["weight_classes"] == [type(p.layer).__name__ for p in model.weights]


# -- Model.set_weights is all or nothing ----------------------------------------------------------


@pytest.mark.parametrize("bad, error, message", [
    (np.zeros((5, 3), np.float32), ShapeError, r"array 2 \(weight 'dense_1/kernel'\) must have shape \(8, 3\)"),
    (np.full((8, 3), np.nan, np.float32), DataError, "array 2 .* contains NaN"),
    (np.full((8, 3), "a"), DataError, "array 2 .* must be numeric and convertible to float32"),
    (np.ones((8, 3), complex), DataError, "array 2 .* must be numeric"),
    ([[1, 2], [3]], DataError, "array 2 .* is not an array"),
])
def test_set_weights_checks_every_array_before_writing_any(bad, error, message):
    model = mlp()
    before = model.get_weights()
    new = [w + 1 for w in before]
    new[2] = bad
    with pytest.raises(error, match=message):
        model.set_weights(new)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_set_weights_refuses_the_wrong_count_and_accepts_a_good_list():
    model = mlp()
    before = model.get_weights()
    with pytest.raises(DataError, match="has 4 weight arrays, received 3"):
        model.set_weights(before[:3])
    new = [(w + 1).astype(np.float64) for w in before]  # float64 arrays into float32 weights: converted
    model.set_weights(new)
    assert all(np.array_equal(a.astype(np.float32), b) for a, b in zip(new, model.get_weights()))
    model.set_weights([np.ones_like(w, dtype=np.int64) for w in before])  # ints convert too
    assert all(np.array_equal(w, np.ones_like(w)) for w in model.get_weights())
