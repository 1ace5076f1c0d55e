"""The crafted model files of tests/test_model_file_safety.py: each `case_*`
takes the bytes of a real model file and returns them with one thing edited
(an entry, a header field, a JSON value) that loading must refuse.
"""

from __future__ import annotations

import io
import json
import stat
import struct
import zipfile

import numpy as np

from _crafted_zip import (_arrays, _edit_config, _edit_npz, _entries, _npy_header_only, _npz, _patch,
                          _raw_deflate_member, _rebuild, _zip)


def _first_layer_item(doc: dict) -> dict:
    """The first layer's {"class_name", "config", "plugin", ...} item."""
    return doc["model"]["config"]["layers"][0]


def _replace_once(text: str, old: str, new: str) -> str:
    assert old in text, f"the good file's config.json has no {old!r}"
    return text.replace(old, new, 1)


def case_zip_bomb_config(good):
    """config.json inflates to 64 MiB of blanks from ~64 KiB (ratio ~1000)."""
    blanks = json.dumps(json.loads(_entries(good)["config.json"])).encode() + b" " * (64 * 2**20)
    return _rebuild(good, {"config.json": blanks})


def case_zip_bomb_declared_small(good):
    """config.json inflates to 64 MiB but its headers declare 2 KiB."""
    bomb = _rebuild(good, {"config.json": b"{" + b" " * (64 * 2**20) + b"}"})
    return _patch(bomb, "config.json", file_size=2048)


def case_zip_bomb_declared_huge(good):
    """weights.npz declares a decompressed size of 4 GiB - 1."""
    return _patch(good, "weights.npz", file_size=2**32 - 1)


def case_nested_npz_bomb(good):
    """weights.npz is small, but its first kernel's member inflates to 96 MiB."""
    arrays = _arrays(_entries(good)["weights.npz"])
    key = next(k for k in arrays if k.endswith("kernel"))
    rows, cols = 3, 2**23  # float32: 96 MiB
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (rows, cols)})
    bomb = _raw_deflate_member(key + ".npy", rows * cols * 4, header.getvalue())
    rest = {k + ".npy": _npz_member(v) for k, v in arrays.items() if k != key}
    return _rebuild(good, {"weights.npz": _splice_zip(bomb, rest)})


def _splice_zip(hand_made: bytes, more: dict[str, bytes]) -> bytes:
    """Append stored entries to a one-member hand-made zip."""
    buf = io.BytesIO(hand_made)
    with zipfile.ZipFile(buf, "a") as zf:
        for name, data in more.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED)
    return buf.getvalue()


def case_npy_header_claims_huge_shape(good):
    """The kernel's .npy header claims 2**40 entries; the member holds 16 bytes."""
    arrays = _arrays(_entries(good)["weights.npz"])
    key = next(k for k in arrays if k.endswith("kernel"))
    rest = {k + ".npy": _npz_member(v) for k, v in arrays.items() if k != key}
    huge = _zip([(key + ".npy", _npy_header_only((2**40,)))], compress=zipfile.ZIP_STORED)
    return _rebuild(good, {"weights.npz": _splice_zip(huge, rest)})


def case_duplicate_entry_names(good):
    """Two config.json entries: which one a reader sees depends on the reader."""
    entries = list(_entries(good).items())
    doc = json.loads(_entries(good)["config.json"])
    _first_layer_item(doc)["config"]["units"] = 7
    return _zip(entries + [("config.json", json.dumps(doc).encode())])


def case_duplicate_identical_entries(good):
    """weights.npz twice, same bytes: still not a file dl writes."""
    entries = list(_entries(good).items())
    return _zip(entries + [("weights.npz", _entries(good)["weights.npz"])])


def case_config_is_a_json_list(good):
    return _rebuild(good, {"config.json": b'["dl-model", 1]'})


def case_config_is_a_json_string(good):
    return _rebuild(good, {"config.json": b'"dl-model"'})


def case_layers_not_a_list(good):
    def edit(doc):
        cfg = doc["model"]["config"]
        cfg["layers"] = {str(i): item for i, item in enumerate(cfg["layers"])}
    return _edit_config(good, edit)


def case_recursion_bomb(good):
    """200,000 nested lists inside an otherwise valid config."""
    text = _entries(good)["config.json"].decode()
    depth = 200_000
    return _rebuild(good, {"config.json": ('{"deep": ' + "[" * depth + "]" * depth + ", " + text.lstrip()[1:]).encode()})


def case_config_not_utf8(good):
    text = _entries(good)["config.json"].decode()
    return _rebuild(good, {"config.json": _replace_once(text, '"dense"', '"d\u00e9nse"').encode("latin-1")})


def case_config_utf16(good):
    """Valid JSON in UTF-16 (json.loads would accept these bytes, UTF-8 does not)."""
    return _rebuild(good, {"config.json": _entries(good)["config.json"].decode().encode("utf-16")})


def case_weights_wrong_dtype(good):
    def edit(arrays):
        for k in arrays:
            arrays[k] = arrays[k].astype(np.float64)
    return _edit_npz(good, "weights.npz", edit)


def case_weights_string_dtype(good):
    def edit(arrays):
        k = next(iter(arrays))
        arrays[k] = np.full(arrays[k].shape, "x")
    return _edit_npz(good, "weights.npz", edit)


def case_weights_extra_array(good):
    return _edit_npz(good, "weights.npz", lambda arrays: arrays.update({"dense_9/kernel": np.zeros((2, 2), "f4")}))


def case_npz_member_with_dotdot(good):
    def edit(arrays):
        buf = io.BytesIO(_npz(**arrays))
        with zipfile.ZipFile(buf, "a") as zf:
            zf.writestr("../../colorsys.npy", _npz_member(np.zeros(3, "f4")))
        return buf.getvalue()
    return _edit_npz(good, "weights.npz", edit)


def case_npz_member_absolute(good):
    def edit(arrays):
        buf = io.BytesIO(_npz(**arrays))
        with zipfile.ZipFile(buf, "a") as zf:
            zf.writestr("/tmp/dl-evil.npy", _npz_member(np.zeros(3, "f4")))
        return buf.getvalue()
    return _edit_npz(good, "weights.npz", edit)


def _npz_member(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _malicious_pickle_npy() -> bytes:
    """An object-array .npy whose pickle imports a bait module when unpickled."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    payload = b"cbuiltins\n__import__\n(Vcolorsys\ntR."  # pickle protocol 0: __import__("colorsys")
    return header.getvalue() + payload


def case_pickle_in_optimizer(good):
    def edit(arrays):
        buf = io.BytesIO(_npz(**arrays))
        with zipfile.ZipFile(buf, "a") as zf:
            zf.writestr("0/m_evil.npy", _malicious_pickle_npy())
        return buf.getvalue()
    return _edit_npz(good, "optimizer.npz", edit)


def case_pickle_replacing_optimizer_slot(good):
    def edit(arrays):
        key = next(k for k in arrays if k != "iterations")
        del arrays[key]
        buf = io.BytesIO(_npz(**arrays))
        with zipfile.ZipFile(buf, "a") as zf:
            zf.writestr(key + ".npy", _malicious_pickle_npy())
        return buf.getvalue()
    return _edit_npz(good, "optimizer.npz", edit)


def case_optimizer_state_wrong_shapes(good):
    def edit(arrays):
        for k in arrays:
            if arrays[k].ndim == 2:
                arrays[k] = np.zeros(arrays[k].shape[::-1] + (1,), arrays[k].dtype)
    return _edit_npz(good, "optimizer.npz", edit)


def case_optimizer_state_oversized(good):
    """optimizer.npz far larger than a few slots per weight."""
    return _edit_npz(good, "optimizer.npz", lambda arrays: arrays.update({"pad": np.zeros(2**20, "f8")}))


def _class_name_case(name):
    def case(good):
        return _edit_config(good, lambda doc: _first_layer_item(doc).update(class_name=name))
    case.__name__ = f"case_class_name_{name}"
    return case


def case_keras_module_keys(good):
    """Keras 3 style item naming an arbitrary module and function."""
    def edit(doc):
        _first_layer_item(doc).update(module="colorsys", class_name="hls_to_rgb", registered_name="colorsys>hls_to_rgb")
    return _edit_config(good, edit)


def case_module_key_beside_a_known_class(good):
    """class_name "Dense" but a "module" key naming another module: the file contradicts itself."""
    return _edit_config(good, lambda doc: _first_layer_item(doc).update(module="colorsys", registered_name="colorsys>Dense"))


def case_activation_names_a_module_function(good):
    return _edit_config(good, lambda doc: _first_layer_item(doc)["config"].update(activation="os.system"))


def case_initializer_dict_names_a_builtin(good):
    return _edit_config(good, lambda doc: _first_layer_item(doc)["config"].update(
        kernel_initializer={"class_name": "builtins.eval", "config": {"source": "__import__('colorsys')"}}))


def case_format_version_string(good):
    return _edit_config(good, lambda doc: doc.update(format_version="1"))


def case_format_version_true(good):
    """true == 1 in Python, but a boolean is not a format version."""
    return _edit_config(good, lambda doc: doc.update(format_version=True))


def case_format_version_nan(good):
    return _edit_config(good, lambda doc: _replace_once(json.dumps(doc), '"format_version": 1', '"format_version": NaN'))


def case_symlink_entry(good):
    """config.json marked as a symbolic link (S_IFLNK) — dl writes regular files only."""
    return _patch(good, "config.json", external_attr=(stat.S_IFLNK | 0o777) << 16)


def case_empty_file(good):
    return b""


def case_zip_of_something_else(good):
    return _zip([("README.txt", b"hello"), ("data/table.csv", b"a,b\n1,2\n")])


def case_empty_zip(good):
    return _zip([])


def case_absolute_entry_name(good):
    return _rebuild(good, extra=[("/tmp/dl-evil.py", b"import colorsys\n")])


def case_backslash_traversal_entry(good):
    return _rebuild(good, extra=[("..\\..\\dl-evil.py", b"import colorsys\n")])


def case_encrypted_entry(good):
    """config.json flagged as encrypted (general purpose bit 0)."""
    return _patch(good, "config.json", flags=0x1)


def case_unsupported_compression(good):
    """config.json compressed with method 99 (AES), which zipfile cannot read."""
    return _patch(good, "config.json", method=99)


def case_loss_names_a_callable(good):
    return _edit_config(good, lambda doc: doc["compile"].update(loss="os.system"))


def case_loss_dict_names_a_builtin(good):
    return _edit_config(good, lambda doc: doc["compile"].update(loss={"class_name": "builtins.exec", "config": {}}))


def case_optimizer_names_a_callable(good):
    return _edit_config(good, lambda doc: doc["compile"].update(optimizer="tabnanny.check"))


def case_metric_names_a_callable(good):
    return _edit_config(good, lambda doc: doc["compile"].update(metrics=["colorsys.rgb_to_hls"]))


def case_units_nan(good):
    return _edit_config(good, lambda doc: _replace_once(json.dumps(doc), '"units": 4', '"units": NaN'))


def case_input_shape_infinity(good):
    def edit(doc):
        cfg = _first_layer_item(doc)["config"]
        key = "batch_input_shape" if "batch_input_shape" in cfg else "input_shape"
        cfg[key] = [None, 1e400] if key == "batch_input_shape" else [1e400]
        return json.dumps(doc)  # json writes the float as Infinity
    return _edit_config(good, edit)


def case_units_too_big_for_memory(good):
    """units = 2**62: a loader must not try to build a kernel of that size."""
    return _edit_config(good, lambda doc: _first_layer_item(doc)["config"].update(units=2**62))


def case_units_400_digits(good):
    return _edit_config(good, lambda doc: _first_layer_item(doc)["config"].update(units=10**400))


def case_config_deflate_stream_broken(good):
    """config.json's deflate stream starts with a block of the reserved type 3 (zlib.error on reading)."""
    data = bytearray(good)
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        info = zf.getinfo("config.json")
    assert info.compress_type == zipfile.ZIP_DEFLATED
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    data[info.header_offset + 30 + name_len + extra_len] = 0x07  # BFINAL=1, BTYPE=11
    return bytes(data)


def case_npy_header_unterminated(good):
    """A kernel's .npy header is a dict literal that never closes (numpy's tokenizer raises TokenError)."""
    def edit(arrays):
        key = next(k for k in arrays if k.endswith("kernel"))
        head = b"{'descr': '<f4', 'fortran_order': False, 'shape': (3,\n"
        head += b" " * (63 - len(head) % 64) + b"\n"
        raw = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head + bytes(48)
        members = [(k + ".npy", raw if k == key else _npz_member(v)) for k, v in arrays.items()]
        return _zip(members, compress=zipfile.ZIP_STORED)
    return _edit_npz(good, "weights.npz", edit)


def case_optimizer_iterations_infinite(good):
    return _edit_npz(good, "optimizer.npz", lambda arrays: arrays.update(iterations=np.array(np.inf)))


def case_optimizer_iterations_past_int64(good):
    """iterations = 2**63 as uint64: get_state could not write it back as int64."""
    return _edit_npz(good, "optimizer.npz", lambda arrays: arrays.update(iterations=np.array(2**63, np.uint64)))


def case_optimizer_iterations_fraction(good):
    return _edit_npz(good, "optimizer.npz", lambda arrays: arrays.update(iterations=np.array(2.5)))


CASES = [
    case_zip_bomb_config, case_zip_bomb_declared_small, case_zip_bomb_declared_huge, case_nested_npz_bomb,
    case_npy_header_claims_huge_shape, case_duplicate_entry_names, case_duplicate_identical_entries,
    case_config_is_a_json_list, case_config_is_a_json_string, case_layers_not_a_list, case_recursion_bomb,
    case_config_not_utf8, case_config_utf16, case_weights_wrong_dtype, case_weights_string_dtype,
    case_weights_extra_array, case_npz_member_with_dotdot, case_npz_member_absolute, case_pickle_in_optimizer,
    case_pickle_replacing_optimizer_slot, case_optimizer_state_wrong_shapes, case_optimizer_state_oversized,
    _class_name_case("eval"), _class_name_case("__import__"), _class_name_case("builtins.exec"),
    case_keras_module_keys, case_module_key_beside_a_known_class, case_activation_names_a_module_function,
    case_initializer_dict_names_a_builtin, case_format_version_string, case_format_version_true,
    case_format_version_nan, case_symlink_entry, case_empty_file, case_zip_of_something_else, case_empty_zip,
    case_absolute_entry_name, case_backslash_traversal_entry, case_encrypted_entry, case_unsupported_compression,
    case_loss_names_a_callable, case_loss_dict_names_a_builtin, case_optimizer_names_a_callable,
    case_metric_names_a_callable, case_units_nan, case_input_shape_infinity, case_units_too_big_for_memory,
    case_units_400_digits, case_config_deflate_stream_broken, case_npy_header_unterminated,
    case_optimizer_iterations_infinite, case_optimizer_iterations_past_int64, case_optimizer_iterations_fraction,
]
