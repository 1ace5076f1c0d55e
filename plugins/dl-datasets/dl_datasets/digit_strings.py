"""digit_strings: strings of 1 to 6 real handwritten digits side by side, for CTC.

Built from scikit-learn's bundled 8x8 digits: the digit images are first
split into train and test pools (stratified, fixed seed), so the held-out
strings are made of digit images the model never saw.
"""

from __future__ import annotations

import numpy as np

from corelib.errors import ConfigError
from corelib.validation import positive_int

__all__ = ["load_digit_strings"]

MAX_LENGTH = 6


def _strings(pool_x: np.ndarray, pool_y: np.ndarray, n: int, rng: np.random.Generator):
    lengths = rng.integers(1, MAX_LENGTH + 1, n)
    picks = rng.integers(0, len(pool_x), (n, MAX_LENGTH))
    used = np.arange(MAX_LENGTH)[None, :] < lengths[:, None]
    # (n, 6 digits, 8 rows, 8 cols) with unused slots blank, then columns of all digits in a row
    tiles = np.where(used[:, :, None, None], pool_x[picks], 0.0)
    images = tiles.transpose(0, 1, 3, 2).reshape(n, MAX_LENGTH * 8, 8)  # (n, width, height)
    labels = np.where(used, pool_y[picks], -1)
    return images[..., None].astype(np.float32), labels.astype(np.int64)


def load_digit_strings(*, n_train: int = 6000, n_test: int = 1000, test_size: float = 0.3,
                       seed: int = 0) -> tuple:
    """Strings of 1-6 handwritten digits in one image; the digit sequence is the label.

    Args:
        n_train, n_test: number of strings in each split.
        test_size: fraction of the 1797 digit images kept for the test strings.
        seed: seed of the digit split and of the strings.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: x float32 (n, 48, 8, 1) in
        [0, 1], each image stored **width first** (axis 1 runs left to right
        across the string, axis 2 down the rows) so that axis 1 is the time
        axis of a sequence model; y int64 (n, 6): the digits, then -1 padding
        (the label format of the CTC loss; blank index 10 in an 11-class output).
    """
    from sklearn.datasets import load_digits as sk_load
    from sklearn.model_selection import train_test_split

    where = "Data set 'digit_strings'"
    n_train, n_test = positive_int(n_train, "n_train", where), positive_int(n_test, "n_test", where)
    seed = positive_int(seed, "seed", where, allow_zero=True)
    if not isinstance(test_size, float) or not 0.0 < test_size < 1.0:
        raise ConfigError(f"Data set 'digit_strings': test_size must be a float in (0, 1). "
                          f"Received: test_size={test_size!r}")
    bunch = sk_load()
    x_tr, x_te, y_tr, y_te = train_test_split(bunch.images / 16.0, bunch.target, test_size=test_size,
                                              random_state=int(seed), stratify=bunch.target)
    rng = np.random.default_rng(seed)
    return _strings(x_tr, y_tr, n_train, rng), _strings(x_te, y_te, n_test, rng)
