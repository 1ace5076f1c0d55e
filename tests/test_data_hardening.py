"""Regression tests for issue 14's data-file defects: rows starting with '#' dropped, integer targets
that wrap or lose digits, values beyond float32, and .npy headers that declare huge arrays.
Each is refused with one line naming the file and the row, column or array."""

from __future__ import annotations

import io
import re
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


# -- fuzz findings: library errors from malformed files, each refused as one DataError --------------------------

def npy_with_header(header: bytes, version: int = 1, length: int | None = None) -> bytes:
    """A .npy whose header text is `header` (and whose length field says `length`)."""
    size = len(header) if length is None else length
    field = size.to_bytes(2 if version == 1 else 4, "little")
    return b"\x93NUMPY" + bytes([version, 0]) + field + header + b"\0" * 16


@pytest.mark.parametrize("header, why", [
    (b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,", "not a Python dict literal"),  # TokenError
    (b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,),, }", "not a Python dict literal"),  # SyntaxError
    (b"{{}: 1}", "not a Python dict literal"),  # TypeError: a dict as a key
    (b"{'descr': '<f8', 'shape': (2,)}", "expected a dict of 'descr', 'fortran_order' and 'shape'"),  # KeyError
    (b"{'descr': ',f4', 'fortran_order': False, 'shape': (2,)}", "'descr' ',f4' is not a dtype"),  # SyntaxError
    (b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, -1)}", "'shape' is (2, -1), not a tuple of sizes"),
])
def test_a_malformed_npy_header_is_refused_naming_the_array(tmp_path, header, why):
    (tmp_path / "x.npy").write_bytes(npy_with_header(header))
    with pytest.raises(DataError, match=rf"x.npy: array 'x' has no readable .npy header \({re.escape(why)}"):
        files.load_inputs(tmp_path / "x.npy")


def test_a_npy_header_length_field_of_2gb_is_refused_before_reading(tmp_path):
    """Was a MemoryError: numpy reads the whole length a version 3 header claims."""
    (tmp_path / "x.npy").write_bytes(npy_with_header(b"{}", version=3, length=2**31))
    with pytest.raises(DataError, match=r"x.npy: array 'x' .* length field says 2147483648 bytes, more than "
                                        r"numpy's limit of 10000"):
        files.load_inputs(tmp_path / "x.npy")


def test_npy_arrays_read_by_the_bounded_parser_keep_their_values(tmp_path):
    x = np.arange(12, dtype=">i2").reshape(3, 4)
    np.save(tmp_path / "x.npy", np.asfortranarray(x))
    assert np.array_equal(files.load_inputs(tmp_path / "x.npy"), x)
    (tmp_path / "t.npy").write_bytes((tmp_path / "x.npy").read_bytes() + b"\0")
    with pytest.raises(DataError, match=r"t.npy: array 'x' has more bytes than its shape \(3, 4\)"):
        files.load_inputs(tmp_path / "t.npy")


def patched_npz(path, local: int | None, central: int, value: int):
    """d.npz with x and y, the field at offset `local` of y's local header and `central` of its central
    directory entry (2 bytes) set to `value`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("x.npy", npy_header_only((2, 2), data=np.zeros((2, 2)).tobytes()))
        zf.writestr("y.npy", npy_header_only((2,), data=np.zeros(2).tobytes()))
    raw = bytearray(buf.getvalue())
    for signature, offset in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
        if offset is not None:
            at = raw.index(signature, raw.index(signature) + 1)  # y's, the second entry
            raw[at + offset:at + offset + 2] = value.to_bytes(2, "little")
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("local, central, value, message", [
    (8, 10, 1, r"archive entry 'y.npy' uses an unsupported compression \(method 1\)"),  # NotImplementedError
    (6, 8, 1, r"archive entry 'y.npy' is encrypted"),  # RuntimeError
    (None, 6, 92, r"not a readable .npz file \(NotImplementedError: zip file version 9.2\)"),
])
def test_npz_entries_zipfile_cannot_read_are_refused(tmp_path, local, central, value, message):
    path = patched_npz(tmp_path / "d.npz", local, central, value)
    with pytest.raises(DataError, match=rf"d.npz: {message}"):
        files.load(path)


def test_a_corrupt_deflate_stream_in_a_npz_is_refused_naming_the_array(tmp_path):
    """Was zlib.error from numpy's zip reading."""
    np.savez_compressed(tmp_path / "d.npz", x=np.arange(400.0).reshape(100, 4), y=np.zeros(100))
    raw = bytearray((tmp_path / "d.npz").read_bytes())
    start = raw.index(b"x.npy") + len(b"x.npy")
    raw[start + 2:start + 40] = b"\xff" * 38
    (tmp_path / "d.npz").write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"d.npz: array 'x' is corrupt \((zlib.error|zipfile.BadZipFile): "):
        files.load(tmp_path / "d.npz")


def test_a_csv_ending_in_a_cut_utf8_sequence_is_refused_naming_the_line(tmp_path):
    (tmp_path / "d.csv").write_bytes(b"a,b\n1,0\n\xef")
    with pytest.raises(DataError, match=r"d.csv: line 3 is not UTF-8 text \(unexpected end of data\)"):
        files.load(tmp_path / "d.csv")


def test_a_csv_header_whose_quote_runs_past_line_1_is_refused(tmp_path):
    """Was accepted: the header swallowed line 2, which was then read again as a data row."""
    path = write(tmp_path / "d.csv", 'a,"\n0,0\n')
    with pytest.raises(DataError, match=r"d.csv: the header row runs from line 1 to line 2"):
        files.load(path)
    assert files.load(write(tmp_path / "q.csv", 'a,"b"\n0,1\n'))[1].tolist() == [1]
