"""PyDataset: Keras 3's indexable data set of batches, loaded ahead of the training step.

    class Batches(utils.PyDataset):
        def __init__(self, paths, labels, batch_size, **kwargs):
            super().__init__(**kwargs)          # workers, use_multiprocessing, max_queue_size
            ...
        def __len__(self):                      # batches per epoch
            return math.ceil(len(self.paths) / self.batch_size)
        def __getitem__(self, index):           # batch `index`: (x, y) or (x, y, sample_weight)
            ...

    model.fit(Batches(paths, labels, 32, workers=4), epochs=10)

With ``workers`` > 1, `prefetch` keeps up to ``max_queue_size`` batches in
flight on that many threads (or, with ``use_multiprocessing=True``, worker
processes), and hands them to the training loop in index order, so loading
overlaps compute. Worker processes die with the process that started them.
"""

from __future__ import annotations

import collections
import concurrent.futures as futures
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from typing import Any, Iterable, Iterator

from corelib.errors import ConfigError

__all__ = ["PyDataset", "prefetch", "check_workers"]


class PyDataset:
    """Base class of an indexable data set of batches (Keras's `keras.utils.PyDataset`).

    Subclasses implement ``__len__`` (the number of batches in an epoch) and
    ``__getitem__(index)`` (one batch: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``,
    each a NumPy-convertible array, or a list / dict of them for several inputs or
    outputs); optionally ``on_epoch_begin`` / ``on_epoch_end``. ``fit`` does not
    shuffle a PyDataset: it draws its batches in index order, and the data set
    shuffles itself (in ``on_epoch_end``) if it wants to.

    Args:
        workers: threads (or processes) loading batches ahead; 1 loads each batch
            when the step needs it, in the training thread.
        use_multiprocessing: load in worker processes instead of threads (for a
            ``__getitem__`` that holds the GIL); the data set must then be picklable.
        max_queue_size: the most batches loaded ahead of the step.
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10) -> None:
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    @property
    def workers(self) -> int:
        return getattr(self, "_workers", 1)

    @workers.setter
    def workers(self, value: int) -> None:
        self._workers = value

    @property
    def use_multiprocessing(self) -> bool:
        return getattr(self, "_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value: bool) -> None:
        self._use_multiprocessing = value

    @property
    def max_queue_size(self) -> int:
        return getattr(self, "_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value: int) -> None:
        self._max_queue_size = value

    @property
    def num_batches(self) -> int | None:
        """Batches per epoch: ``len(self)``, or None for a data set without a length (endless)."""
        if hasattr(type(self), "__len__"):
            return len(self)
        return None

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index) returning one batch")

    def on_epoch_begin(self) -> None:
        """Called before an epoch's first batch is requested."""

    def on_epoch_end(self) -> None:
        """Called after an epoch's last batch (shuffle here)."""


def prefetch(dataset: PyDataset, indices: Iterable[int]) -> Iterator[Any]:
    """``dataset[i]`` for each of `indices`, in order; loaded ahead on `dataset.workers`
    threads or processes, at most `dataset.max_queue_size` in flight. Closing the
    iterator (or the loop that reads it ending) cancels what is still queued."""
    workers, window = check_workers(dataset)
    if workers == 1:
        for i in indices:
            yield dataset[i]
        return
    if dataset.use_multiprocessing:
        pool: futures.Executor = futures.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("fork" if sys.platform == "linux" else None),
            initializer=_worker_start, initargs=(os.getpid(), dataset))
        load = _load_in_worker
    else:
        pool = futures.ThreadPoolExecutor(workers, thread_name_prefix="dl-pydataset")
        load = dataset.__getitem__
    pending: collections.deque = collections.deque()
    try:
        for i in indices:
            pending.append(pool.submit(load, i))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def check_workers(dataset: PyDataset) -> tuple[int, int]:
    """(workers, max_queue_size) of `dataset`, each a positive int (ConfigError otherwise)."""
    return _positive(dataset.workers, "workers"), _positive(dataset.max_queue_size, "max_queue_size")


def _positive(value: Any, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"PyDataset {arg} must be a positive int. Received: {arg}={value!r}")
    return value


# -- worker processes -----------------------------------------------------------

_DATASET: PyDataset | None = None


def _worker_start(parent: int, dataset: PyDataset) -> None:
    """In a worker process: die with the parent (SIGKILL on its death, where Linux offers it,
    and a watcher thread elsewhere), ignore Ctrl-C (the parent handles it), keep the data set."""
    global _DATASET
    _DATASET = dataset
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform == "linux":
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    event = threading.Event()
    while os.getppid() == parent:
        event.wait(0.5)
    os._exit(1)


def _load_in_worker(index: int) -> Any:
    return _DATASET[index]
