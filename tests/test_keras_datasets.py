"""Keras's data sets in dl-datasets (mnist, fashion_mnist, cifar10, imdb, reuters, boston_housing).

Tiny files in the published formats are written by the tests and served from
a local HTTP server; their hashes are passed in, so the hash check runs.
Where Keras 3 is installed, imdb and reuters are compared with Keras's own
loaders on the same files.
"""

import gzip
import hashlib
import io
import json
import os
import pickle
import tarfile

import numpy as np
import pytest

from _file_server import FileServer
from corelib import datasets
from corelib.errors import ConfigError, DataError
from corelib.registry import Registry, use_registry

pytest.importorskip("dl_datasets")
from dl_datasets import keras_images  # after the skip

NAMES = ("mnist", "fashion_mnist", "cifar10", "imdb", "reuters", "boston_housing")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def ragged(rng, n, vocabulary, lengths=(1, 9)):
    """An object array of n lists of word ranks 1..vocabulary-1, of different lengths."""
    out = np.empty(n, dtype=object)
    out[:] = [[int(w) for w in rng.integers(1, vocabulary, rng.integers(*lengths))] for _ in range(n)]
    return out


def idx(values: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in values.shape)
    return gzip.compress(header + values.astype(np.uint8).tobytes())


def cifar_archive(batches: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as archive:
        for name, batch in batches.items():
            # protocol 4 writes bytes as bytes; the real batches, from Python 2, have no other globals either
            data = pickle.dumps(batch, protocol=4)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def cifar_batch(rng, n):
    return {b"batch_label": b"tiny", b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}


@pytest.fixture(scope="module")
def files():
    rng = np.random.default_rng(0)
    batches = {f"data_batch_{i}": cifar_batch(rng, 3) for i in range(1, 6)}
    batches["test_batch"] = cifar_batch(rng, 2)
    made = {
        "mnist.npz": npz(x_train=rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
                         y_train=rng.integers(0, 10, 6).astype(np.uint8),
                         x_test=rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
                         y_test=rng.integers(0, 10, 3).astype(np.uint8)),
        "train-labels-idx1-ubyte.gz": idx(np.arange(5) % 10, 2049),
        "train-images-idx3-ubyte.gz": idx(rng.integers(0, 256, (5, 28, 28)), 2051),
        "t10k-labels-idx1-ubyte.gz": idx(np.arange(2), 2049),
        "t10k-images-idx3-ubyte.gz": idx(rng.integers(0, 256, (2, 28, 28)), 2051),
        "cifar-10-python.tar.gz": cifar_archive(batches),
        "imdb.npz": npz(x_train=ragged(rng, 12, 30), y_train=rng.integers(0, 2, 12),
                        x_test=ragged(rng, 8, 30), y_test=rng.integers(0, 2, 8)),
        "imdb_word_index.json": json.dumps({"the": 1, "movie": 2}).encode(),
        "reuters.npz": npz(x=ragged(rng, 20, 40), y=rng.integers(0, 46, 20)),
        "boston_housing.npz": npz(x=rng.normal(size=(20, 13)), y=rng.normal(20, 5, 20)),
    }
    return made, batches


@pytest.fixture
def served(files, tmp_path, monkeypatch):
    """The files on a local server; the cache in tmp_path; plugins loaded afresh."""
    made, _ = files
    monkeypatch.setenv("DL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DL_DATASETS_ORIGIN", raising=False)
    with FileServer({f"/sets/{name}": data for name, data in made.items()}) as server, \
            use_registry(Registry(builtin=False)):
        server.origin = server.url("/sets/")
        yield server


def hash_of(files, name):
    return sha256(files[0][name])


def test_all_six_are_registered_by_dl_datasets(served):
    assert set(NAMES) <= set(datasets.names())
    for name in NAMES:
        assert "download" in datasets.describe(name)


def test_mnist_shapes_dtypes_and_keras_spelling(served, files):
    kwargs = {"origin": served.origin, "file_hash": hash_of(files, "mnist.npz")}
    (x, y), (xt, yt) = datasets.load_data("mnist", **kwargs)
    assert x.shape == (6, 28, 28) and xt.shape == (3, 28, 28) and y.shape == (6,) and yt.shape == (3,)
    assert x.dtype == xt.dtype == y.dtype == yt.dtype == np.uint8
    (x2, _), _ = datasets.mnist.load_data(**kwargs)  # keras.datasets.mnist.load_data()
    np.testing.assert_array_equal(x, x2)
    assert served.requests["/sets/mnist.npz"] == 1  # the second load came from the cache
    assert os.path.exists(os.path.join(os.environ["DL_HOME"], "datasets", "mnist.npz"))


def test_origin_from_the_environment(served, files, monkeypatch):
    monkeypatch.setenv("DL_DATASETS_ORIGIN", served.origin)
    (x, _), _ = datasets.boston_housing.load_data(file_hash=hash_of(files, "boston_housing.npz"))
    assert x.shape == (16, 13)


def test_the_published_hash_is_checked_by_default(served):
    with pytest.raises(DataError, match=keras_images.MNIST_HASH):
        datasets.load_data("mnist", origin=served.origin)
    assert os.listdir(os.path.join(os.environ["DL_HOME"], "datasets")) == []


def test_unknown_data_set_is_an_attribute_error():
    with pytest.raises(AttributeError, match="nope"):
        datasets.nope  # noqa: B018
    assert not hasattr(datasets, "__not_a_data_set__")


def test_fashion_mnist(served, files):
    hashes = {name: hash_of(files, name) for name in keras_images.FASHION_MNIST_HASHES}
    (x, y), (xt, _) = datasets.fashion_mnist.load_data(origin=served.origin, file_hash=hashes)
    assert x.shape == (5, 28, 28) and xt.shape == (2, 28, 28) and x.dtype == y.dtype == np.uint8
    np.testing.assert_array_equal(y, np.arange(5))
    cached = os.path.join(os.environ["DL_HOME"], "datasets", "fashion-mnist", "t10k-labels-idx1-ubyte.gz")
    assert os.path.exists(cached)
    with pytest.raises(ConfigError, match="does not read"):
        datasets.fashion_mnist.load_data(origin=served.origin, file_hash={"other.gz": "0" * 64})


def test_cifar10_layout_shapes_and_dtypes(served, files):
    _, batches = files
    (x, y), (xt, yt) = datasets.cifar10.load_data(origin=served.origin,
                                                  file_hash=hash_of(files, "cifar-10-python.tar.gz"))
    assert x.shape == (15, 32, 32, 3) and xt.shape == (2, 32, 32, 3) and y.shape == (15, 1) and yt.shape == (2, 1)
    assert x.dtype == xt.dtype == y.dtype == yt.dtype == np.uint8
    # a row of a batch is 1024 red, then 1024 green, then 1024 blue values, each 32 rows of 32
    raw = batches["data_batch_2"][b"data"][1]
    assert x[4, 5, 7, 2] == raw[2 * 1024 + 5 * 32 + 7]
    assert y[4, 0] == batches["data_batch_2"][b"labels"][1]
    np.testing.assert_array_equal(yt[:, 0], batches["test_batch"][b"labels"])


class _Gadget:
    """A pickle that would make a folder when loaded: what a tampered file could do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_cifar10_never_runs_a_pickle_even_with_a_matching_hash(served, files, tmp_path):
    _, batches = files
    evil = tmp_path / "pwned"
    archive = cifar_archive({**batches, "data_batch_3": {b"data": _Gadget(str(evil)), b"labels": []}})
    served.files["/sets/cifar-10-python.tar.gz"] = archive
    with pytest.raises(DataError, match="refusing to load the global posix.mkdir"):
        datasets.cifar10.load_data(origin=served.origin, file_hash=sha256(archive))
    assert not evil.exists()


def test_pickle_loaders_refuse_no_hash(served):
    for name in ("cifar10", "imdb", "reuters"):
        with pytest.raises(ConfigError, match="file_hash cannot be None"):
            datasets.load_data(name, origin=served.origin, file_hash=None)
    assert served.requests == {}  # refused before any download


def test_imdb_defaults(served, files):
    (x, y), (xt, _) = datasets.imdb.load_data(origin=served.origin, file_hash=hash_of(files, "imdb.npz"))
    assert x.shape == (12,) and xt.shape == (8,) and x.dtype == object and y.shape == (12,)
    assert all(isinstance(s, list) and s[0] == 1 for s in x)  # start_char first
    raw = np.load(io.BytesIO(files[0]["imdb.npz"]), allow_pickle=True)
    assert sorted(len(s) for s in x) == sorted(len(s) + 1 for s in raw["x_train"])
    assert sorted(map(tuple, x)) != sorted(tuple(s) for s in raw["x_train"])  # shifted by index_from


def test_imdb_vocabulary_arguments(served, files):
    (x, _), (xt, _) = datasets.imdb.load_data(origin=served.origin, file_hash=hash_of(files, "imdb.npz"),
                                              num_words=10, skip_top=5, start_char=None, oov_char=0, index_from=0)
    words = {w for s in list(x) + list(xt) for w in s}
    assert words <= {0} | set(range(5, 10)) and 0 in words
    (x, _), _ = datasets.imdb.load_data(origin=served.origin, file_hash=hash_of(files, "imdb.npz"),
                                        num_words=10, oov_char=None)
    assert all(1 <= w < 10 for s in x for w in s)  # cut words removed, not replaced
    (x, _), (xt, _) = datasets.imdb.load_data(origin=served.origin, file_hash=hash_of(files, "imdb.npz"), maxlen=6)
    assert all(len(s) < 6 for s in list(x) + list(xt))
    with pytest.raises(ConfigError, match="maxlen"):
        datasets.imdb.load_data(origin=served.origin, file_hash=hash_of(files, "imdb.npz"), maxlen=1)
    with pytest.raises(ConfigError, match="num_words"):
        datasets.imdb.load_data(num_words=-1)


def test_imdb_word_index_and_reuters_extras(served, files):
    index = datasets.imdb.get_word_index(origin=served.origin, file_hash=hash_of(files, "imdb_word_index.json"))
    assert index == {"the": 1, "movie": 2}
    assert len(datasets.reuters.get_label_names()) == 46


def test_reuters_split_and_boston_housing(served, files):
    (x, y), (xt, yt) = datasets.reuters.load_data(origin=served.origin, file_hash=hash_of(files, "reuters.npz"),
                                                  test_split=0.25)
    assert len(x) == 15 and len(xt) == 5 and x.dtype == object and y.dtype == np.int64
    (x, y), (xt, yt) = datasets.boston_housing.load_data(origin=served.origin,
                                                         file_hash=hash_of(files, "boston_housing.npz"), seed=0)
    assert x.shape == (16, 13) and xt.shape == (4, 13) and y.shape == (16,) and x.dtype == y.dtype == np.float64
    raw = np.load(io.BytesIO(files[0]["boston_housing.npz"]))
    np.testing.assert_array_equal(np.sort(np.concatenate([y, yt])), np.sort(raw["y"]))
    with pytest.raises(ConfigError, match="test_split"):
        datasets.boston_housing.load_data(test_split=1.0)


# ---------------------------------------------------------------- against Keras's own loaders


@pytest.mark.parametrize("name", ["imdb", "reuters"])
@pytest.mark.parametrize("kwargs", [
    {},
    {"num_words": 12, "skip_top": 4},
    {"maxlen": 7, "seed": 5},
    {"start_char": None, "oov_char": None, "index_from": 0, "num_words": 20},
    {"start_char": 7, "oov_char": 9, "index_from": 5},
])
def test_sequences_match_keras(keras, served, files, tmp_path, monkeypatch, name, kwargs):
    """Keras's loader reads the same tiny file (its get_file patched to return it): the same arrays."""
    import importlib

    module = importlib.import_module(f"keras.src.datasets.{name}")
    local = tmp_path / f"{name}.npz"
    local.write_bytes(files[0][f"{name}.npz"])
    monkeypatch.setattr(module, "get_file", lambda *args, **kw: str(local))
    expected = module.load_data(**kwargs)
    got = getattr(datasets, name).load_data(origin=served.origin, file_hash=hash_of(files, f"{name}.npz"), **kwargs)
    for (ex, ey), (gx, gy) in zip(expected, got):
        assert [list(s) for s in gx] == [list(s) for s in ex]
        np.testing.assert_array_equal(gy, ey)
        assert gy.dtype == ey.dtype


def test_boston_housing_matches_keras(keras, served, files, tmp_path, monkeypatch):
    # (cifar10 is not compared: Keras's loader expects 5 batches of exactly 10000 images)
    from keras.src.datasets import boston_housing

    local = tmp_path / "boston_housing.npz"
    local.write_bytes(files[0]["boston_housing.npz"])
    monkeypatch.setattr(boston_housing, "get_file", lambda *args, **kw: str(local))
    for kwargs in ({}, {"seed": 3, "test_split": 0.5}):
        expected = boston_housing.load_data(**kwargs)
        got = datasets.boston_housing.load_data(origin=served.origin,
                                                file_hash=hash_of(files, "boston_housing.npz"), **kwargs)
        for e, g in zip([a for pair in expected for a in pair], [a for pair in got for a in pair]):
            assert g.dtype == e.dtype
            np.testing.assert_array_equal(g, e)
