"""Keras's downloadable data sets: mnist, fashion_mnist, cifar10, imdb, reuters, boston_housing.

Each loader takes Keras 3's arguments and returns Keras's arrays, shapes and
dtypes, from the same files at the same URLs, checked against the published
hashes (`corelib.downloads.get_file`; the cache is ``$DL_HOME/datasets``,
``~/.dl/datasets`` by default). Two keyword arguments Keras lacks:

- ``origin``: the URL of a folder that holds the files under their published
  names (a mirror, or a test server); ``$DL_DATASETS_ORIGIN`` sets it for
  every loader. The published hash still applies.
- ``file_hash``: the sha256 (or md5) the file must have; the published one by
  default. Loaders that unpickle (cifar10, imdb, reuters) refuse None.

Never unpickled before the hash check: CIFAR-10's archive holds pickles and
imdb/reuters hold object arrays; they are read only after the download
matched `file_hash`, and then with `safe_pickle.RestrictedUnpickler`.

`keras_images` holds mnist, fashion_mnist and cifar10, `keras_text` imdb and
reuters; this module the URL, hash and .npz helpers they share, and
boston_housing.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

import numpy as np

from corelib.downloads import get_file
from corelib.errors import ConfigError, DataError, one_line
from corelib.validation import fraction

__all__ = ["load_boston_housing", "ORIGIN_VARIABLE"]

ORIGIN_VARIABLE = "DL_DATASETS_ORIGIN"
KERAS_FOLDER = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

# Published hash: Keras 3's loader (sha256).
BOSTON_HOUSING_HASH = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def file_url(origin: str | None, default_folder: str, name: str) -> str:
    """The URL of the file `name`: under `origin`, else ``$DL_DATASETS_ORIGIN``, else `default_folder`."""
    folder = origin or os.environ.get(ORIGIN_VARIABLE) or default_folder
    return folder.rstrip("/") + "/" + name


def require_hash(file_hash: Any, loader: str) -> None:
    """Refuse ``file_hash=None`` for a loader that unpickles."""
    if file_hash is None:
        raise ConfigError(f"{loader}: the file holds pickles, which dl reads only after a hash check; "
                          "file_hash cannot be None")


def npz_arrays(path: str, keys: Iterable[str]) -> list[np.ndarray]:
    """The arrays `keys` of an .npz file without pickles, in that order; DataError when one is missing."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in keys if k not in f.files]
            if missing:
                raise DataError(f"{path} lacks the arrays {missing}; it has {sorted(f.files)}")
            return [f[k] for k in keys]
    except (OSError, ValueError, EOFError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"Cannot read {path} as an .npz file: {type(exc).__name__}: {one_line(exc)}") from None


def shuffled(rng: np.random.RandomState, *arrays: np.ndarray) -> list[np.ndarray]:
    """`arrays` reordered by one permutation drawn from `rng` (as Keras's loaders shuffle)."""
    order = np.arange(len(arrays[0]))
    rng.shuffle(order)
    return [a[order] for a in arrays]


def load_boston_housing(path: str = "boston_housing.npz", test_split: float = 0.2, seed: int = 113, *,
                        origin: str | None = None, file_hash: str | None = BOSTON_HOUSING_HASH) -> Split:
    """Boston house prices (13 features, price in k$), as `keras.datasets.boston_housing.load_data`.

    The data set carries a feature ("B") built on an assumption about race;
    Keras discourages its use except to illustrate ethical issues in data science.

    Args:
        path: the file's name in the cache folder.
        test_split: the fraction of samples in the test split, in [0, 1).
        seed: the seed of the shuffle before the split.
        origin: a folder URL to download from instead of Keras's.
        file_hash: the hash the file must have.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: x float64 (404, 13) and
        (102, 13), y float64 (404,) and (102,) with the default split.
    """
    test_split = fraction(test_split, "test_split", "boston_housing.load_data")
    path = get_file(path, file_url(origin, KERAS_FOLDER, "boston_housing.npz"), file_hash=file_hash)
    x, y = npz_arrays(path, ("x", "y"))
    if len(x) != len(y):
        raise DataError(f"{path}: x has {len(x)} samples but y has {len(y)}")
    x, y = shuffled(np.random.RandomState(seed), x, y)
    n = int(len(x) * (1 - test_split))
    return (x[:n], y[:n]), (x[n:], y[n:])
