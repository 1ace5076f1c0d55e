"""corelib.utils.pad_sequences (also corelib.preprocessing.sequence.pad_sequences), as Keras's."""

import numpy as np
import pytest

from corelib import utils
from corelib.errors import ConfigError, DataError

SEQUENCES = [[1], [2, 3], [4, 5, 6]]


# The examples of Keras 3's docstring, worked by hand.
@pytest.mark.parametrize("kwargs, expected", [
    ({}, [[0, 0, 1], [0, 2, 3], [4, 5, 6]]),
    ({"value": -1}, [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]),
    ({"padding": "post"}, [[1, 0, 0], [2, 3, 0], [4, 5, 6]]),
    ({"maxlen": 2}, [[0, 1], [2, 3], [5, 6]]),
])
def test_keras_docstring_examples(kwargs, expected):
    out = utils.pad_sequences(SEQUENCES, **kwargs)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("padding, truncating, expected", [
    ("pre", "pre", [[0, 0, 1], [0, 2, 3], [4, 5, 6], [8, 9, 10]]),
    ("pre", "post", [[0, 0, 1], [0, 2, 3], [4, 5, 6], [7, 8, 9]]),
    ("post", "pre", [[1, 0, 0], [2, 3, 0], [4, 5, 6], [8, 9, 10]]),
    ("post", "post", [[1, 0, 0], [2, 3, 0], [4, 5, 6], [7, 8, 9]]),
])
def test_padding_and_truncating_sides(padding, truncating, expected):
    out = utils.pad_sequences(SEQUENCES + [[7, 8, 9, 10]], maxlen=3, padding=padding, truncating=truncating)
    np.testing.assert_array_equal(out, expected)


def reference(sequences, maxlen, padding, truncating, value):
    """The same thing in plain Python lists, one sequence at a time."""
    rows = []
    for seq in sequences:
        seq = list(seq)
        if len(seq) > maxlen:
            seq = seq[len(seq) - maxlen:] if truncating == "pre" else seq[:maxlen]
        fill = [value] * (maxlen - len(seq))
        rows.append(fill + seq if padding == "pre" else seq + fill)
    return rows


@pytest.mark.parametrize("seed", range(20))
def test_random_sequences_against_a_plain_python_reference(seed):
    rng = np.random.default_rng(seed)
    sequences = [list(rng.integers(1, 100, size=rng.integers(0, 9))) for _ in range(rng.integers(1, 7))]
    maxlen = int(rng.integers(0, 10)) if seed % 2 else None
    padding, truncating = rng.choice(["pre", "post"]), rng.choice(["pre", "post"])
    out = utils.pad_sequences(sequences, maxlen=maxlen, padding=padding, truncating=truncating, value=-7)
    length = max(map(len, sequences)) if maxlen is None else maxlen
    want = reference(sequences, length, padding, truncating, -7)
    assert out.shape == (len(sequences), length)
    np.testing.assert_array_equal(out, np.array(want, dtype=np.int32).reshape(len(sequences), length))


def test_sequences_of_vectors_keep_their_vector_shape():
    a = np.arange(6, dtype=np.float32).reshape(3, 2)
    b = np.array([[10.0, 11.0]], dtype=np.float32)
    out = utils.pad_sequences([a, b, []], dtype="float32", value=-1.0)  # an empty one is all padding
    assert out.shape == (3, 3, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], a)
    np.testing.assert_array_equal(out[1], [[-1, -1], [-1, -1], [10, 11]])
    np.testing.assert_array_equal(out[2], np.full((3, 2), -1.0))


def test_empty_sequences_maxlen_zero_and_float_data():
    assert utils.pad_sequences([[], []]).shape == (2, 0)
    np.testing.assert_array_equal(utils.pad_sequences([[], [1, 2]], maxlen=3), [[0, 0, 0], [0, 1, 2]])
    assert utils.pad_sequences([[1, 2], [3]], maxlen=0).shape == (2, 0)  # Keras's s[-0:] keeps everything
    np.testing.assert_array_equal(utils.pad_sequences([[1.7, -2.5]]), [[1, -2]])  # cast as Keras casts
    out = utils.pad_sequences([[0.5], [1.5, 2.5]], dtype="float64", value=np.nan)
    np.testing.assert_array_equal(out, [[np.nan, 0.5], [1.5, 2.5]])


def test_strings_pad_with_dtype_object():
    out = utils.pad_sequences([["a"], ["b", "c"]], dtype=object, value="")
    assert out.tolist() == [["", "a"], ["b", "c"]]
    out = utils.pad_sequences([["a"], ["bb", "c"]], dtype="<U2", value="-")
    assert out.tolist() == [["-", "a"], ["bb", "c"]]


@pytest.mark.parametrize("kwargs, error, words", [
    ({"padding": "middle"}, ConfigError, 'Padding type "middle" not understood'),
    ({"truncating": "both"}, ConfigError, 'Truncating type "both" not understood'),
    ({"value": "x"}, ConfigError, "is not compatible with `value`'s type"),
    ({"value": 0.5}, ConfigError, r"value=0.5 does not fit dtype int32"),
    ({"maxlen": -1}, ConfigError, "maxlen must be a non-negative int"),
    ({"maxlen": 2.0}, ConfigError, "maxlen must be a non-negative int"),
])
def test_bad_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        utils.pad_sequences(SEQUENCES, **kwargs)


def test_bad_sequences():
    with pytest.raises(DataError, match="`sequences` must be iterable"):
        utils.pad_sequences(iter(SEQUENCES))
    with pytest.raises(DataError, match="must be a list of iterables. Found non-iterable at position 1: 3"):
        utils.pad_sequences([[1, 2], 3])
    with pytest.raises(DataError, match=r"Shape of sample \(3,\) of sequence at position 1 is different from "
                                        r"expected shape \(2,\)"):
        utils.pad_sequences([np.zeros((2, 2)), np.zeros((1, 3))])
    with pytest.raises(DataError, match="`sequences` is empty and no maxlen"):
        utils.pad_sequences([])
    assert utils.pad_sequences([], maxlen=4).shape == (0, 4)


def test_reachable_at_keras_older_path_and_from_corelib():
    import corelib
    from corelib.preprocessing.sequence import pad_sequences

    assert pad_sequences is utils.pad_sequences
    assert corelib.preprocessing.sequence.pad_sequences is utils.pad_sequences
