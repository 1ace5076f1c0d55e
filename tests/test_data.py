"""corelib.spec.files: loading a user's .npz, .npy and .csv files, and every way they go wrong."""

import numpy as np
import pytest

from corelib import config, data
from corelib.errors import DataError


def test_npz_round_trip(tmp_path):
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    y = np.array([0, 1, 1, 0])
    np.savez(tmp_path / "d.npz", x=x, y=y)
    got_x, got_y = data.load(tmp_path / "d.npz")
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)
    assert got_x.dtype == np.float32 and got_y.dtype == np.int64


def test_npz_float_targets_follow_floatx(tmp_path, float64):
    np.savez(tmp_path / "d.npz", x=np.ones((2, 2), np.float32), y=np.array([0.5, 1.5], np.float32))
    x, y = data.load(str(tmp_path / "d.npz"))
    assert x.dtype == y.dtype == np.float64 == np.dtype(config.floatx())


def test_npy_gives_inputs_only(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((5, 2, 2)))
    x, y = data.load(tmp_path / "x.npy")
    assert x.shape == (5, 2, 2) and x.dtype == np.float32 and y is None


def test_csv_with_named_and_default_target(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,label,b\n1.5,0,2\n3,1,4\n\n5,2,6\n")
    x, y = data.load(path, target="label")
    np.testing.assert_array_equal(x, [[1.5, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(y, [0, 1, 2])
    assert y.dtype == np.int64
    x, y = data.load(path)  # default: the last column
    np.testing.assert_array_equal(y, [2.0, 4.0, 6.0])
    assert x.shape == (3, 2)


def test_csv_float_target_stays_float(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('"x","y"\n1,0.25\n2,0.5\n')
    x, y = data.load(path)
    assert y.dtype == np.float32 and x.shape == (2, 1)


def _npz(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


MALFORMED = {
    "missing file": (lambda t: t / "nope.npz", "file not found"),
    "unknown extension": (lambda t: _write(t, "d.txt", "1,2\n"), "unsupported data file type '.txt'"),
    "empty file": (lambda t: _write(t, "e.csv", ""), "file is empty"),
    "directory": (lambda t: (t / "dir.npz").mkdir() or t / "dir.npz", "is a directory"),
    "npz not a zip": (lambda t: _write(t, "g.npz", "garbage"), "not a .npz archive"),
    "npy not npy": (lambda t: _write(t, "g.npy", "garbage"), "not a .npy file"),
    "npz missing y": (lambda t: _npz(t, x=np.ones((2, 2))), "no array 'y' in the file; it holds ['x']"),
    "npz missing x": (lambda t: _npz(t, X=np.ones((2, 2)), y=np.ones(2)), "no array 'x' in the file; it holds ['X', 'y']"),
    "npz strings": (lambda t: _npz(t, x=np.array([["a"], ["b"]]), y=np.ones(2)), "array 'x' is not numeric"),
    "npz object": (lambda t: _npz(t, x=np.array([{}, 1], dtype=object), y=np.ones(2)), "never loads"),
    "npz nan": (lambda t: _npz(t, x=np.array([[np.nan], [1.0]]), y=np.ones(2)), "1 NaN or infinite"),
    "npz inf in y": (lambda t: _npz(t, x=np.ones((2, 1)), y=np.array([np.inf, 1.0])), "array 'y' contains 1 NaN"),
    "npz count mismatch": (lambda t: _npz(t, x=np.ones((3, 2)), y=np.ones(2)), "x has 3 samples but y has 2"),
    "npz empty": (lambda t: _npz(t, x=np.ones((0, 2)), y=np.ones(0)), "array 'x' is empty (shape (0, 2))"),
    "npz scalar": (lambda t: _npz(t, x=np.float64(1.0), y=np.ones(1)), "array 'x' is a scalar"),
    "csv header only": (lambda t: _write(t, "h.csv", "a,b\n"), "has a header row but no data rows"),
    "csv no header": (lambda t: _write(t, "n.csv", "1,2\n3,4\n"), "expected a header row"),
    "csv one column": (lambda t: _write(t, "o.csv", "a\n1\n"), "has only the column 'a'"),
    "csv word": (lambda t: _write(t, "w.csv", "a,b\n1,2\n3,x\n"), "line 3, column 'b': 'x' is not a number"),
    "csv blank cell": (lambda t: _write(t, "b.csv", "a,b\n1,\n"), "line 2, column 'b': an empty cell is not a number"),
    "csv ragged": (lambda t: _write(t, "r.csv", "a,b,c\n1,2,3\n4,5\n"), "line 3 has 2 values but the header names 3"),
    "csv nan": (lambda t: _write(t, "nan.csv", "a,b\n1,nan\n"), "1 NaN or infinite value(s), the first in column 'b'"),
    "csv duplicate columns": (lambda t: _write(t, "d.csv", "a,a\n1,2\n"), "duplicate column name(s) ['a']"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_raise_one_line_data_errors(tmp_path, case):
    make, expected = MALFORMED[case]
    path = make(tmp_path)
    with pytest.raises(DataError) as info:
        data.load(path)
    message = str(info.value)
    assert expected in message
    assert str(path) in message and "\n" not in message
    assert isinstance(info.value, ValueError)


def test_csv_unknown_target_lists_the_columns(tmp_path):
    path = _write(tmp_path, "c.csv", "a,b\n1,2\n")
    with pytest.raises(DataError, match=r"no column 'label'; the columns are \['a', 'b'\]"):
        data.load_csv(path, target="label")


def test_npz_arrays_named_per_input_and_output(tmp_path):
    np.savez(tmp_path / "m.npz", x_pixels=np.ones((3, 4)), x_meta=np.zeros((3, 2)), y_digit=np.arange(3),
             y_size=np.ones((3, 1)))
    x, y = data.load(tmp_path / "m.npz")
    assert sorted(x) == ["meta", "pixels"] and sorted(y) == ["digit", "size"]
    assert x["pixels"].dtype == np.float32 and y["digit"].dtype == np.int64 and y["size"].dtype == np.float32
    assert data.load_inputs(tmp_path / "m.npz").keys() == x.keys()  # targets are not needed to predict


@pytest.mark.parametrize("arrays, expected", [
    ({"x": np.ones((2, 2)), "x_a": np.ones((2, 2)), "y": np.ones(2)}, "holds both 'x' and 'x_a'"),
    ({"x_a": np.ones((3, 2)), "x_b": np.ones((2, 2)), "y": np.ones(3)}, "x_a has 3 samples but x_b has 2"),
    ({"x_a": np.ones((3, 2)), "y_out": np.ones((3, 2)), "y_two": np.ones(4)}, "x_a has 3 samples but y_two has 4"),
    ({"x_a": np.array([["s"], ["t"]]), "y": np.ones(2)}, "array 'x_a' is not numeric"),
    ({"y": np.ones(2)}, "no array 'x' in the file; it holds ['y']. Expected arrays x and y (or x_<input name>"),
])
def test_named_npz_arrays_are_checked(tmp_path, arrays, expected):
    np.savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(DataError) as info:
        data.load(tmp_path / "m.npz")
    assert expected in str(info.value) and str(tmp_path / "m.npz") in str(info.value)


def test_load_inputs_for_prediction(tmp_path):
    path = _write(tmp_path, "p.csv", "a,b,label\n1,2,0\n3,4,1\n")
    np.testing.assert_array_equal(data.load_inputs(path), [[1, 2, 0], [3, 4, 1]])
    np.testing.assert_array_equal(data.load_inputs(path, target="label"), [[1, 2], [3, 4]])
    one = _write(tmp_path, "one.csv", "a\n1\n2\n")
    assert data.load_inputs(one).shape == (2, 1)
    np.savez(tmp_path / "x.npz", x=np.ones((2, 3)))
    assert data.load_inputs(tmp_path / "x.npz").shape == (2, 3)
    with pytest.raises(DataError, match="no array 'x' in the file"):
        data.load_inputs(_npz(tmp_path, y=np.ones(2)))
    with pytest.raises(DataError, match="unsupported data file type '.json'"):
        data.load_inputs(_write(tmp_path, "x.json", "[]"))
