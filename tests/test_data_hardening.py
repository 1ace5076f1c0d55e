"""Regression tests for issue 14's data-file defects: rows starting with '#' dropped, integer targets
that wrap or lose digits, values beyond float32, and .npy headers that declare huge arrays.
Each is refused with one line naming the file and the row, column or array."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from corelib.errors import DataError
from corelib.spec import files
from dl_cli.main import cli

pytest.importorskip("corelib.builtin.plugin")


def write(path, text):
    path.write_text(text)
    return path


def npy_header_only(shape, descr="<f8", data=b"\0" * 64) -> bytes:
    """A .npy whose header declares `shape` but which holds only `data`."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


# -- csv -------------------------------------------------------------------------------------

def test_a_csv_row_starting_with_hash_is_refused_not_dropped(tmp_path):
    path = write(tmp_path / "d.csv", "a,b\n1,0\n#2,1\n3,0\n")
    with pytest.raises(DataError, match=r"d.csv: line 3 starts with '#'"):
        files.load(path)


def test_a_hash_after_a_value_is_not_a_comment(tmp_path):
    path = write(tmp_path / "d.csv", "a,b\n1,0\n2,1 # one\n")
    with pytest.raises(DataError, match=r"d.csv: line 3, column 'b': '1 # one' is not a number"):
        files.load(path)


@pytest.mark.parametrize("value", ["9223372036854775808", "-9223372036854775809", "9007199254740993",
                                   "18446744073709551616"])
def test_integer_targets_a_float64_cannot_hold_exactly_are_refused(tmp_path, value):
    path = write(tmp_path / "d.csv", f"a,label\n1,0\n2,1\n3,{value}\n")
    with pytest.raises(DataError, match=r"d.csv: column 'label', data row 3: an integer target .* too large"):
        files.load(path)


def test_large_but_exact_integer_targets_load_as_int64(tmp_path):
    path = write(tmp_path / "d.csv", "a,label\n1,0\n2,9007199254740991\n3,-5\n")
    _, y = files.load(path)
    assert y.dtype == np.int64 and y.tolist() == [0, 9007199254740991, -5]


def test_csv_values_beyond_float32_are_refused(tmp_path):
    path = write(tmp_path / "d.csv", "a,b,y\n1,2,0.5\n3,1e39,0.25\n")
    with pytest.raises(DataError, match=r"d.csv: column 'b' of data row 2: 1e\+39 is beyond the range of float32"):
        files.load(path)


# -- npz / npy --------------------------------------------------------------------------------

def test_uint64_targets_past_int64_are_refused(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 2)), y=np.array([1, 2**63, 3], dtype=np.uint64))
    with pytest.raises(DataError, match=r"d.npz: array 'y', sample 1: 9223372036854775808 is too large"):
        files.load(tmp_path / "d.npz")
    np.savez(tmp_path / "n.npz", x=np.zeros((2, 2)), y_out=np.array([[0], [2**64 - 1]], dtype=np.uint64))
    with pytest.raises(DataError, match=r"array 'y_out', sample 1"):
        files.load(tmp_path / "n.npz")
    np.savez(tmp_path / "ok.npz", x=np.zeros((2, 2)), y=np.array([0, 2**63 - 1], dtype=np.uint64))
    assert files.load(tmp_path / "ok.npz")[1].tolist() == [0, 2**63 - 1]


def test_npz_floats_beyond_float32_are_refused(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.array([[1.0, 2.0], [3.0, -1e300]]), y=np.array([0, 1]))
    with pytest.raises(DataError, match=r"d.npz: array 'x', sample 1: -1e\+300 is beyond the range of float32"):
        files.load(tmp_path / "d.npz")


@pytest.mark.parametrize("shape", [(10**6, 10**6), (10**12,), (2**62, 4)])
def test_a_npy_header_declaring_a_huge_array_is_refused_before_reading(tmp_path, shape):
    (tmp_path / "x.npy").write_bytes(npy_header_only(shape))
    with pytest.raises(DataError, match=r"x.npy: array 'x' declares shape .* but the file holds only 64 bytes"):
        files.load_inputs(tmp_path / "x.npy")


def test_a_npz_member_declaring_a_huge_array_is_refused_before_reading(tmp_path):
    with zipfile.ZipFile(tmp_path / "d.npz", "w") as zf:
        zf.writestr("x.npy", npy_header_only((4, 2), data=np.zeros((4, 2)).tobytes()))
        zf.writestr("y.npy", npy_header_only((10**13,)))
    with pytest.raises(DataError, match=r"d.npz: array 'y' declares shape \(10000000000000,\)"):
        files.load(tmp_path / "d.npz")


def test_an_array_larger_than_memory_is_refused(tmp_path, monkeypatch):
    np.save(tmp_path / "x.npy", np.zeros((64, 4)))
    monkeypatch.setattr(files, "physical_memory", lambda: 1000)
    with pytest.raises(DataError, match=r"x.npy: array 'x' of shape \(64, 4\) needs 2048 bytes, more than this "
                                        r"machine's memory \(1000 bytes\)"):
        files.load_inputs(tmp_path / "x.npy")


def test_a_npy_header_of_objects_is_refused_without_unpickling(tmp_path):
    (tmp_path / "x.npy").write_bytes(npy_header_only((2,), descr="|O"))
    with pytest.raises(DataError, match="holds objects"):
        files.load_inputs(tmp_path / "x.npy")


@pytest.mark.parametrize("command", ["train", "predict"])
def test_huge_npy_headers_exit_2_in_one_line(tmp_path, monkeypatch, command):
    """Was a MemoryError: exit 1, "a bug"."""
    (tmp_path / "x.npy").write_bytes(npy_header_only((10**6, 10**6)))
    monkeypatch.chdir(tmp_path)
    if command == "train":
        (tmp_path / "s.yaml").write_text("model:\n  - Dense: {units: 2, input_shape: [4]}\n"
                                         "training:\n  loss: mse\n  epochs: 1\n  data: d.npz\n")
        with zipfile.ZipFile(tmp_path / "d.npz", "w") as zf:
            zf.writestr("x.npy", (tmp_path / "x.npy").read_bytes())
            zf.writestr("y.npy", npy_header_only((10**6, 2)))
        args, named = ["train", "s.yaml", "--output", "m.dl"], "d.npz: array 'x'"
    else:
        from corelib import Input, layers
        from corelib.models import Sequential

        Sequential([Input((4,)), layers.Dense(2)]).save(tmp_path / "m.dl")
        args, named = ["predict", "m.dl", "x.npy", "-o", "out.npy"], "x.npy: array 'x'"
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "declares shape (1000000, 1000000)" in lines[0], lines
