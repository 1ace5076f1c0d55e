"""`timeseries_dataset_from_array`: batches of sliding windows over an array, cut when asked for.

Keras 3 returns a `tf.data.Dataset`; dl returns a `TimeseriesBatches`, a
`PyDataset` that slices each batch's windows from `data` when the batch is
asked for, so a memory-mapped array (``np.load(..., mmap_mode="r")``) is read
a window at a time, never whole.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from corelib import config
from corelib.errors import ConfigError, DataError, short_repr
from corelib.preprocessing.dataset_utils import IterableBatches
from corelib.trainers.batching import MappedRows

__all__ = ["timeseries_dataset_from_array", "TimeseriesBatches"]

_OWNER = "timeseries_dataset_from_array"


def timeseries_dataset_from_array(
    data: Any,
    targets: Any,
    sequence_length: int,
    sequence_stride: int = 1,
    sampling_rate: int = 1,
    batch_size: int | None = 128,
    shuffle: bool = False,
    seed: int | None = None,
    start_index: int | None = None,
    end_index: int | None = None,
    workers: int = 1,
    use_multiprocessing: bool = False,
    max_queue_size: int = 10,
) -> TimeseriesBatches:
    """Sliding windows over `data` with a target each, as `keras.utils.timeseries_dataset_from_array`.

    Window i holds ``data[s + j * sampling_rate]`` for j in 0 .. sequence_length - 1, where
    ``s = start_index + i * sequence_stride``; its target is ``targets[s]``.

    >>> ds = timeseries_dataset_from_array(np.arange(10), None, sequence_length=3, batch_size=4)
    >>> ds[0]
    array([[0, 1, 2],
           [1, 2, 3],
           [2, 3, 4],
           [3, 4, 5]])

    Args:
        data: an array (or memory-mapped array) of time steps along its first axis.
        targets: the targets, ``targets[s]`` for the window starting at step s (indexed from
            `start_index`); None for batches of windows only.
        sequence_length: time steps per window.
        sequence_stride: steps between the starts of consecutive windows.
        sampling_rate: steps between the time steps taken within a window.
        batch_size: windows per batch; None for single windows (no batch axis).
        shuffle: shuffle the windows (seeded by `seed`, as Keras), and each pass again (dl's generator).
        seed: the shuffle's seed.
        start_index: the first step used (inclusive); 0 when None.
        end_index: the step after the last used (exclusive); the data's length when None.
        workers, use_multiprocessing, max_queue_size: loading ahead during fit (see `PyDataset`).

    Returns:
        A `TimeseriesBatches` of ``(windows, targets)`` batches (windows alone without targets),
        windows of shape ``(batch, sequence_length) + data.shape[1:]`` in `data`'s dtype.
    """
    if not isinstance(data, np.ndarray):
        data = np.asarray(data)
    if targets is not None and not isinstance(targets, np.ndarray):
        targets = np.asarray(targets)
    if data.ndim == 0:
        raise DataError(f"{_OWNER}: data must be an array of time steps along its first axis. "
                        f"Received a 0-d array: {short_repr(data)}")
    n = len(data)
    sequence_length = _positive(sequence_length, "sequence_length")
    if batch_size is not None:
        batch_size = _positive(batch_size, "batch_size")
    if start_index:
        if not 0 <= start_index < n:
            raise ConfigError(f"{_OWNER}: start_index must be 0 or greater and lower than the length of the data. "
                              f"Received: start_index={start_index}, for data of length {n}")
    if end_index:
        if start_index and end_index <= start_index:
            raise ConfigError(f"{_OWNER}: end_index must be higher than start_index. "
                              f"Received: start_index={start_index}, and end_index={end_index}")
        if not 0 < end_index < n:
            raise ConfigError(f"{_OWNER}: end_index must be higher than 0 and lower than the length of the data. "
                              f"Received: end_index={end_index}, for data of length {n}")
    for arg, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        _positive(value, arg)
        if value >= n:
            raise ConfigError(f"{_OWNER}: {arg} must be lower than the length of the data. "
                              f"Received: {arg}={value}, for data of length {n}")
    start = start_index or 0
    end = end_index or n
    count = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        count = min(count, len(targets) - start)
    starts = np.arange(0, max(count, 0), sequence_stride, dtype=np.int64)
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(starts)
    return TimeseriesBatches(data, targets, starts + start, sequence_length, sampling_rate, batch_size, shuffle,
                             seed, workers=workers, use_multiprocessing=use_multiprocessing,
                             max_queue_size=max_queue_size)


class TimeseriesBatches(IterableBatches):
    """Windows over an array, sliced per batch: what `timeseries_dataset_from_array` returns.

    ``len(ds)`` batches; ``ds[i]`` is batch i of the current epoch's order; ``for batch in ds``
    reads them all (in a new order, if shuffling).

    Attributes:
        starts: the first step of each window, in the order of the first epoch.
    """

    def __init__(self, data: np.ndarray, targets: np.ndarray | None, starts: np.ndarray, sequence_length: int,
                 sampling_rate: int, batch_size: int | None, shuffle: bool, seed: int | None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data = data
        self.targets = targets
        self.starts = starts
        self.batch_size = batch_size
        self.shuffle = shuffle
        self._offsets = np.arange(sequence_length, dtype=np.int64) * sampling_rate
        self._order = starts
        # a memory-mapped series is read by positioned reads: the process keeps no page it touched
        self._mapped = (MappedRows(data, None, "data") if isinstance(data, np.memmap) and data.ndim
                        and data.dtype.kind in "biuf" else None)

    def __len__(self) -> int:
        if self.batch_size is None:
            return len(self._order)
        return math.ceil(len(self._order) / self.batch_size)

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"TimeseriesBatches: batch index {index} is out of range (the data set has {len(self)})")
        if self.batch_size is None:
            first = self._order[index]
            window = self._steps(first + self._offsets)
            return window if self.targets is None else (window, np.asarray(self.targets[first]))
        firsts = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        windows = self._steps(firsts[:, None] + self._offsets)
        return windows if self.targets is None else (windows, np.asarray(self.targets[firsts]))

    def _steps(self, idx: np.ndarray) -> np.ndarray:
        """The data's steps `idx` (an index array of any shape), only those read from a mapped file."""
        if self._mapped is None:
            return np.asarray(self.data[idx])
        return self._mapped.read_raw(idx.ravel()).reshape(idx.shape + self.data.shape[1:])

    def on_epoch_begin(self) -> None:
        """With shuffling, each pass reads the windows in an order drawn from dl's random generator
        (`utils.set_random_seed` repeats it, and a checkpointed run resumes with the same order)."""
        if self.shuffle:
            self._order = config.rng().permutation(self.starts)


def _positive(value: Any, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"{_OWNER}: {arg} must be higher than 0. Received: {arg}={short_repr(value)}")
    return int(value)
