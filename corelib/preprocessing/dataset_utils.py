"""`split_dataset`, and the file listing and train/validation split behind `image_dataset_from_directory`.

`split_dataset` follows Keras 3's rules for the sizes and its shuffle (Python's
``random`` seeded with `seed`), but works on arrays and returns arrays (Keras
returns `tf.data.Dataset`s): an array, a tuple or list of arrays, or a dict of
arrays, split along the first axis into two of the same structure.
"""

from __future__ import annotations

import numbers
import os
import random
from typing import Any, Iterator

import numpy as np

from corelib.errors import ConfigError, DataError, short_repr
from corelib.trainers.py_dataset import PyDataset, prefetch

__all__ = ["split_dataset", "index_directory", "training_or_validation_split", "check_validation_split",
           "IterableBatches"]


class IterableBatches(PyDataset):
    """A PyDataset that a ``for`` loop also reads: one pass over its batches (loaded ahead on its
    workers) between `on_epoch_begin` and `on_epoch_end`, as fit calls them."""

    def __iter__(self) -> Iterator[Any]:
        self.on_epoch_begin()
        yield from prefetch(self, range(len(self)))
        self.on_epoch_end()


def split_dataset(dataset: Any, left_size: int | float | None = None, right_size: int | float | None = None,
                  shuffle: bool = False, seed: int | None = None) -> tuple[Any, Any]:
    """Split arrays in two along their first axis, as `keras.utils.split_dataset`.

    >>> left, right = split_dataset(np.arange(10), left_size=0.8)
    >>> left.shape, right.shape
    ((8,), (2,))

    Args:
        dataset: an array, a tuple or list of arrays, or a dict of arrays, all with the same length.
        left_size: the left part's size: an int (a count) or a float in (0, 1) (a fraction,
            rounded); the rest (less `right_size`'s) when None.
        right_size: the right part's size, the same way; the rest when None. The left part is
            taken from the start and the right part from the end: a sum below the length
            leaves samples out.
        shuffle: shuffle the samples before splitting.
        seed: the shuffle's seed (Keras's: Python's ``random`` generator seeded with it).

    Returns:
        ``(left, right)``, each of `dataset`'s structure. Without shuffling they are views
        (slices) of the input arrays, so a memory-mapped array is not read.
    """
    arrays, rebuild = _flatten(dataset)
    if left_size is None and right_size is None:
        raise ConfigError("split_dataset: at least one of `left_size` or `right_size` must be specified. "
                          "Received: left_size=None and right_size=None")
    total = len(arrays[0])
    left, right = split_sizes(left_size, right_size, total)
    if shuffle:
        if seed is None:
            seed = random.randint(0, 10**6)
        order = list(range(total))
        random.Random(seed).shuffle(order)  # Keras seeds Python's generator and shuffles the samples
        left_index, right_index = np.array(order[:left]), np.array(order[total - right:])
        return (rebuild([a[left_index] for a in arrays]), rebuild([a[right_index] for a in arrays]))
    return rebuild([a[:left] for a in arrays]), rebuild([a[total - right:] for a in arrays])


def split_sizes(left_size: Any, right_size: Any, total: int) -> tuple[int, int]:
    """(left, right) sample counts from `split_dataset`'s sizes, by Keras's rules."""
    sizes = {}
    for arg, value in (("left_size", left_size), ("right_size", right_size)):
        if value is None:
            sizes[arg] = None
        elif isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ConfigError(f"split_dataset: {arg} must be an int, a float or None. "
                              f"Received: {arg}={short_repr(value)}")
        elif isinstance(value, numbers.Integral):
            if not 0 < value < total:
                raise ConfigError(f"split_dataset: {arg} should be either a positive integer smaller than "
                                  f"{total}, or a float within the range (0, 1). Received: {arg}={value}")
            sizes[arg] = int(value)
        else:
            if not 0 < value < 1:
                raise ConfigError(f"split_dataset: {arg} should be either a positive integer smaller than "
                                  f"{total}, or a float within the range (0, 1). Received: {arg}={value}")
            sizes[arg] = round(float(value) * total)
    if isinstance(left_size, float) and isinstance(right_size, float) and left_size + right_size > 1:
        raise ConfigError("split_dataset: the sum of `left_size` and `right_size` is greater than 1. It must be "
                          f"less than or equal to 1. Received: left_size={left_size}, right_size={right_size}")
    left, right = sizes["left_size"], sizes["right_size"]
    if left is None:
        left = total - right
    elif right is None:
        right = total - left
    if left + right > total:
        raise ConfigError(f"split_dataset: the sum of `left_size` and `right_size` ({left} + {right} samples) "
                          f"is greater than the data set's length, {total}")
    for side, n in (("left", left), ("right", right)):
        if n == 0:
            raise ConfigError(f"split_dataset: with a data set of length {total}, left_size={left_size} and "
                              f"right_size={right_size}, the {side} side would be empty")
    return left, right


def _flatten(dataset: Any) -> tuple[list[Any], Any]:
    """(the arrays of `dataset`, a function rebuilding its structure from a list of arrays)."""
    supported = "an array, a tuple or list of arrays, or a dict of arrays"
    if isinstance(dataset, dict):
        keys = list(dataset)
        arrays, rebuild = [dataset[k] for k in keys], lambda parts: dict(zip(keys, parts))
    elif isinstance(dataset, (list, tuple)):
        kind = type(dataset)
        arrays, rebuild = list(dataset), (lambda parts: kind(parts))
    elif isinstance(dataset, np.ndarray):
        return [dataset], lambda parts: parts[0]
    else:
        raise ConfigError(f"split_dataset: dataset must be {supported}. Received: an object of type "
                          f"{type(dataset).__name__}")
    if not arrays:
        raise DataError(f"split_dataset: dataset is an empty {type(dataset).__name__}; expected {supported}")
    names = keys if isinstance(dataset, dict) else range(len(arrays))
    for key, a in zip(names, arrays):
        if not isinstance(a, np.ndarray) or a.ndim == 0:
            raise ConfigError(f"split_dataset: dataset must be {supported}; item {key!r} is "
                              f"{type(a).__name__ if not isinstance(a, np.ndarray) else 'a 0-d array'}")
        if len(a) != len(arrays[0]):
            raise DataError(f"split_dataset: the arrays have different lengths: item {key!r} has {len(a)} "
                            f"samples, the first has {len(arrays[0])}")
    return arrays, rebuild


def check_validation_split(validation_split: Any, subset: Any, shuffle: bool, seed: Any, owner: str) -> None:
    """Keras's rules for `validation_split` and `subset`."""
    if validation_split is not None and (isinstance(validation_split, bool)
                                         or not isinstance(validation_split, numbers.Real)):
        raise ConfigError(f"{owner}: validation_split must be a float between 0 and 1. "
                          f"Received: validation_split={short_repr(validation_split)}")
    if validation_split and not 0 < validation_split < 1:
        raise ConfigError(f"{owner}: validation_split must be between 0 and 1. "
                          f"Received: validation_split={validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ConfigError(f"{owner}: if `subset` is set, `validation_split` must be set, and inversely. "
                          f"Received: validation_split={validation_split}, subset={short_repr(subset)}")
    if subset not in ("training", "validation", "both", None):
        raise ConfigError(f'{owner}: subset must be either "training", "validation" or "both". '
                          f"Received: subset={short_repr(subset)}")
    if validation_split and shuffle and seed is None:
        raise ConfigError(f"{owner}: if using `validation_split` and shuffling the data, you must provide a "
                          "`seed` argument, to make sure that there is no overlap between the training and "
                          "validation subset")


def index_directory(directory: str, labels: Any, formats: tuple[str, ...], class_names: list[str] | None,
                    shuffle: bool, seed: int, follow_links: bool, verbose: bool,
                    owner: str) -> tuple[list[str], np.ndarray | None, list[str] | None]:
    """(file paths, labels, class names) of the files under `directory` whose names end with one of
    `formats`, in Keras's order: class folders in alphanumeric order (or `class_names`' order), each
    walked folder by folder in sorted order, files sorted; then shuffled with NumPy's
    ``RandomState(seed)`` when `shuffle`. Labels are the class folders' indices when `labels` is
    "inferred", the given list (one per file, in that order) otherwise, None when None."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise DataError(f"{owner}: directory {directory!r} does not exist or is not a folder")
    inferred = isinstance(labels, str)  # "inferred"; otherwise None or a sequence of labels
    if inferred:
        folders = [name for name in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, name)) and not name.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(folders):
                raise ConfigError(f"{owner}: the `class_names` passed did not match the names of the "
                                  f"subdirectories of the target directory. Expected: {short_repr(folders)} (or "
                                  f"a subset of it), but received: class_names={short_repr(class_names)}")
            folders = list(class_names)
    elif class_names is not None:
        raise ConfigError(f"{owner}: " + ("when `labels=None` (no labels), argument `class_names` cannot be "
                                          "specified" if labels is None else
                                          "when argument `labels` is specified, argument `class_names` cannot "
                                          "be specified (the `class_names` will be the sorted list of labels)"))
    else:
        folders = [""]
    paths: list[str] = []
    folder_labels: list[int] = []
    for index, folder in enumerate(folders):
        found = _files_under(os.path.join(directory, folder), follow_links, formats)
        paths += found
        folder_labels += [index] * len(found)
    if inferred:
        label_array: np.ndarray | None = np.array(folder_labels, dtype=np.int32)
        names: list[str] | None = folders
    elif labels is None:
        label_array, names = None, None
    else:
        if len(labels) != len(paths):
            raise DataError(f"{owner}: expected the lengths of `labels` to match the number of files in the "
                            f"target directory. len(labels) is {len(labels)} while we found {len(paths)} files "
                            f"in directory {directory}")
        label_array = np.array(labels)  # a copy: the shuffle below must not reorder the caller's array
        if label_array.dtype.kind not in "iu":
            raise DataError(f"{owner}: `labels` must be a list of integer labels. Received: "
                            f"{short_repr(list(labels))}")
        names = [str(label) for label in sorted(set(label_array.tolist()))]
    if verbose:
        print(f"Found {len(paths)} files." if names is None else
              f"Found {len(paths)} files belonging to {len(names)} classes.")
    if shuffle:
        np.random.RandomState(seed).shuffle(paths)  # the same permutation for paths and labels
        if label_array is not None:
            np.random.RandomState(seed).shuffle(label_array)
    return paths, label_array, names


def _files_under(folder: str, follow_links: bool, formats: tuple[str, ...]) -> list[str]:
    found = []
    for root, _, files in sorted(os.walk(folder, followlinks=follow_links), key=lambda entry: entry[0]):
        found += [os.path.join(root, name) for name in sorted(files) if name.lower().endswith(formats)]
    return found


def training_or_validation_split(samples: list, labels: np.ndarray | None, validation_split: float | None,
                                 subset: str | None, verbose: bool) -> tuple[list, np.ndarray | None]:
    """The training part (all but the last ``int(validation_split * n)``) or the validation part."""
    if not validation_split:
        return samples, labels
    n_val = int(validation_split * len(samples))
    if subset == "training":
        if verbose:
            print(f"Using {len(samples) - n_val} files for training.")
        cut = slice(None, len(samples) - n_val)
    else:
        if verbose:
            print(f"Using {n_val} files for validation.")
        cut = slice(len(samples) - n_val, None)
    return samples[cut], None if labels is None else labels[cut]
