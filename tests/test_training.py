"""compile / fit / evaluate / predict and the single-batch methods."""

import numpy as np
import pytest

import corelib
from corelib import ConfigError, DataError, ShapeError, layers, models, optimizers


def make_mlp(inputs=4, classes=3, activation="softmax"):
    model = models.Sequential()
    model.add(layers.Dense(16, activation="relu", input_shape=(inputs,)))
    model.add(layers.Dense(classes, activation=activation))
    return model


def test_fit_learns_a_separable_problem_and_history_has_keras_keys(blobs):
    x, y = blobs
    model = make_mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=16, validation_split=0.25, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 15 and history.epoch == list(range(15))
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.9
    assert model.history is history


def test_seed_idiom_with_one_hot_targets_runs_end_to_end(blobs):
    x, y = blobs
    y1 = corelib.utils.to_categorical(y, 3)
    model = make_mlp()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y1, epochs=5, batch_size=32, validation_split=0.2, verbose=0)
    loss, acc = model.evaluate(x, y1, verbose=0)
    assert 0 <= loss < 1.5 and 0 <= acc <= 1
    assert model.predict(x, verbose=0).shape == (240, 3)
    logs = model.evaluate(x, y1, verbose=0, return_dict=True)
    assert logs == {"loss": pytest.approx(loss), "accuracy": pytest.approx(acc)}


def test_evaluate_without_metrics_returns_a_float(blobs):
    x, y = blobs
    model = make_mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert isinstance(model.evaluate(x, y, verbose=0), float)


def test_training_is_bit_for_bit_repeatable_under_set_seed(blobs):
    x, y = blobs

    def run():
        corelib.set_seed(7)
        model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(4,)),
                                   layers.Dropout(0.3), layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=3, batch_size=10, verbose=0)
        return model.get_weights()

    first, second = run(), run()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_validation_split_takes_the_last_samples_before_shuffling(blobs):
    x, y = blobs
    model = make_mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    h1 = model.fit(x, y, epochs=1, validation_split=0.25, verbose=0, shuffle=False)
    val_loss_split = h1.history["val_loss"][0]
    # The same validation loss must come from evaluating the last quarter explicitly.
    model2 = make_mlp()
    model2.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model2.set_weights([w for w in model.get_weights()])
    assert model2.evaluate(x[180:], y[180:], verbose=0) == pytest.approx(val_loss_split, rel=1e-6)


def test_validation_data_is_reported(blobs):
    x, y = blobs
    model = make_mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
    h = model.fit(x[:200], y[:200], validation_data=(x[200:], y[200:]), epochs=2, verbose=0)
    assert set(h.history) == {"loss", "acc", "val_loss", "val_acc"}


def test_sample_weight_zero_removes_samples_from_the_loss(blobs):
    x, y = blobs
    model = make_mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    w = np.zeros(len(x), np.float32)
    w[:100] = 1.0
    weighted = model.evaluate(x, y, sample_weight=w, batch_size=len(x), verbose=0)
    plain = model.evaluate(x[:100], y[:100], batch_size=100, verbose=0)
    # Keras averages over all samples in the batch, zero weights included.
    assert weighted == pytest.approx(plain * 100 / len(x), rel=1e-5)


def test_class_weight_scales_the_loss_of_a_class(blobs):
    x, y = blobs
    model = make_mlp()
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy")
    base = model.train_on_batch(x, y)
    doubled = model.train_on_batch(x, y, class_weight={0: 2.0, 1: 2.0, 2: 2.0})
    assert doubled == pytest.approx(2 * base, rel=1e-5)


def test_single_batch_methods(blobs):
    x, y = blobs
    model = make_mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, acc = model.train_on_batch(x[:32], y[:32])
    assert loss > 0 and 0 <= acc <= 1
    assert set(model.test_on_batch(x[:32], y[:32], return_dict=True)) == {"loss", "accuracy"}
    out = model.predict_on_batch(x[:5])
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(out, model.predict(x[:5], verbose=0))


def test_predict_result_is_not_overwritten_by_later_calls(blobs):
    x, _ = blobs
    model = make_mlp()
    first = model.predict(x[:8], verbose=0)
    keep = first.copy()
    model.predict(x[8:16], verbose=0)
    np.testing.assert_array_equal(first, keep)


def test_errors_for_bad_data(blobs):
    x, y = blobs
    model = make_mlp()
    with pytest.raises(ConfigError, match="compile"):
        model.fit(x, y, verbose=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(DataError, match="x has 240, y has 239"):
        model.fit(x, y[:-1], verbose=0)
    with pytest.raises(DataError, match="numeric"):
        model.fit(np.array([["a"] * 4] * 3), y[:3], verbose=0)
    with pytest.raises(ShapeError, match=r"\(240, 5\).*\(None, 4\)"):
        model.fit(np.ones((240, 5), np.float32), y, verbose=0)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        model.fit(bad, y, verbose=0)
    with pytest.raises(ConfigError, match="batch_size"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(DataError, match="validation_split"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(DataError, match="integer class labels"):
        model.fit(x, y + 0.5, verbose=0)


def test_regularizer_penalty_is_added_to_the_loss(blobs):
    x, y = blobs
    plain = models.Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    reg = models.Sequential([layers.Dense(3, activation="softmax", input_shape=(4,), kernel_regularizer="l2")])
    reg.set_weights(plain.get_weights())
    for m in (plain, reg):
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    kernel = plain.get_weights()[0].astype(np.float64)
    expected = plain.evaluate(x, y, verbose=0) + 0.01 * np.sum(kernel**2)
    assert reg.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_mlp_training_matches_pytorch_step_for_step():
    torch = pytest.importorskip("torch")
    corelib.set_floatx("float64")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20, 6))
    y = rng.integers(0, 4, size=20)
    model = models.Sequential([layers.Dense(8, activation="tanh", input_shape=(6,)),
                               layers.Dense(4, activation="softmax")])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
    w1, b1, w2, b2 = model.get_weights()
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(w1.T)); net[0].bias.copy_(torch.from_numpy(b1))
        net[2].weight.copy_(torch.from_numpy(w2.T)); net[2].bias.copy_(torch.from_numpy(b2))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for step in range(4):
        sl = slice(5 * step, 5 * step + 5)
        ours = model.train_on_batch(x[sl], y[sl])
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(x[sl])), torch.from_numpy(y[sl]))
        loss.backward()
        opt.step()
        assert ours == pytest.approx(loss.item(), rel=1e-10)
    # Keras's momentum (v = m v - lr g) and PyTorch's (v = m v + g; p -= lr v) coincide for constant lr.
    got = model.get_weights()
    np.testing.assert_allclose(got[0], net[0].weight.detach().numpy().T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[3], net[2].bias.detach().numpy(), rtol=1e-10, atol=1e-12)
