"""split_dataset: Keras 3's sizes (against its own `_rescale_dataset_split_sizes`) and its shuffle
(Python's `random` seeded with `seed`, as its tf.data path does), on arrays, returning arrays in the
input's structure."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

from corelib.errors import ConfigError, DataError
from corelib.preprocessing import split_dataset
from corelib.preprocessing.dataset_utils import split_sizes


@pytest.fixture(scope="module")
def keras_sizes():
    """Keras's size rule (plain Python; Keras imported on its torch backend, skipped without it)."""
    pytest.importorskip("torch")
    previous = os.environ.get("KERAS_BACKEND")
    os.environ["KERAS_BACKEND"] = "torch"
    try:
        pytest.importorskip("keras")
        from keras.src.utils.dataset_utils import _rescale_dataset_split_sizes
    finally:
        if previous is None:
            del os.environ["KERAS_BACKEND"]
        else:
            os.environ["KERAS_BACKEND"] = previous
    return _rescale_dataset_split_sizes


SIZES = [(0.8, None), (None, 0.25), (3, None), (None, 7), (0.5, 0.5), (0.3, 0.2), (4, 3), (0.55, 2), (2, 0.55),
         (0.04, None), (0.0, None), (1.0, None), (10, None), (0, 5), (None, -1), (0.7, 0.4), (8, 5), (0.01, 0.01),
         (None, None)]


@pytest.mark.parametrize("left,right", SIZES)
def test_sizes_follow_keras(keras_sizes, left, right):
    try:
        expected = keras_sizes(left, right, 10)
    except (TypeError, ValueError):
        expected = None
    if left is None and right is None:
        expected = None  # Keras's split_dataset refuses this before its size rule
    if expected is None:
        with pytest.raises(ConfigError) as info:
            split_dataset(np.arange(10), left, right)
        assert "\n" not in str(info.value)
    else:
        assert split_sizes(left, right, 10) == expected
        a, b = split_dataset(np.arange(10), left, right)
        np.testing.assert_array_equal(a, np.arange(expected[0]))
        np.testing.assert_array_equal(b, np.arange(10 - expected[1], 10))


@pytest.mark.parametrize("seed", [0, 42, 12345])
def test_the_shuffle_is_keras_s(seed):
    x = np.arange(20) * 3
    samples = list(x)
    random.seed(seed)  # what Keras's tf.data path does
    random.shuffle(samples)
    left, right = split_dataset(x, left_size=0.6, right_size=0.3, shuffle=True, seed=seed)
    np.testing.assert_array_equal(left, samples[:12])
    np.testing.assert_array_equal(right, samples[-6:])
    state = random.getstate()
    split_dataset(x, left_size=0.5, shuffle=True, seed=seed)
    assert random.getstate() == state  # unlike Keras, the global generator is left alone


@pytest.mark.parametrize("shuffle", [False, True])
def test_structures_are_kept_and_rows_stay_together(shuffle):
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    y = np.arange(10) * 10
    for data in [(x, y), [x, y], {"features": x, "label": y}]:
        left, right = split_dataset(data, left_size=7, shuffle=shuffle, seed=3)
        assert type(left) is type(data) and type(right) is type(data)
        if isinstance(data, dict):
            assert list(left) == list(right) == ["features", "label"]
            left, right = tuple(left.values()), tuple(right.values())
        (lx, ly), (rx, ry) = left, right
        assert lx.shape == (7, 3) and ry.shape == (3,)
        np.testing.assert_array_equal(lx[:, 0] * 10 / 3, ly)  # row i of x goes with y[i]
        np.testing.assert_array_equal(rx[:, 0] * 10 / 3, ry)
        assert sorted(np.concatenate([ly, ry]).tolist()) == y.tolist()
        assert (ly.tolist() == list(range(0, 70, 10))) != shuffle


def test_without_shuffle_a_memory_mapped_array_is_split_into_views(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(100.0))
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    left, right = split_dataset(mapped, left_size=0.9)
    assert np.shares_memory(left, mapped) and np.shares_memory(right, mapped)
    assert len(left) == 90 and right[0] == 90.0


@pytest.mark.parametrize("dataset,error,message", [
    ("abc", ConfigError, "dataset must be an array, a tuple or list of arrays, or a dict of arrays. Received: an "
                         "object of type str"),
    (range(10), ConfigError, "object of type range"),
    ([[1, 2, 3], [4, 5, 6]], ConfigError, "item 0 is list"),
    ((np.arange(3), np.arange(4)), DataError, "different lengths: item 1 has 4 samples, the first has 3"),
    ({"a": np.arange(3), "b": np.arange(2)}, DataError, "item 'b' has 2 samples"),
    ((), DataError, "dataset is an empty tuple"),
])
def test_other_inputs_are_refused_naming_what_is_supported(dataset, error, message):
    with pytest.raises(error, match=message) as info:
        split_dataset(dataset, left_size=0.5)
    assert "\n" not in str(info.value)


def test_bad_size_types_are_refused():
    with pytest.raises(ConfigError, match="left_size must be an int, a float or None. Received: left_size='half'"):
        split_dataset(np.arange(4), left_size="half")
    with pytest.raises(ConfigError, match="right_size must be an int, a float or None. Received: right_size=True"):
        split_dataset(np.arange(4), right_size=True)
