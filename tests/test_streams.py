"""fit / evaluate / predict on batches that arrive one at a time: generators, iterables of
batches and PyDataset (threads and processes): the same training as from arrays, Keras's
rules for steps and exhaustion, and errors that name the batch."""

import os
import warnings

import numpy as np
import pytest

from corelib import callbacks, config, layers, models, utils
from corelib.callbacks.backup import BackupAndRestore
from corelib.errors import ConfigError, DataError, DLError

N, B = 64, 16


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, 4)).astype(np.float32)
    return x, (x.sum(1) > 0).astype(np.int64)


def make_model(dropout=False):
    utils.set_random_seed(1)
    model = models.Sequential([layers.Input((4,)), layers.Dense(8, activation="relu")]
                              + ([layers.Dropout(0.3)] if dropout else [])
                              + [layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class Batches(utils.PyDataset):
    """The data in batches of B, in order; records which indices were asked for."""

    def __init__(self, x, y, sw=None, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.sw = x, y, sw
        self.asked, self.epochs_ended = [], 0

    def __len__(self):
        return -(-len(self.x) // B)

    def __getitem__(self, i):
        self.asked.append(i)
        part = slice(i * B, (i + 1) * B)
        return (self.x[part], self.y[part]) if self.sw is None else (self.x[part], self.y[part], self.sw[part])

    def on_epoch_end(self):
        self.epochs_ended += 1


class Reiterable:
    """An iterable whose every iter() is a new pass, with a length (as a torch DataLoader)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return -(-len(self.x) // B)

    def __iter__(self):
        return ((self.x[i:i + B], self.y[i:i + B]) for i in range(0, len(self.x), B))


def generator(x, y, passes=1):
    for _ in range(passes):
        for i in range(0, len(x), B):
            yield x[i:i + B], y[i:i + B]


def reference(data, epochs=3, **kwargs):
    model = make_model()
    history = model.fit(*data, batch_size=B, epochs=epochs, shuffle=False, verbose=0, **kwargs)
    return model, history.history


@pytest.mark.parametrize("source", ["generator", "iterable", "pydataset", "threads", "processes"])
def test_a_stream_trains_exactly_as_the_same_batches_from_arrays(data, source):
    want_model, want = reference(data)
    x, y = data
    make = {"generator": lambda: generator(x, y, passes=3), "iterable": lambda: Reiterable(x, y),
            "pydataset": lambda: Batches(x, y), "threads": lambda: Batches(x, y, workers=3, max_queue_size=2),
            "processes": lambda: Batches(x, y, workers=2, use_multiprocessing=True)}[source]
    model = make_model()
    steps = {"steps_per_epoch": N // B} if source == "generator" else {}
    history = model.fit(make(), epochs=3, shuffle=False, verbose=0, **steps)
    assert history.history == want
    for got, expected in zip(model.get_weights(), want_model.get_weights()):
        np.testing.assert_array_equal(got, expected)


def test_sample_and_class_weights_in_batches_match_arrays(data):
    x, y = data
    sw = np.linspace(0.5, 2.0, N).astype(np.float32)
    _, want = reference(data, sample_weight=sw, class_weight={0: 1.0, 1: 3.0})
    model = make_model()
    got = model.fit(Batches(x, y, sw), epochs=3, shuffle=False, verbose=0, class_weight={0: 1.0, 1: 3.0})
    assert got.history == want


def test_a_pydataset_is_read_in_a_shuffled_batch_order_repeatable_by_seed(data):
    x, y = data
    orders = []
    for _ in range(2):
        ds = Batches(x, y)
        make_model().fit(ds, epochs=2, verbose=0)  # shuffle=True, as Keras's default
        orders.append(ds.asked)
        assert ds.epochs_ended == 2
    assert orders[0] == orders[1]
    assert sorted(orders[0][:4]) == [0, 1, 2, 3] and orders[0] != [0, 1, 2, 3, 0, 1, 2, 3]


def test_a_finite_generator_without_steps_trains_one_pass_then_stops_with_keras_warning(data):
    model = make_model()
    with pytest.warns(UserWarning, match="Your input ran out of data; interrupting training"):
        history = model.fit(generator(*data), epochs=3, verbose=0)
    _, want = reference(data, epochs=1)
    assert history.history == want


def test_a_generator_that_runs_out_mid_epoch_ends_that_epoch_and_stops(data):
    model = make_model()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(generator(*data), epochs=5, steps_per_epoch=3, verbose=0)
    assert len(history.history["loss"]) == 2  # 3 + 1 of the 4 batches


def test_steps_per_epoch_splits_an_iterable_pass_and_the_next_pass_starts_fresh(data):
    x, y = data
    ds = Batches(x, y)
    make_model().fit(ds, epochs=4, steps_per_epoch=2, shuffle=False, verbose=0)
    assert ds.asked == [0, 1, 2, 3, 0, 1, 2, 3] and ds.epochs_ended == 2


def test_a_pydataset_without_length_needs_steps_per_epoch(data):
    class Endless(utils.PyDataset):
        def __getitem__(self, i):
            return data[0][:B], data[1][:B]

    with pytest.raises(ConfigError, match=r"without a length \(endless\): give steps_per_epoch"):
        make_model().fit(Endless(), epochs=1, verbose=0)
    history = make_model().fit(Endless(), epochs=2, steps_per_epoch=3, verbose=0)
    assert len(history.history["loss"]) == 2


def test_validation_evaluate_and_predict_take_streams(data):
    x, y = data
    model, want = reference(data, validation_data=(x, y))
    got = make_model().fit(Batches(x, y), epochs=3, shuffle=False, verbose=0, validation_data=Reiterable(x, y))
    assert got.history == want
    assert model.evaluate(Batches(x, y), verbose=0) == model.evaluate(x, y, verbose=0)
    assert model.evaluate(generator(x, y), steps=2, verbose=0) == model.evaluate(x[:2 * B], y[:2 * B], verbose=0)
    np.testing.assert_array_equal(model.predict(generator(x, y), verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(model.predict((b for b, _ in generator(x, y)), steps=1, verbose=0),
                                  model.predict(x[:B], verbose=0))


def test_validation_steps_take_the_first_batches_of_a_fresh_pass_each_time(data):
    x, y = data
    val = Batches(x, y)
    make_model().fit(Batches(x, y), epochs=2, shuffle=False, verbose=0, validation_data=val, validation_steps=2)
    assert val.asked == [0, 1, 0, 1]


def test_several_inputs_and_outputs_come_as_dicts(data):
    x, y = data
    a, b = layers.Input((2,), name="a"), layers.Input((2,), name="b")
    h = layers.Dense(4, activation="relu")(layers.Concatenate()([a, b]))
    model = models.Model([a, b], {"cls": layers.Dense(2, activation="softmax", name="cls")(h),
                                  "reg": layers.Dense(1, name="reg")(h)})
    model.compile("sgd", {"cls": "sparse_categorical_crossentropy", "reg": "mse"})
    batches = [({"a": x[i:i + B, :2], "b": x[i:i + B, 2:]}, {"cls": y[i:i + B], "reg": x[i:i + B, :1]})
               for i in range(0, N, B)]
    config.set_seed(3)
    history = model.fit(iter(batches), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    out = model.predict(iter([b[0] for b in batches]), verbose=0)
    assert out["cls"].shape == (N, 2) and out["reg"].shape == (N, 1)


def test_resumed_from_a_checkpoint_mid_epoch_a_pydataset_run_is_bit_for_bit(tmp_path, data):
    x, y = data

    class StopAt(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if (self.epoch, batch) == (1, 0):
                self.model.interrupted = self.model.stop_training = True

    def run(cbs):
        model = make_model(dropout=True)
        history = model.fit(Batches(x, y, workers=2), epochs=3, steps_per_epoch=2, verbose=0, callbacks=cbs)
        return model, history

    want_model, _ = run([])
    backup = BackupAndRestore(tmp_path / "ck", save_freq=False)
    run([backup, StopAt()])
    config.set_seed(999)
    again = BackupAndRestore(tmp_path / "ck", save_freq=False)
    model, _ = run([again])
    assert (again.resumed_from.epoch, again.resumed_from.step) == (1, 1)
    for got, want in zip(model.get_weights(), want_model.get_weights()):
        np.testing.assert_array_equal(got, want)


# -- bad input ----------------------------------------------------------------------------


def _batches(data, bad_at, bad):
    x, y = data
    for i in range(4):
        yield bad if i == bad_at else (x[i * B:(i + 1) * B], y[i * B:(i + 1) * B])


@pytest.mark.parametrize("bad, message", [
    ((np.ones((B, 5), np.float32), np.zeros(B, np.int64)),
     r"batch 2: x has shape \(16, 5\), but the model expects input of shape \(None, 4\)"),
    ((np.ones((0, 4), np.float32), np.zeros(0, np.int64)), r"batch 2: x has no samples"),
    ((np.ones((B, 4), np.int64), np.zeros(B, np.int64)), r"batch 2 of a generator: array 0 of the batch holds "
                                                         r"integers, but the first batch's held floats"),
    ((np.ones((B, 4), np.float32), np.zeros(B + 1, np.int64)), r"batch 2: x and batch 2: y have different numbers"),
    (np.ones((B, 4), np.float32), r"batch 2: a batch for training or evaluation must be \(x, y\)"),
    ((1, 2, 3, 4), r"a tuple of 4 items"),
], ids=["shape", "empty", "dtype", "counts", "no-targets", "four-items"])
def test_a_bad_batch_mid_epoch_is_refused_naming_it(data, bad, message):
    with pytest.raises(DLError, match=message):
        make_model().fit(_batches(data, 2, bad), epochs=1, verbose=0)


def test_a_generator_that_raises_is_reported_with_the_batch_index(data):
    def failing():
        yield data[0][:B], data[1][:B]
        raise OSError("disk gone")

    with pytest.raises(DataError, match=r"x, a generator, raised OSError: disk gone while producing batch 1") as info:
        make_model().fit(failing(), epochs=1, verbose=0)
    assert isinstance(info.value.__cause__, OSError)


def test_a_pydataset_that_raises_in_a_worker_is_reported_with_the_batch_index(data):
    class Broken(Batches):
        def __getitem__(self, i):
            if i == 2:
                raise KeyError("row 40")
            return super().__getitem__(i)

    for kwargs in ({}, {"workers": 2}, {"workers": 2, "use_multiprocessing": True}):
        with pytest.raises(DataError, match=r"a PyDataset \(Broken\), raised KeyError: 'row 40' while producing "
                                            r"batch 2"):
            make_model().fit(Broken(*data, **kwargs), epochs=1, shuffle=False, verbose=0)


@pytest.mark.parametrize("kwargs, message", [
    ({"y": np.zeros(N)}, "y is not supported when x is a generator"),
    ({"sample_weight": np.ones(N)}, "sample_weight is not supported when x is a generator"),
    ({"validation_split": 0.2}, "validation_split is not supported when x is a generator"),
])
def test_arguments_a_stream_carries_itself_are_refused(data, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        make_model().fit(generator(*data), epochs=1, verbose=0, **kwargs)


def test_worker_settings_are_checked(data):
    with pytest.raises(ConfigError, match="PyDataset workers must be a positive int"):
        make_model().fit(Batches(*data, workers=0), epochs=1, verbose=0)


def test_arrays_and_array_likes_are_not_streams():
    from corelib.trainers.streams import is_stream

    assert not any(is_stream(v) for v in (np.zeros(3), [np.zeros(3)], {"a": np.zeros(3)}, (1, 2), None))
    assert all(is_stream(v) for v in (iter([]), (i for i in []), Reiterable(np.zeros((1, 4)), np.zeros(1))))


def test_no_warning_for_a_stream_that_fits_its_epochs(data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_model().fit(generator(*data, passes=2), epochs=2, steps_per_epoch=4, verbose=0)
        make_model().fit(Reiterable(*data), epochs=2, verbose=0)


# -- other libraries' loaders --------------------------------------------------------------


def test_a_pytorch_dataloader_trains_as_the_same_batches_from_arrays(data):
    torch = pytest.importorskip("torch")
    x, y = data
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                         batch_size=B, shuffle=False)
    _, want = reference(data)
    assert make_model().fit(loader, epochs=3, verbose=0).history == want


def test_a_hugging_face_dataset_iterator_trains_as_the_same_batches_from_arrays(data):
    hf = pytest.importorskip("datasets")
    x, y = data
    table = hf.Dataset.from_dict({"features": x, "label": y}).with_format("numpy")

    class Epochs:  # a new pass over the table each epoch, as (x, y) batches
        def __iter__(self):
            return ((b["features"], b["label"]) for b in table.iter(batch_size=B))

    _, want = reference(data)
    got = make_model().fit(Epochs(), epochs=3, verbose=0).history
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-6)  # float32 features read back from Arrow
    assert got["accuracy"] == want["accuracy"]


# -- worker processes ---------------------------------------------------------------------

_ORPHAN_SCRIPT = """
import os, sys, time
import numpy as np
from corelib import layers, models, utils

class Slow(utils.PyDataset):
    def __len__(self):
        return 1000
    def __getitem__(self, i):
        with open(os.path.join(sys.argv[1], f"worker-{os.getpid()}"), "w"):
            pass
        time.sleep(0.05)
        return np.zeros((4, 2), np.float32), np.zeros(4, np.int64)

model = models.Sequential([layers.Input((2,)), layers.Dense(2, activation="softmax")])
model.compile("sgd", "sparse_categorical_crossentropy")
model.fit(Slow(workers=2, use_multiprocessing=True), epochs=1, verbose=0)
"""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_worker_processes_die_with_the_parent_killed_mid_epoch(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "train.py"
    script.write_text(_ORPHAN_SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path)])
    try:
        deadline = time.time() + 60
        while len(list(tmp_path.glob("worker-*"))) < 2 and time.time() < deadline:
            time.sleep(0.05)
        workers = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
        assert len(workers) == 2 and all(_alive(pid) for pid in workers)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.time() + 10
    while any(_alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers), "a worker process outlived its parent"


def test_a_typed_error_from_a_pydataset_keeps_its_type_and_line_and_names_the_batch(data):
    class Checked(Batches):
        def __getitem__(self, i):
            if i == 1:
                raise DataError("part-2.npz: array 'x' contains 1 NaN or infinite value(s)")
            return super().__getitem__(i)

    with pytest.raises(DataError, match=r"^part-2.npz: array 'x' contains 1 NaN or infinite value\(s\) "
                                        r"\(batch 1 of a PyDataset \(Checked\)\)$"):
        make_model().fit(Checked(*data), epochs=1, shuffle=False, verbose=0)
