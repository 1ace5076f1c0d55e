"""corelib.utils: to_categorical and normalize."""

import numpy as np
import pytest

from corelib.errors import DataError
from corelib.utils import normalize, to_categorical


def test_to_categorical():
    out = to_categorical([0, 2, 1])
    np.testing.assert_array_equal(out, np.eye(3)[[0, 2, 1]])
    assert out.dtype == np.float32
    assert to_categorical(np.array([[1], [0]]), num_classes=4).shape == (2, 4)
    assert to_categorical(np.zeros((2, 3), int), num_classes=2).shape == (2, 3, 2)
    with pytest.raises(DataError, match="label 5 is outside"):
        to_categorical([0, 5], num_classes=3)
    with pytest.raises(DataError, match="non-integer"):
        to_categorical([0.5])


def test_normalize():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(normalize(x), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(normalize(x, order=1), [[3 / 7, 4 / 7], [0.0, 0.0]])
    np.testing.assert_allclose(np.linalg.norm(normalize(np.ones((2, 3)), axis=0), axis=0), [1, 1, 1])
