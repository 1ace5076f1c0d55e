"""Loaders for the data sets scikit-learn ships in its package (no network).

Each returns ``((x_train, y_train), (x_test, y_test))`` with x as float32,
y as int64 class labels (float32 targets for diabetes), split with a fixed
seed: the split is the same on every run and does not depend on
`corelib.set_seed`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.errors import ConfigError
from corelib.validation import positive_int

__all__ = ["load_digits", "load_iris", "load_wine", "load_breast_cancer", "load_diabetes"]

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _check(name: str, test_size: Any, seed: Any, normalize: Any) -> None:
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)) or not 0.0 < test_size < 1.0:
        raise ConfigError(f"Data set {name!r}: test_size must be a float in (0, 1). Received: test_size={test_size!r}")
    positive_int(seed, "seed", f"Data set {name!r}", allow_zero=True)
    if not isinstance(normalize, (bool, np.bool_)):
        raise ConfigError(f"Data set {name!r}: normalize must be True or False. Received: normalize={normalize!r}")


def _split(
    name: str, x: np.ndarray, y: np.ndarray, test_size: float, seed: int, normalize: bool, classify: bool
) -> Split:
    from sklearn.model_selection import train_test_split

    _check(name, test_size, seed, normalize)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=float(test_size), random_state=int(seed), stratify=y if classify else None
    )
    if normalize:
        # Statistics of the train split only, so nothing leaks from the test split.
        mean = x_train.mean(axis=0)
        std = x_train.std(axis=0)
        std[std == 0] = 1.0
        x_train = (x_train - mean) / std
        x_test = (x_test - mean) / std
    y_dtype = np.int64 if classify else np.float32
    return (
        (np.ascontiguousarray(x_train, np.float32), np.ascontiguousarray(y_train, y_dtype)),
        (np.ascontiguousarray(x_test, np.float32), np.ascontiguousarray(y_test, y_dtype)),
    )


def load_digits(*, test_size: float = 0.2, seed: int = 0, normalize: bool = False, parity: bool = False) -> Split:
    """Handwritten digits: 1797 images of 8x8x1 pixels in [0, 1], labels 0-9.

    Args:
        test_size: fraction of the samples in the test split.
        seed: seed of the (stratified) split.
        normalize: standardise each pixel with the train split's mean and std.
        parity: give two targets per image, for a two-headed model:
            y = {"digit": label, "even": 1.0 if the digit is even else 0.0}.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``; x float32 of shape
        (n, 8, 8, 1), y int64 of shape (n,) (or the dict above).
    """
    from sklearn.datasets import load_digits as sk_load

    if not isinstance(parity, (bool, np.bool_)):
        raise ConfigError(f"Data set 'digits': parity must be True or False. Received: parity={parity!r}")
    bunch = sk_load()
    x = (bunch.images / 16.0).reshape(-1, 8, 8, 1)
    split = _split("digits", x, bunch.target, test_size, seed, normalize, classify=True)
    if not parity:
        return split
    (x_train, y_train), (x_test, y_test) = split

    def heads(y: np.ndarray) -> dict:
        return {"digit": y, "even": (y % 2 == 0).astype(np.float32).reshape(-1, 1)}

    return (x_train, heads(y_train)), (x_test, heads(y_test))


def load_iris(*, test_size: float = 0.2, seed: int = 0, normalize: bool = False) -> Split:
    """Iris flowers: 150 samples of 4 measurements (cm), labels 0-2.

    Args: as `load_digits`. Returns x float32 (n, 4), y int64 (n,).
    """
    from sklearn.datasets import load_iris as sk_load

    bunch = sk_load()
    return _split("iris", bunch.data, bunch.target, test_size, seed, normalize, classify=True)


def load_wine(*, test_size: float = 0.2, seed: int = 0, normalize: bool = False) -> Split:
    """Wine cultivars: 178 samples of 13 chemical measurements, labels 0-2.

    Args: as `load_digits`. Returns x float32 (n, 13), y int64 (n,).
    """
    from sklearn.datasets import load_wine as sk_load

    bunch = sk_load()
    return _split("wine", bunch.data, bunch.target, test_size, seed, normalize, classify=True)


def load_breast_cancer(*, test_size: float = 0.2, seed: int = 0, normalize: bool = False) -> Split:
    """Breast cancer diagnosis: 569 samples of 30 features, labels 0 (malignant) / 1 (benign).

    Args: as `load_digits`. Returns x float32 (n, 30), y int64 (n,).
    """
    from sklearn.datasets import load_breast_cancer as sk_load

    bunch = sk_load()
    return _split("breast_cancer", bunch.data, bunch.target, test_size, seed, normalize, classify=True)


def load_diabetes(*, test_size: float = 0.2, seed: int = 0, normalize: bool = False) -> Split:
    """Diabetes: 442 patients, 10 raw (unscaled) features, target: disease progression after a year.

    Args: as `load_digits`. Returns x float32 (n, 10), y float32 (n,) (a regression target).
    """
    from sklearn.datasets import load_diabetes as sk_load

    bunch = sk_load(scaled=False)
    return _split("diabetes", bunch.data, bunch.target, test_size, seed, normalize, classify=False)
