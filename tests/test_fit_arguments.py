"""Keras 3's fit / evaluate / predict arguments, checked against hand computations:
validation_freq, validation_steps, steps_per_epoch, evaluate(steps=), predict(steps=),
and compile(weighted_metrics=) beside metrics that ignore sample weights."""

import warnings

import numpy as np
import pytest

import corelib
from corelib import ConfigError, callbacks, layers, models, optimizers
from corelib.callbacks.backup import BackupAndRestore


@pytest.fixture
def regression(float64):
    """x (10, 3), y (10, 1) and validation data (7 samples) for a linear model."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((10, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3 + 0.1 * rng.standard_normal((10, 1))
    xv = rng.standard_normal((7, 3))
    yv = xv @ np.array([[1.0], [-2.0], [0.5]]) + 0.1 * rng.standard_normal((7, 1))
    return x, y, xv, yv


def linear(lr=0.1, metrics=None, weighted_metrics=None, units=1):
    corelib.set_seed(5)
    model = models.Sequential([layers.Dense(units, input_shape=(3,))])
    model.compile(optimizer=optimizers.SGD(learning_rate=lr), loss="mse", metrics=metrics,
                  weighted_metrics=weighted_metrics)
    return model


def mse(weights, x, y):
    kernel, bias = weights
    return float(np.mean((x @ kernel + bias - y) ** 2))


def sgd_by_hand(weights, x, y, batches, lr):
    """Plain SGD on MSE over the given index batches: the gradient of mean((xW + b - y)^2)."""
    kernel, bias = (w.copy() for w in weights)
    for idx in batches:
        residual = x[idx] @ kernel + bias - y[idx]
        d = 2.0 * residual / residual.size
        kernel -= lr * x[idx].T @ d
        bias -= lr * d.sum(axis=0)
    return [kernel, bias]


class WeightsAtEpochEnd(callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = {}

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch] = self.model.get_weights()


# -- validation_freq ----------------------------------------------------------------------


def test_validation_freq_int_validates_every_nth_epoch_counting_from_one(regression):
    x, y, xv, yv = regression
    model = linear()
    seen = WeightsAtEpochEnd()
    history = model.fit(x, y, batch_size=4, epochs=5, validation_data=(xv, yv), validation_freq=2, verbose=0,
                        shuffle=False, callbacks=[seen])
    assert history.epoch == [0, 1, 2, 3, 4]
    assert len(history.history["loss"]) == 5
    expected = [mse(seen.weights[e], xv, yv) for e in (1, 3)]  # the 2nd and 4th epochs
    np.testing.assert_allclose(history.history["val_loss"], expected, rtol=1e-12)


def test_validation_freq_list_names_the_one_based_epochs(regression):
    x, y, xv, yv = regression
    model = linear()
    seen = WeightsAtEpochEnd()
    logged = []

    class Keys(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logged.append("val_loss" in logs)

    history = model.fit(x, y, batch_size=4, epochs=4, validation_data=(xv, yv), validation_freq=[1, 3, 4],
                        verbose=0, callbacks=[seen, Keys()])
    assert logged == [True, False, True, True]
    expected = [mse(seen.weights[e], xv, yv) for e in (0, 2, 3)]
    np.testing.assert_allclose(history.history["val_loss"], expected, rtol=1e-12)
    assert len(history.history["loss"]) == 4


@pytest.mark.parametrize("freq", [0, -1, 1.5, "2", True, None, [0], [1, "a"], [2.0], {1: 1}])
def test_a_bad_validation_freq_is_refused_before_training(regression, freq):
    x, y, xv, yv = regression
    model = linear()
    before = model.get_weights()
    with pytest.raises(ConfigError, match="validation_freq"):
        model.fit(x, y, epochs=2, validation_data=(xv, yv), validation_freq=freq, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


# -- validation_steps, evaluate(steps=), predict(steps=) ---------------------------------------


def test_validation_steps_validates_on_the_first_batches(regression):
    x, y, xv, yv = regression
    model = linear()
    seen = WeightsAtEpochEnd()
    history = model.fit(x, y, batch_size=4, epochs=2, validation_data=(xv, yv), validation_steps=1,
                        validation_batch_size=3, verbose=0, callbacks=[seen])
    expected = [mse(seen.weights[e], xv[:3], yv[:3]) for e in (0, 1)]  # the same 3 samples each time
    np.testing.assert_allclose(history.history["val_loss"], expected, rtol=1e-12)


def test_validation_steps_without_a_batch_size_spreads_the_data_over_the_steps(regression):
    x, y, xv, yv = regression
    model = linear()
    seen = WeightsAtEpochEnd()
    # Keras: no batch size given, so validation batches of ceil(7 / 2) = 4 samples: all 7 are used.
    history = model.fit(x, y, epochs=1, validation_data=(xv, yv), validation_steps=2, verbose=0, callbacks=[seen])
    assert history.history["val_loss"][0] == pytest.approx(mse(seen.weights[0], xv, yv), rel=1e-12)


def test_validation_steps_beyond_the_data_warns_and_uses_it_all(regression):
    x, y, xv, yv = regression
    model = linear(lr=0.0)
    with pytest.warns(UserWarning, match="validation_steps=5.*only 2 batches"):
        history = model.fit(x, y, batch_size=4, epochs=1, validation_data=(xv, yv), validation_steps=5, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(mse(model.get_weights(), xv, yv), rel=1e-12)


def test_evaluate_steps_evaluates_the_first_batches(regression):
    x, y, xv, yv = regression
    model = linear()
    weights = model.get_weights()
    assert model.evaluate(xv, yv, batch_size=2, steps=2, verbose=0) == pytest.approx(mse(weights, xv[:4], yv[:4]),
                                                                                     rel=1e-12)
    # No batch size: ceil(7 / 3) = 3 samples a batch, so the 3 steps cover all the data.
    assert model.evaluate(xv, yv, steps=3, verbose=0) == pytest.approx(mse(weights, xv, yv), rel=1e-12)


def test_predict_steps_predicts_the_first_batches(regression):
    x, y, xv, yv = regression
    model = linear()
    kernel, bias = model.get_weights()
    out = model.predict(xv, batch_size=2, steps=2, verbose=0)
    np.testing.assert_allclose(out, xv[:4] @ kernel + bias, rtol=1e-12)
    np.testing.assert_allclose(model.predict(xv, steps=2, verbose=0), xv @ kernel + bias, rtol=1e-12)


@pytest.mark.parametrize("call", ["fit_steps", "fit_validation", "evaluate", "predict"])
@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_bad_step_counts_are_refused(regression, call, bad):
    x, y, xv, yv = regression
    model = linear()
    with pytest.raises(ConfigError, match=r"steps.* must be a positive int"):
        if call == "fit_steps":
            model.fit(x, y, steps_per_epoch=bad, verbose=0)
        elif call == "fit_validation":
            model.fit(x, y, validation_data=(xv, yv), validation_steps=bad, verbose=0)
        elif call == "evaluate":
            model.evaluate(x, y, steps=bad, verbose=0)
        else:
            model.predict(x, steps=bad, verbose=0)


# -- steps_per_epoch --------------------------------------------------------------------------


def test_steps_per_epoch_continues_through_the_data_across_epochs(regression):
    """5 batches of 2, 2 steps an epoch: epochs 1-3 see batches [0, 1], [2, 3], [4] (the pass
    runs out: a short epoch, warned), then epoch 4 starts a new pass; nothing is cycled."""
    x, y, _, _ = regression
    model = linear()
    start = model.get_weights()
    seen = WeightsAtEpochEnd()
    with pytest.warns(UserWarning, match="steps_per_epoch=2.*5 batches of 2: the last of every 3 epochs ends early"):
        model.fit(x, y, batch_size=2, epochs=4, steps_per_epoch=2, shuffle=False, verbose=0, callbacks=[seen])
    batches = [slice(i, i + 2) for i in range(0, 10, 2)]
    by_epoch = [batches[0:2], batches[2:4], batches[4:5], batches[0:2]]
    weights = start
    for epoch, epoch_batches in enumerate(by_epoch):
        weights = sgd_by_hand(weights, x, y, epoch_batches, 0.1)
        for a, b in zip(weights, seen.weights[epoch]):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


def test_steps_per_epoch_without_a_batch_size_makes_one_pass_of_that_many_batches(regression):
    x, y, _, _ = regression
    model = linear()
    start = model.get_weights()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # ceil(10 / 4) = 3 samples a batch: 4 batches, no short epoch
        model.fit(x, y, epochs=2, steps_per_epoch=4, shuffle=False, verbose=0)
    batches = [slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 10)]
    expected = sgd_by_hand(sgd_by_hand(start, x, y, batches, 0.1), x, y, batches, 0.1)
    for a, b in zip(expected, model.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


def test_steps_per_epoch_beyond_the_data_runs_the_data_once_an_epoch(regression):
    x, y, _, _ = regression
    model = linear()
    start = model.get_weights()
    with pytest.warns(UserWarning, match="every epoch ends early"):
        model.fit(x, y, batch_size=4, epochs=2, steps_per_epoch=9, shuffle=False, verbose=0)
    batches = [slice(0, 4), slice(4, 8), slice(8, 10)]
    expected = sgd_by_hand(sgd_by_hand(start, x, y, batches, 0.1), x, y, batches, 0.1)
    for a, b in zip(expected, model.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


class Recording(models.Sequential):
    """Records the first input column of every training batch (the samples' ids)."""

    def train_step(self, data):
        self.seen.append(data[0][0][:, 0].copy())
        return super().train_step(data)


def test_shuffled_steps_per_epoch_sees_every_sample_once_per_pass(float64):
    ids = np.arange(10.0)[:, None].repeat(3, axis=1)
    y = np.zeros((10, 1))
    model = Recording([layers.Dense(1, input_shape=(3,))])
    model.seen = []
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="mse")
    model.fit(ids, y, batch_size=2, epochs=5, steps_per_epoch=5, verbose=0)  # one pass an epoch
    first = np.concatenate(model.seen[:5])
    assert sorted(first) == list(range(10))
    model.seen = []
    model.fit(ids, y, batch_size=2, epochs=4, steps_per_epoch=3, verbose=0)  # 3 + 2 batches a pass
    assert [len(b) for b in model.seen] == [2] * 10
    passes = [np.concatenate(model.seen[:5]), np.concatenate(model.seen[5:])]
    assert sorted(passes[0]) == sorted(passes[1]) == list(range(10))
    assert not np.array_equal(passes[0], passes[1])  # each pass draws its own shuffle


class InterruptAt(callbacks.Callback):
    def __init__(self, epoch, step):
        super().__init__()
        self.at = (epoch, step)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            self.model.interrupted = self.model.stop_training = True


@pytest.mark.parametrize("save_freq, at", [(False, (1, 0)), (False, (3, 1)), ("epoch", (1, 0)), ("epoch", (2, 0))])
def test_a_run_split_by_steps_per_epoch_resumes_bit_for_bit(tmp_path, save_freq, at):
    """Interrupted inside an epoch that continues a pass (the checkpoint records the pass's
    random state), or after an epoch whose next one continues the pass: the resumed run
    ends with the weights and history of one never interrupted."""
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((50, 3)).astype(np.float32), rng.standard_normal((50, 1)).astype(np.float32)

    def make():
        corelib.set_seed(9)
        model = models.Sequential([layers.Dense(4, activation="relu", input_shape=(3,)), layers.Dropout(0.3),
                                   layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        return model

    def run(model, cbs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return model.fit(x, y, batch_size=8, epochs=6, steps_per_epoch=3, validation_split=0.2, verbose=0,
                             callbacks=cbs)

    reference = make()
    expected = run(reference, []).history
    model = make()
    backup = BackupAndRestore(tmp_path, save_freq=save_freq)
    if save_freq == "epoch":
        class StopAfter(callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == at[0] - 1:
                    self.model.interrupted = self.model.stop_training = True
        run(model, [backup, StopAfter()])
    else:
        run(model, [backup, InterruptAt(*at)])
    assert (tmp_path / "checkpoint.dl").exists()
    corelib.set_seed(123)  # the resumed run must not depend on the random state it starts in
    resumed = make()
    second = BackupAndRestore(tmp_path, save_freq=save_freq)
    run(resumed, [second])
    assert second.resumed_from is not None
    for a, b in zip(reference.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert second.history == expected


# -- weighted_metrics ---------------------------------------------------------------------------


@pytest.fixture
def weighted_data(float64):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((12, 3))
    y = rng.standard_normal((12, 2))
    w = rng.uniform(0.0, 3.0, 12)
    return x, y, w


def test_metrics_ignore_sample_weights_and_weighted_metrics_use_them(weighted_data):
    x, y, w = weighted_data
    model = linear(metrics=["mae"], weighted_metrics=["mae", "mse"], units=2)
    logs = model.evaluate(x, y, sample_weight=w, batch_size=5, verbose=0, return_dict=True)
    err = model.predict(x, verbose=0) - y
    per_sample_abs, per_sample_sq = np.abs(err).mean(axis=1), (err ** 2).mean(axis=1)
    assert list(logs) == ["loss", "mae", "weighted_mae", "mse"]
    assert model.metrics_names == list(logs)
    assert logs["mae"] == pytest.approx(per_sample_abs.mean(), rel=1e-12)
    assert logs["weighted_mae"] == pytest.approx((w * per_sample_abs).sum() / w.sum(), rel=1e-12)
    assert logs["mse"] == pytest.approx((w * per_sample_sq).sum() / w.sum(), rel=1e-12)
    assert logs["loss"] == pytest.approx((w * per_sample_sq).sum() / len(x), rel=1e-12)  # sum_over_batch_size


def test_weighted_metrics_without_weights_equal_the_plain_ones(weighted_data):
    x, y, _ = weighted_data
    model = linear(metrics=["mae"], weighted_metrics=["mae"], units=2)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["weighted_mae"] == pytest.approx(logs["mae"], rel=1e-12)


def test_weighted_metrics_in_fit_use_class_weight_and_sample_weight(float64):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((20, 3))
    labels = rng.integers(0, 3, 20)
    w = rng.uniform(0.5, 2.0, 20)
    corelib.set_seed(2)
    model = models.Sequential([layers.Dense(3, activation="softmax", input_shape=(3,))])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], weighted_metrics=["accuracy"])
    class_weight = {0: 1.0, 1: 4.0, 2: 0.5}
    history = model.fit(x, labels, batch_size=6, epochs=1, sample_weight=w, class_weight=class_weight,
                        validation_data=(x, labels, w), verbose=0)
    correct = (model.predict(x, verbose=0).argmax(axis=1) == labels).astype(float)
    combined = w * np.array([class_weight[int(c)] for c in labels])
    logs = {k: v[0] for k, v in history.history.items()}
    assert logs["accuracy"] == pytest.approx(correct.mean(), rel=1e-12)
    assert logs["weighted_accuracy"] == pytest.approx((combined * correct).sum() / combined.sum(), rel=1e-12)
    assert logs["val_accuracy"] == pytest.approx(correct.mean(), rel=1e-12)
    assert logs["val_weighted_accuracy"] == pytest.approx((w * correct).sum() / w.sum(), rel=1e-12)


def test_weighted_metric_names_follow_keras_with_several_outputs_and_repeats(float64):
    a = corelib.Input(shape=(3,), name="a")
    out1 = layers.Dense(2, name="first")(a)
    out2 = layers.Dense(1, name="second")(a)
    model = models.Model(a, [out1, out2])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae", "mae"], weighted_metrics=["mae"])
    assert model.metrics_names == [
        "loss", "first_loss", "second_loss",
        "first_mae", "first_mae_1", "second_mae", "second_mae_1",
        "first_weighted_mae", "second_weighted_mae",
    ]
    only_weighted = linear(weighted_metrics=["mae"])
    assert only_weighted.metrics_names == ["loss", "mae"]


def test_one_metric_object_cannot_be_both_plain_and_weighted():
    from corelib import metrics

    mae = metrics.get("mae")
    with pytest.raises(ConfigError, match="given twice"):
        linear(metrics=[mae], weighted_metrics=[mae])


def test_weighted_metrics_are_in_the_compile_config(weighted_data):
    model = linear(metrics=["mae"], weighted_metrics=["mse"], units=2)
    config = model.compiled_loss.get_config()
    assert config["metrics"] == {model.output_names[0]: ["mae"]}
    assert config["weighted_metrics"] == {model.output_names[0]: ["mse"]}
    assert "weighted_metrics" not in linear(metrics=["mae"]).compiled_loss.get_config()


def test_a_checkpoint_mid_epoch_keeps_the_weighted_metric_state(tmp_path, weighted_data):
    x, y, w = weighted_data

    def run(cbs):
        model = linear(metrics=["mae"], weighted_metrics=["mae"], units=2)
        return model.fit(x, y, sample_weight=w, batch_size=4, epochs=2, verbose=0, callbacks=cbs).history

    expected = run([])
    run([BackupAndRestore(tmp_path, save_freq=False), InterruptAt(1, 0)])
    resumed = BackupAndRestore(tmp_path, save_freq=False)
    run([resumed])
    for key in ("loss", "mae", "weighted_mae"):
        assert resumed.history[key] == pytest.approx(expected[key], rel=1e-12)
