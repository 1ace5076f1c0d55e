"""Keras's image data sets: mnist, fashion_mnist and cifar10 (see `keras_common` for `origin` and `file_hash`)."""

from __future__ import annotations

import gzip
import os

import numpy as np

from corelib.downloads import get_file
from corelib.errors import ConfigError, DataError, one_line

from dl_datasets.keras_common import KERAS_FOLDER, Split, file_url, npz_arrays, require_hash
from dl_datasets.safe_pickle import load_pickle

__all__ = ["load_mnist", "load_fashion_mnist", "load_cifar10"]

CIFAR_FOLDER = "https://www.cs.toronto.edu/~kriz/"

# Published hashes: Keras 3's loaders (sha256 unless 32 digits, md5). Keras gives none for fashion_mnist;
# those are the md5 sums Zalando publishes for the same four files.
MNIST_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
CIFAR10_HASH = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
FASHION_MNIST_HASHES = {
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
}


def load_mnist(path: str = "mnist.npz", *, origin: str | None = None, file_hash: str | None = MNIST_HASH) -> Split:
    """MNIST handwritten digits, as `keras.datasets.mnist.load_data`.

    Args:
        path: the file's name in the cache folder.
        origin: a folder URL to download from instead of Keras's.
        file_hash: the hash the file must have.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: x uint8 (60000, 28, 28) and
        (10000, 28, 28) with pixels 0-255, y uint8 (60000,) and (10000,), digits 0-9.
    """
    path = get_file(path, file_url(origin, KERAS_FOLDER, "mnist.npz"), file_hash=file_hash)
    x_train, y_train, x_test, y_test = npz_arrays(path, ("x_train", "y_train", "x_test", "y_test"))
    return (x_train, y_train), (x_test, y_test)


def _read_idx(path: str, magic: int, dims: int) -> np.ndarray:
    """An idx file (gzip'd): a big-endian magic number, one count per axis, then uint8 values."""
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"Cannot read {path} as gzip: {one_line(exc)}") from None
    header = 4 + 4 * dims
    if len(data) < header or int.from_bytes(data[:4], "big") != magic:
        raise DataError(f"{path} is not an idx file (magic number {magic} expected)")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    if len(data) - header != int(np.prod(shape)):
        raise DataError(f"{path}: its header announces shape {shape}, but it holds {len(data) - header} values")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def load_fashion_mnist(*, origin: str | None = None, file_hash: dict[str, str] | None = None) -> Split:
    """Fashion-MNIST (Zalando's article images), as `keras.datasets.fashion_mnist.load_data`.

    Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal,
    6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot.

    Args:
        origin: a folder URL to download from instead of Keras's.
        file_hash: {file name: hash} for the four files; Zalando's published md5 sums by default.

    Returns:
        As `load_mnist`: x uint8 (60000, 28, 28) and (10000, 28, 28), y uint8 0-9.
    """
    unknown = sorted(set(file_hash or {}) - set(FASHION_MNIST_HASHES))
    if unknown:
        raise ConfigError(f"fashion_mnist.load_data: file_hash names files it does not read: {unknown}; "
                          f"its files are {sorted(FASHION_MNIST_HASHES)}")
    hashes = {**FASHION_MNIST_HASHES, **(file_hash or {})}
    paths = {name: get_file(name, file_url(origin, KERAS_FOLDER, name), file_hash=hashes[name],
                            cache_subdir=os.path.join("datasets", "fashion-mnist"))
             for name in FASHION_MNIST_HASHES}
    split = []
    for prefix in ("train", "t10k"):
        y = _read_idx(paths[f"{prefix}-labels-idx1-ubyte.gz"], 2049, 1)
        x = _read_idx(paths[f"{prefix}-images-idx3-ubyte.gz"], 2051, 3)
        if len(x) != len(y):
            raise DataError(f"Fashion-MNIST {prefix}: {len(x)} images but {len(y)} labels")
        split.append((x, y))
    return split[0], split[1]


def load_cifar10(*, origin: str | None = None, file_hash: str = CIFAR10_HASH) -> Split:
    """CIFAR-10 32x32 colour images in 10 classes, as `keras.datasets.cifar10.load_data`.

    Labels: 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog,
    7 horse, 8 ship, 9 truck.

    The archive holds Python pickles: they are read only after the archive
    matched `file_hash` (the published sha256), and then with an unpickler
    that rebuilds NumPy arrays and nothing else.

    Args:
        origin: a folder URL holding ``cifar-10-python.tar.gz`` instead of the Toronto site.
        file_hash: the archive's hash; None is refused.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: x uint8 (50000, 32, 32, 3)
        and (10000, 32, 32, 3) (channels last), y uint8 (50000, 1) and (10000, 1).
    """
    require_hash(file_hash, "cifar10")
    folder = get_file("cifar-10-batches-py-target", file_url(origin, CIFAR_FOLDER, "cifar-10-python.tar.gz"),
                      extract=True, file_hash=file_hash)
    folder = os.path.join(folder, "cifar-10-batches-py")
    train = [_cifar_batch(os.path.join(folder, f"data_batch_{i}")) for i in range(1, 6)]
    x_test, y_test = _cifar_batch(os.path.join(folder, "test_batch"))
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return (x_train, y_train), (x_test, y_test)


def _cifar_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
    """One batch file: x uint8 (n, 32, 32, 3), y uint8 (n, 1)."""
    try:
        with open(path, "rb") as fh:
            batch = load_pickle(fh, path)
    except FileNotFoundError:
        raise DataError(f"The CIFAR-10 archive lacks {os.path.basename(path)} (looked for {path})") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path} holds {type(batch).__name__}, not a CIFAR-10 batch dict")
    batch = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{path} lacks 'data' or 'labels'; it has {sorted(map(str, batch))}")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"])
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DataError(f"{path}: data of shape {data.shape} and {len(labels)} labels; expected (n, 3072) and n")
    x = data.astype(np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return x, labels.astype(np.uint8).reshape(-1, 1)

