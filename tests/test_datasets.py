"""Data sets: the corelib.datasets view and the dl-datasets plugin's loaders."""

import numpy as np
import pytest

from corelib import datasets, hookimpl
from corelib.errors import ConfigError, DataError, UnknownComponentError
from corelib.registry import Registry, use_registry

# name: (x sample shape, number of samples, y dtype, number of classes or None)
EXPECTED = {
    "digits": ((8, 8, 1), 1797, np.int64, 10),
    "iris": ((4,), 150, np.int64, 3),
    "wine": ((13,), 178, np.int64, 3),
    "breast_cancer": ((30,), 569, np.int64, 2),
    "diabetes": ((10,), 442, np.float32, None),
}


@pytest.fixture(scope="module")
def installed():
    pytest.importorskip("dl_datasets")
    pytest.importorskip("sklearn")
    with use_registry(Registry(builtin=False)) as reg:
        yield reg


def test_all_five_are_registered_by_dl_datasets(installed):
    assert set(EXPECTED) <= set(datasets.names())
    for name in EXPECTED:
        entry = installed.entry("datasets", name)
        assert entry.plugin == "dl-datasets" and entry.description


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shapes_dtypes_and_split(installed, name):
    shape, n, y_dtype, classes = EXPECTED[name]
    (x_train, y_train), (x_test, y_test) = datasets.load_data(name)
    assert x_train.shape[1:] == x_test.shape[1:] == shape
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == y_dtype
    assert y_train.shape == (len(x_train),) and y_test.shape == (len(x_test),)
    assert len(x_train) + len(x_test) == n
    assert len(x_test) == int(np.ceil(0.2 * n))
    assert x_train.flags.c_contiguous and np.isfinite(x_train).all()
    if classes is not None:
        # Stratified: each class's share of the test split is within one sample of its share overall.
        y_all = np.concatenate([y_train, y_test])
        assert set(np.unique(y_all)) == set(range(classes))
        expected = np.bincount(y_all, minlength=classes) * len(y_test) / len(y_all)
        assert np.all(np.abs(np.bincount(y_test, minlength=classes) - expected) <= 1)


def test_digits_pixels_are_scaled_to_unit_range(installed):
    (x_train, _), (x_test, _) = datasets.load_data("digits")
    assert x_train.min() == 0.0 and x_train.max() == 1.0 and x_test.max() <= 1.0


def test_the_split_is_fixed_and_independent_of_the_global_seed(installed):
    import corelib

    corelib.set_seed(1)
    (a, ya), _ = datasets.load_data("iris")
    corelib.set_seed(2)
    (b, yb), _ = datasets.load_data("iris")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    (c, _), _ = datasets.load_data("iris", seed=7)
    assert not np.array_equal(a, c)


def test_normalize_uses_train_statistics(installed):
    (raw, _), (raw_test, _) = datasets.load_data("wine")
    (x, _), (x_test, _) = datasets.load_data("wine", normalize=True)
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=0), 1, atol=1e-4)
    mean, std = raw.astype(np.float64).mean(0), raw.astype(np.float64).std(0)
    np.testing.assert_allclose(x_test, (raw_test - mean) / std, rtol=1e-4, atol=1e-4)


def test_test_size_changes_the_split(installed):
    (x_train, _), (x_test, _) = datasets.load_data("breast_cancer", test_size=0.5)
    assert abs(len(x_train) - len(x_test)) <= 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"test_size": 1.5}, "test_size must be a float in \\(0, 1\\)"),
        ({"test_size": 0}, "test_size"),
        ({"seed": -1}, "seed must be a non-negative int"),
        ({"normalize": "yes"}, "normalize must be True or False"),
    ],
)
def test_bad_loader_arguments(installed, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        datasets.load_data("iris", **kwargs)


def test_unknown_data_set_suggests(installed):
    with pytest.raises(UnknownComponentError, match="Did you mean 'digits'\\?"):
        datasets.load_data("digit")


class BadLoaders:
    @hookimpl
    def register_datasets(self, register):
        register("not_a_split", lambda: "nope", "Returns a string")
        register("ragged", lambda: ((np.ones((3, 2)), np.ones(2)), (np.ones((1, 2)), np.ones(1))), "Bad counts")
        register("fine", lambda scale=1.0: ((np.ones((3, 2)) * scale, np.ones(3)), (np.ones((1, 2)), np.ones(1))))


def test_load_data_checks_what_a_loader_returns():
    reg = Registry(builtin=False, entry_points=False)
    reg.register_plugin(BadLoaders(), name="bad", version="0.1")
    with use_registry(reg):
        with pytest.raises(DataError, match="'not_a_split' \\(plugin 'bad'\\) must return"):
            datasets.load_data("not_a_split")
        with pytest.raises(DataError, match="train split has x of shape \\(3, 2\\) and y of shape \\(2,\\)"):
            datasets.load_data("ragged")
        (x, _), _ = datasets.load_data("fine", scale=2.0)
        assert x.max() == 2.0
        assert datasets.describe("ragged") == "Bad counts"
        assert datasets.get("fine")
