"""timeseries_dataset_from_array: Keras 3's windows and targets, sliced lazily (a memory-mapped array
is read a window at a time), and training on it.

Keras's own function needs TensorFlow or grain, neither installed here, so the windows are checked
against the rule its source implements (start positions ``arange(0, n, sequence_stride)`` with
``n = end - start - (sequence_length - 1) * sampling_rate`` (capped by the targets' length), shuffled
once with NumPy's ``RandomState(seed)``; window = ``data[start + p + j * sampling_rate]``, target
= ``targets[start + p]``) and against the examples of Keras's docstring.
"""

from __future__ import annotations

import numpy as np
import pytest

from corelib import layers, models, utils
from corelib.errors import ConfigError
from corelib.preprocessing import TimeseriesBatches, timeseries_dataset_from_array


def _keras_rule(data, targets, sequence_length, sequence_stride=1, sampling_rate=1, shuffle=False, seed=None,
                start_index=None, end_index=None):
    start, end = start_index or 0, end_index or len(data)
    n = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        n = min(n, len(targets))
    positions = np.arange(0, n, sequence_stride, dtype="int32")
    if shuffle:
        np.random.RandomState(seed).shuffle(positions)
    windows = [data[start:end][np.arange(p, p + sequence_length * sampling_rate, sampling_rate)] for p in positions]
    return np.array(windows), None if targets is None else np.array([targets[start:end][p] for p in positions])


def _unbatch(ds):
    batches = [ds[i] for i in range(len(ds))]
    if isinstance(batches[0], tuple):
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
    return np.concatenate(batches), None


@pytest.mark.parametrize("kwargs", [
    dict(sequence_length=5),
    dict(sequence_length=4, sequence_stride=3, batch_size=7),
    dict(sequence_length=3, sampling_rate=4, batch_size=5),
    dict(sequence_length=6, sequence_stride=2, sampling_rate=2, start_index=7, end_index=80, batch_size=16),
    dict(sequence_length=2, start_index=90, batch_size=3),
    dict(sequence_length=5, sequence_stride=2, shuffle=True, seed=11, batch_size=9),
    dict(sequence_length=10, sampling_rate=3, shuffle=True, seed=0, start_index=5, batch_size=4),
])
@pytest.mark.parametrize("with_targets", [True, False])
def test_windows_and_targets_follow_keras_s_rule(kwargs, with_targets):
    data = np.arange(200, dtype=np.float32).reshape(100, 2)
    targets = np.arange(100, dtype=np.int64) * 10 if with_targets else None
    ds = timeseries_dataset_from_array(data, targets, **kwargs)
    x, y = _unbatch(ds)
    rule = {k: v for k, v in kwargs.items() if k != "batch_size"}
    expected_x, expected_y = _keras_rule(data, targets, **rule)
    np.testing.assert_array_equal(x, expected_x)
    assert x.dtype == data.dtype
    if with_targets:
        np.testing.assert_array_equal(y, expected_y)
        assert isinstance(ds[0], tuple)
    else:
        assert isinstance(ds[0], np.ndarray)
    assert len(ds) == -(-len(expected_x) // kwargs.get("batch_size", 128))


def test_keras_docstring_examples():
    # Example 1: steps 0..98, windows of 10 steps taking every other step.
    ds = timeseries_dataset_from_array(np.arange(99), None, sequence_length=10, sampling_rate=2, batch_size=100)
    x = ds[0]
    np.testing.assert_array_equal(x[0], np.arange(0, 20, 2))
    np.testing.assert_array_equal(x[1], np.arange(1, 21, 2))
    np.testing.assert_array_equal(x[-1], np.arange(80, 100, 2))
    # Example 2: targets are data shifted by the window length.
    data = np.arange(20)
    ds = timeseries_dataset_from_array(data[:-10], data[10:], sequence_length=10, batch_size=100)
    x, y = ds[0]
    np.testing.assert_array_equal(x[0], np.arange(10))
    assert y[0] == 10 and x.shape == (1, 10)
    # Example 3: (x, y) where y is x shifted by one step, in batches of 2.
    x_data, y_data = np.arange(0, 9), np.arange(1, 10)
    ds = timeseries_dataset_from_array(x_data, y_data, sequence_length=3, batch_size=2)
    xb, yb = ds[0]
    np.testing.assert_array_equal(xb, [[0, 1, 2], [1, 2, 3]])
    np.testing.assert_array_equal(yb, [1, 2])


def test_batch_size_none_gives_single_windows():
    ds = timeseries_dataset_from_array(np.arange(10), np.arange(10), sequence_length=3, batch_size=None)
    assert len(ds) == 8
    x, y = ds[2]
    np.testing.assert_array_equal(x, [2, 3, 4])
    assert y == 2


def test_a_memory_mapped_array_is_sliced_not_read_whole(tmp_path):
    data = np.arange(3000, dtype=np.float32).reshape(1000, 3)
    np.save(tmp_path / "series.npy", data)
    mapped = np.load(tmp_path / "series.npy", mmap_mode="r")
    ds = timeseries_dataset_from_array(mapped, None, sequence_length=4, sequence_stride=10, batch_size=8)
    assert ds.data is mapped  # kept as given: no copy of the whole array
    np.testing.assert_array_equal(_unbatch(ds)[0], _keras_rule(data, None, 4, 10)[0])

    class Watched(np.ndarray):
        """Records the rows each read asks for."""

        def __getitem__(self, key):
            seen.append(np.asarray(key).ravel() if not isinstance(key, slice) else key)
            return np.asarray(self).__getitem__(key)

    seen = []
    ds = timeseries_dataset_from_array(data.view(Watched), None, sequence_length=4, sequence_stride=10, batch_size=8)
    ds[3]
    assert len(seen) == 1 and sorted(set(seen[0].tolist())) == [s + j for s in range(240, 320, 10) for j in range(4)]


def test_each_epoch_reshuffles_repeatably_with_dls_seed():
    def epochs():
        utils.set_random_seed(4)  # each pass's order: dl's generator (a checkpoint resumes it)
        ds = timeseries_dataset_from_array(np.arange(50), np.arange(50), sequence_length=3, batch_size=8,
                                           shuffle=True, seed=4)
        return [np.concatenate([y for _, y in ds]) for _ in range(3)]

    first, again = epochs(), epochs()
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert all(sorted(e.tolist()) == list(range(48)) for e in first)
    assert not np.array_equal(first[0], first[1])


def test_an_lstm_trains_on_it_with_workers():
    utils.set_random_seed(0)
    series = np.sin(np.arange(300, dtype=np.float32) / 5)[:, None]
    ds = timeseries_dataset_from_array(series[:-5], series[5:, 0], sequence_length=5, batch_size=32, shuffle=True,
                                       seed=1, workers=2)
    assert isinstance(ds, TimeseriesBatches) and ds.workers == 2
    model = models.Sequential([layers.Input((5, 1)), layers.LSTM(4), layers.Dense(1)])
    model.compile("adam", "mse")
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize("kwargs,message", [
    (dict(start_index=-1), "start_index must be 0 or greater"),
    (dict(start_index=20), "start_index must be 0 or greater and lower than the length of the data"),
    (dict(start_index=5, end_index=5), "end_index must be higher than start_index"),
    (dict(end_index=20), "end_index must be higher than 0 and lower than the length of the data"),
    (dict(sampling_rate=0), "sampling_rate must be higher than 0"),
    (dict(sampling_rate=20), "sampling_rate must be lower than the length of the data"),
    (dict(sequence_stride=0), "sequence_stride must be higher than 0"),
    (dict(sequence_stride=20), "sequence_stride must be lower than the length of the data"),
    (dict(batch_size=0), "batch_size must be higher than 0"),
])
def test_bad_arguments_are_keras_s_errors_in_one_line(kwargs, message):
    with pytest.raises(ConfigError, match=message) as info:
        timeseries_dataset_from_array(np.arange(20), None, sequence_length=kwargs.pop("sequence_length", 3), **kwargs)
    assert "\n" not in str(info.value)


def test_too_short_data_gives_an_empty_data_set():
    ds = timeseries_dataset_from_array(np.arange(5), None, sequence_length=10)
    assert len(ds) == 0


def test_windows_of_a_mapped_file_are_read_by_position_with_the_same_values(tmp_path):
    data = np.random.default_rng(0).standard_normal((500, 2)).astype(np.float32)
    np.save(tmp_path / "series.npy", data)
    mapped = np.load(tmp_path / "series.npy", mmap_mode="r")
    ds = timeseries_dataset_from_array(mapped, np.arange(500), sequence_length=7, sampling_rate=2, batch_size=16)
    assert ds._mapped is not None and ds._mapped._position is not None  # the positioned reader, not the mapping
    in_memory = timeseries_dataset_from_array(data, np.arange(500), sequence_length=7, sampling_rate=2,
                                              batch_size=16)
    for (x1, y1), (x2, y2) in zip(ds, in_memory):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
