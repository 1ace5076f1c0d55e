"""Hypothesis strategies for the data-file and model-file fuzz targets (see `_strategies`): arrays
of odd dtypes and shapes as .npy / .npz, CSV text, and real model files with config.json fields,
.npz arrays and zip entries edited."""

from __future__ import annotations

import io
import json
import warnings
import zipfile
import zlib

import numpy as np
from hypothesis import strategies as st

from _harness import corpus_files
from _strategies import TOKENS, Seeds, from_corpus, keys, leaves, maybe_mutated, mutated, one_in_four, values

__all__ = ["data_strategy", "model_strategy"]


# ---- data ------------------------------------------------------------------------------------------------------------

DTYPES = ["<f4", "<f8", "<f2", ">f8", "<i1", "<i4", "<i8", "<u1", "<u8", "|b1", "<c8", "<U3", "|S3", "<M8[s]",
          "<m8[s]", "|V4"]


@st.composite
def arrays(draw):
    from hypothesis.extra import numpy as hnp

    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    if dtype.kind in "fiub":
        elements = None
        if dtype.kind == "u" and dtype.itemsize == 8:
            elements = st.sampled_from([0, 1, 2**63 - 1, 2**63, 2**64 - 1])
        return draw(hnp.arrays(dtype, shape, elements=elements))
    return np.zeros(shape, dtype=dtype)


NPZ_NAMES = ["x", "y", "x_a", "y_b", "x_", "y_", "z", "x_a/b", "arr_0"]


@st.composite
def data_inputs(draw):
    kind = draw(st.sampled_from([".npy", ".npz", ".csv"]))
    buf = io.BytesIO()
    if kind == ".npy":
        np.save(buf, draw(arrays()), allow_pickle=draw(st.booleans()))
        return kind, maybe_mutated("data", buf.getvalue(), draw)
    if kind == ".npz":
        contents = draw(st.dictionaries(st.sampled_from(NPZ_NAMES), arrays(), max_size=3))
        (np.savez_compressed if draw(st.booleans()) else np.savez)(buf, **contents)
        return kind, maybe_mutated("data", buf.getvalue(), draw)
    cells = st.one_of(st.integers(-5, 5).map(str), st.floats().map(repr),
                      st.sampled_from(["", " ", "nan", "inf", "1e999", "9223372036854775808", "18446744073709551616",
                                       "-9223372036854775809", "1_0", "0x1", "#1", '"1"', '"1,2"', "a", "1e-320", "1.",
                                       ".5", "+3", "—1", "١"]))
    columns = draw(st.integers(1, 4))
    header = draw(st.lists(st.one_of(st.sampled_from(["a", "b", "label", "y", "x", "1", " a ", '"q"', "é"]),
                                     st.text(max_size=3)), min_size=columns, max_size=columns))
    rows = draw(st.lists(st.lists(cells, min_size=max(0, columns - 1), max_size=columns + 1), max_size=5))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(",".join(r) for r in [header] + rows) + draw(st.sampled_from(["", newline]))
    if draw(st.booleans()):
        text = "\ufeff" + text
    return kind, maybe_mutated("data", text.encode("utf-8", "surrogatepass"), draw)


def data_strategy() -> st.SearchStrategy:
    return one_in_four(from_corpus("data", (".csv", ".npz", ".npy")), data_inputs())


# ---- model -----------------------------------------------------------------------------------------------------------

def _entries(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(info.filename, zf.read(info)) for info in zf.infolist()]


def _zip(entries: list[tuple[str, bytes]], compression: int) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as zf:
        warnings.simplefilter("ignore")  # "Duplicate name": a duplicate entry is one of the edits
        for name, data in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            zf.writestr(info, data)
    return buf.getvalue()


def _json_paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _json_paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _json_paths(v, prefix + (i,))


@st.composite
def edited_config(draw, text: bytes) -> bytes:
    """config.json with a field replaced, deleted or added (bytes edited, if it is no longer JSON)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return draw(mutated([text], TOKENS["model"], max_ops=3))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _json_paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        op = draw(st.integers(0, 3))
        if op == 0:
            parent[path[-1]] = draw(values)
        elif op == 1:
            del parent[path[-1]]
        elif op == 2 and isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(keys)] = draw(values)
        elif op == 3 and isinstance(parent[path[-1]], list):
            parent[path[-1]].append(draw(values) if draw(st.booleans()) else parent[path[-1]][:1])
        else:
            parent[path[-1]] = draw(leaves)
    return json.dumps(doc).encode()


@st.composite
def edited_npz(draw, data: bytes) -> bytes:
    """weights.npz with an array replaced (other shape or dtype), dropped, added, or its header edited
    (bytes edited, if it is no longer a zip)."""
    try:
        members = _entries(data)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError):
        return draw(mutated([data], TOKENS["model"], max_ops=3))
    op = draw(st.integers(0, 3))
    i = draw(st.integers(0, max(0, len(members) - 1)))
    if op == 0 and members:
        buf = io.BytesIO()
        np.save(buf, draw(arrays()))
        members[i] = (members[i][0], buf.getvalue())
    elif op == 1 and members:
        del members[i]
    elif op == 2:
        buf = io.BytesIO()
        np.save(buf, draw(arrays()))
        members.append((draw(st.sampled_from(["extra.npy", "dense/kernel.npy", "x", "a/../b.npy"])), buf.getvalue()))
    elif members:
        name, npy = members[i]
        head = draw(mutated([npy[:128]], TOKENS["data"], max_ops=3))
        members[i] = (name, head + npy[128:])
    return _zip(members, draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])))


def _model_seeds() -> list[bytes]:
    """The corpus's model files whose entries all read: the structural edits start from those (a
    corrupt seed, such as a broken deflate stream, still runs as itself and in byte mutations)."""
    return Seeds(p.read_bytes() for p in corpus_files("model") if p.suffix == ".bin" and _readable(p))


def _readable(path) -> bool:
    try:
        for name, data in _entries(path.read_bytes()):
            if name.endswith(".npz"):
                _entries(data)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError, ValueError):
        return False
    return True


@st.composite
def model_files(draw):
    entries = _entries(draw(st.sampled_from(_model_seeds())))
    for _ in range(draw(st.integers(1, 2))):
        op = draw(st.sampled_from([0, 0, 0, 0, 1, 2, 3, 4, 5]))  # mostly an edit inside config.json or an .npz
        i = draw(st.integers(0, len(entries) - 1)) if entries else 0
        if op == 0 and draw(st.integers(0, 2)):
            i = next((j for j, (name, _) in enumerate(entries) if name == "config.json"), i)
        if op == 0 and entries:
            name, text = entries[i]
            if name == "config.json":
                entries[i] = (name, draw(edited_config(text)))
            elif name.endswith(".npz"):
                entries[i] = (name, draw(edited_npz(text)))
            else:
                entries[i] = (name, draw(mutated([text], TOKENS["model"], max_ops=3)))
        elif op == 1 and entries:
            del entries[i]
        elif op == 2 and entries:
            entries.append(entries[i])
        elif op == 3 and entries:
            new = draw(st.sampled_from(["optimizer.npz", "train_state.json", "weights.npz", "config.json", "../x",
                                        "/abs", "other.txt", "CONFIG.JSON", "a:b"]))
            entries[i] = (new, entries[i][1])
        elif op == 4 and entries:
            name, text = entries[i]
            entries[i] = (name, draw(mutated([text], TOKENS["model"], max_ops=3)))
        else:
            entries.append((draw(st.sampled_from(["optimizer.npz", "train_state.json"])), draw(st.binary(max_size=64))))
    data = _zip(entries, draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])))
    return ".bin", maybe_mutated("model", data, draw) if draw(st.integers(0, 4)) == 0 else data


def model_strategy() -> st.SearchStrategy:
    return one_in_four(from_corpus("model", (".bin",)), model_files())
