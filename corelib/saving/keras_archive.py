"""Reading Keras 3 files: the `.keras` archive (config.json, metadata.json, model.weights.h5)
and the weights-only `.weights.h5`.

The archive goes through the guarded zip reader (`safe_zip`: sizes, paths, no
links, no zip bombs); the HDF5 weights are opened by h5py from the bytes read,
in memory. Only plain datasets are read: an external or soft link, a virtual
dataset, data stored in another file or an unusual filter is refused, and each
dataset's shape is checked against the dl weight it fills before it is read.
Nothing in either file is imported, unpickled or run.

Keras keys a layer's weights by its class ("layers/dense_1/vars/0"), counting
layers of one class in the model's order, and a recurrent layer's under its
cell ("layers/lstm/cell/vars/0"); `keras_weights` follows that layout.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any, Iterator

import numpy as np

from corelib.errors import ModelFileError, exception_line, one_line
from corelib.saving.archive import open_zip, physical_memory
from corelib.saving.keras_config import MODEL_KINDS, keras_snake_case
from corelib.saving.safe_zip import check_entries, read_entry
from corelib.saving.serialization import provider

__all__ = ["KerasArchive", "is_keras_archive", "read_keras_archive", "open_h5", "read_h5_file", "keras_weights",
           "model_layout", "load_keras_weights", "is_hdf5"]

_MAX_CONFIG_BYTES = 16 * 2**20
_ENTRIES = {"config.json", "metadata.json", "model.weights.h5"}
_H5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_FILTERS = {1, 2, 3}  # deflate, shuffle, fletcher32: what h5py writes; no plugin filters
_H5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError, OverflowError)


class KerasArchive:
    """A `.keras` archive's config (parsed) and its weights entry (not read yet)."""

    def __init__(self, path: str, zf: zipfile.ZipFile, infos: dict, config: dict, metadata: dict) -> None:
        self.path, self._zf, self._infos = path, zf, infos
        self.config, self.metadata = config, metadata

    @property
    def weights_size(self) -> int:
        """The uncompressed size of model.weights.h5, as the zip declares it."""
        return self._infos["model.weights.h5"].file_size

    def read_weights(self) -> bytes:
        """model.weights.h5's bytes (its declared size, checked against the machine's memory)."""
        return read_entry(self._zf, self._infos["model.weights.h5"], self.path, physical_memory() // 2)

    def close(self) -> None:
        self._zf.close()

    def __enter__(self) -> "KerasArchive":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_keras_archive(path: str) -> KerasArchive:
    """Open a `.keras` archive: its entries checked, config.json and metadata.json parsed."""
    zf = open_zip(path, "Keras model archive (.keras)")
    try:
        infos = check_entries(zf, path, "the Keras archive")
        extra = sorted(set(infos) - _ENTRIES)
        if extra:
            raise ModelFileError(f"{path}: unexpected entry {extra[0]!r} in the Keras archive "
                                 "(assets and other entries are not supported)")
        for name in ("config.json", "model.weights.h5"):
            if name not in infos:
                raise ModelFileError(f"{path}: not a Keras model archive: no {name}")
        config = _json(zf, infos["config.json"], path)
        metadata = _json(zf, infos["metadata.json"], path) if "metadata.json" in infos else {}
        if not isinstance(config, dict) or not isinstance(metadata, dict):
            raise ModelFileError(f"{path}: config.json and metadata.json must be JSON objects")
        version = metadata.get("keras_version")
        if version is not None and not (isinstance(version, str) and version[:2] in ("2.", "3.")):
            raise ModelFileError(f"{path}: written by Keras {version!r}; dl reads Keras 3 archives")
        return KerasArchive(path, zf, infos, config, metadata)
    except BaseException:
        zf.close()
        raise


def is_keras_archive(path: str) -> bool:
    """Whether `path` is a Keras archive: a zip with Keras's entries, or named .keras, without dl's
    weights.npz (a dl model file, whatever its name ends in, is not one)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (OSError, zipfile.BadZipFile, ValueError, RuntimeError, NotImplementedError):
        return path.lower().endswith(".keras") and os.path.isfile(path)  # a corrupt one: refused as Keras's
    keras = "model.weights.h5" in names or "metadata.json" in names or path.lower().endswith(".keras")
    return keras and "weights.npz" not in names


def _json(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> Any:
    raw = read_entry(zf, info, path, _MAX_CONFIG_BYTES)
    try:
        return json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ModelFileError(f"{path}: {info.filename} is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"{path}: {info.filename} is corrupt ({type(exc).__name__}: {one_line(exc)})") from None


def is_hdf5(path: str) -> bool:
    """Whether the file starts with HDF5's signature."""
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == _H5_SIGNATURE
    except OSError:
        return False


def read_h5_file(path: str, limit: int) -> bytes:
    """A standalone HDF5 file's bytes, refusing one larger than `limit`."""
    try:
        size = os.path.getsize(path)
        if size > limit:
            raise ModelFileError(f"{path}: the weights file holds {size} bytes, more than the model's "
                                 f"weights need ({limit})")
        with open(path, "rb") as fh:
            return fh.read(limit + 1)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such weights file") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the weights file ({exception_line(exc)})") from None


def open_h5(data: bytes, path: str, what: str = "model.weights.h5") -> Any:
    """An h5py File over `data` in memory (read-only)."""
    try:
        import h5py  # an optional dependency: only Keras files need it
    except ImportError:
        raise ModelFileError(f"{path}: reading Keras weights needs h5py (pip install h5py)") from None
    if not data.startswith(_H5_SIGNATURE):
        raise ModelFileError(f"{path}: {what} is not an HDF5 file")
    try:
        return h5py.File(io.BytesIO(data), "r")
    except _H5_ERRORS as exc:
        raise ModelFileError(f"{path}: {what} is corrupt ({exception_line(exc)})") from None


def load_keras_weights(model: Any, path: str) -> None:
    """A Keras 3 weights file (`keras.Model.save_weights("w.weights.h5")`) into `model`, matched by
    structure: the model's layers in order, keyed as Keras keys them (`model_layout`); nothing is
    written unless every weight fits. Weights files that hold optimizer variables too are read
    (those are ignored)."""
    expected = sum(p.value.nbytes for p in model.weights)
    # the h5 file: the weights, an optimizer's slots (a few per weight), and per-dataset overhead
    limit = 4 * expected + 4096 * (4 * len(model.weights) + 64) + 2**20
    with open_h5(read_h5_file(path, limit), path, "the weights file") as h5:
        pairs = keras_weights(model, h5, model_layout(model), path)
    for array, p in pairs:
        p.value[...] = array


def model_layout(model: Any) -> list:
    """[(layer name, class name as Keras names it, inner layout or None)] of a dl model, in the order
    Keras gives the same model's layers (`keras_layer_order`), which numbers them in the file."""
    out = []
    for layer in keras_layer_order(model):
        kind = getattr(layer, "saved_class_name", None)
        if kind in MODEL_KINDS:
            out.append((layer.name, "Functional" if kind != "Sequential" else kind, model_layout(layer)))
        else:
            out.append((layer.name, provider(type(layer))[0], None))
    return out


def keras_layer_order(model: Any) -> list:
    """A model's layers in Keras 3's order for the same graph (its `Functional.layers`): by depth,
    farthest from the outputs first, ties in the order a depth-first walk from the outputs meets
    them. dl orders a graph's layers otherwise (two parallel branches can swap), and a weights file
    numbers same-class layers ("conv2d_1") in Keras's order. A Sequential model keeps its order."""
    outputs = getattr(model, "outputs", None)
    if getattr(model, "saved_class_name", None) == "Sequential" or not outputs:
        return list(model.layers)
    finished: set[int] = set()
    walk: list[Any] = []  # nodes, inputs first
    first_seen: dict[int, int] = {}

    def visit(node: Any) -> None:
        stack = [(node, False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in finished:
                continue
            if expanded:
                finished.add(id(node))
                walk.append(node)
                continue
            first_seen.setdefault(id(node.layer), len(first_seen))
            stack.append((node, True))
            stack.extend((t.node, False) for t in reversed(node.inputs or []))

    for tensor in outputs:
        visit(tensor.node)
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    walked = {id(n) for n in walk}
    for node in reversed(walk):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = node_depth[id(node)] = depth
        for t in node.inputs or []:
            if id(t.node) in walked:
                node_depth[id(t.node)] = max(depth + 1, node_depth.get(id(t.node), 0))
    rank = {lid: (-d, first_seen[lid]) for lid, d in layer_depth.items()}
    return sorted(model.layers, key=lambda layer: rank.get(id(layer), (1, 0)))


def keras_weights(model: Any, h5: Any, layout: list, path: str) -> list[tuple[np.ndarray, Any]]:
    """[(array, dl Parameter)] for every weight of `model`, from a Keras weights file laid out as
    `layout` (`model_layout`, or the archive config's); every shape checked before returning."""
    try:
        return _model_pairs(model, h5, layout, path, "")
    except ModelFileError:
        raise
    except _H5_ERRORS as exc:
        raise ModelFileError(f"{path}: the weights file is corrupt ({exception_line(exc)})") from None


def _model_pairs(model: Any, group: Any, layout: list, path: str, prefix: str) -> list:
    by_name = {layer.name: layer for layer in model.layers}
    layers_group = _child(group, "layers", path)
    counts: dict[str, int] = {}
    used: set[str] = set()
    pairs = []
    for name, kind, sub in layout:
        key = keras_snake_case(str(kind))
        counts[key] = counts.get(key, -1) + 1
        key = f"{key}_{counts[key]}" if counts[key] else key
        layer = by_name.get(name)
        if layer is None or not layer.weights:
            continue
        where = f"layer '{name}' ({type(layer).__name__}, '{prefix}layers/{key}')"
        g = _child(layers_group, key, path) if layers_group is not None else None
        if g is None:
            raise ModelFileError(f"{path}: the weights do not match the model: no weights for {where} in the file")
        used.add(key)
        arrays = (_model_pairs(layer, g, sub, path, f"{prefix}layers/{key}/") if sub is not None
                  else _check(list(_layer_arrays(g, layer, path)), layer, where, path))
        pairs.extend(arrays)
    for key in sorted(layers_group.keys()) if layers_group is not None else []:
        if key not in used and any(True for _ in _datasets(_child(layers_group, key, path), path)):
            raise ModelFileError(f"{path}: the weights do not match the model: the file has weights at "
                                 f"'{prefix}layers/{key}', which no layer of model '{model.name}' takes")
    return pairs


def _check(found: list, layer: Any, where: str, path: str) -> list:
    params = layer.weights
    if len(found) != len(params):
        raise ModelFileError(f"{path}: the weights do not match the model: the file holds {len(found)} weight "
                             f"arrays for {where}, dl's layer has {len(params)}")
    pairs = []
    for (name, ds), p in zip(found, params):
        if tuple(ds.shape) != p.value.shape or ds.dtype.kind != "f":
            raise ModelFileError(f"{path}: the weights do not match the model: '{name}' is {ds.dtype}"
                                 f"{list(ds.shape)} in the file, but {where} has {p.name} "
                                 f"{p.value.dtype}{list(p.value.shape)}")
        pairs.append((np.asarray(ds[()], dtype=p.value.dtype), p))
    return pairs


def _layer_arrays(g: Any, layer: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(h5 name, dataset) of one layer's weights in dl's order (Keras's for every built-in layer)."""
    forward, backward = getattr(layer, "forward_layer", None), getattr(layer, "backward_layer", None)
    if forward is not None and backward is not None:  # Bidirectional: Keras's attribute names
        yield from _layer_arrays(_need(g, "forward_layer", path), forward, path)
        yield from _layer_arrays(_need(g, "backward_layer", path), backward, path)
        return
    yield from _datasets(g, path)


def _datasets(g: Any, path: str) -> Iterator[tuple[str, Any]]:
    """A Keras object's weights: its own vars/0, 1, ..., then each child object's, by attribute
    name (Keras walks `dir()`, which sorts them), as Keras saves them."""
    if g is None:
        return
    own = _child(g, "vars", path)
    if own is not None:
        keys = list(own.keys())
        if sorted(keys) != sorted(str(i) for i in range(len(keys))):
            raise ModelFileError(f"{path}: '{own.name}' must hold datasets named 0, 1, ...")
        for i in range(len(keys)):
            yield f"{own.name}/{i}", _dataset(own, str(i), path)
    for key in sorted(g.keys()):
        if key != "vars":
            yield from _datasets(_child(g, key, path), path)


def _need(g: Any, key: str, path: str) -> Any:
    child = _child(g, key, path)
    if child is None:
        raise ModelFileError(f"{path}: the weights file has no '{g.name}/{key}'")
    return child


def _link(g: Any, key: str, path: str) -> Any:
    import h5py

    link = g.get(key, getlink=True)
    if link is not None and not isinstance(link, h5py.HardLink):
        raise ModelFileError(f"{path}: '{g.name}/{key}' is a link to elsewhere ({type(link).__name__}); "
                             "only plain groups and datasets are read")
    return link


def _child(g: Any, key: str, path: str) -> Any:
    """The group `key` of `g`, or None; a dataset or link where a group belongs is refused."""
    import h5py

    if _link(g, key, path) is None:
        return None
    child = g[key]
    if not isinstance(child, h5py.Group):
        raise ModelFileError(f"{path}: '{g.name}/{key}' should be a group")
    return child


def _dataset(g: Any, key: str, path: str) -> Any:
    import h5py

    _link(g, key, path)
    ds = g[key]
    where = f"{path}: '{g.name}/{key}'"
    if not isinstance(ds, h5py.Dataset):
        raise ModelFileError(f"{where} should be a dataset")
    if ds.is_virtual or ds.external:
        raise ModelFileError(f"{where} keeps its data outside the file; only data inside it is read")
    plist = ds.id.get_create_plist()
    filters = {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}
    if filters - _FILTERS:
        raise ModelFileError(f"{where} uses an unsupported HDF5 filter {sorted(filters - _FILTERS)[0]}")
    return ds
