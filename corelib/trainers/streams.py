"""Batches that arrive one at a time: a generator, any iterable of batches (a PyTorch
`DataLoader`, a Hugging Face iterator, a list-like of batches) or a `PyDataset`.

fit / evaluate / predict take these besides arrays. A `Stream` hands out the
raw batches of a pass over the source; the trainer checks and converts each
batch as it comes (`Trainer._prepare_batch`), so nothing holds the whole data.

Passes and epochs, as in Keras:

- a PyDataset or a re-iterable source (``iter(source)`` gives a new iterator)
  starts a new pass each epoch; with ``steps_per_epoch`` an epoch continues the
  current pass and a new pass starts once it is used up (an epoch that meets the
  pass's end ends early, with a warning);
- a one-shot iterator (a generator) is one pass that every epoch continues: an
  endless generator needs ``steps_per_epoch``, and once a finite one runs out,
  training stops with Keras's warning ("Your input ran out of data").

A PyDataset's batches are drawn in index order, shuffled per pass when fit's
``shuffle`` is True (dl's random generator, so ``utils.set_random_seed`` repeats
it); a generator or iterable is read as it comes (it shuffles itself).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from corelib import config
from corelib.errors import ConfigError, DataError, DLError, exception_line, one_line
from corelib.trainers.py_dataset import PyDataset, check_workers, prefetch

__all__ = ["Stream", "is_stream", "unpack_batch", "refuse_stream_arguments", "RAN_OUT"]

RAN_OUT = ("Your input ran out of data; interrupting training. Make sure that your dataset or generator can "
           "generate at least `steps_per_epoch * epochs` batches.")


def is_stream(x: Any) -> bool:
    """Whether `x` is a source of batches rather than arrays (or a list / dict of arrays)."""
    if isinstance(x, PyDataset):
        return True
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)) or hasattr(x, "__array__"):
        return False  # arrays, and what converts to them (a torch tensor, a pandas frame)
    return isinstance(x, Iterator) or hasattr(x, "__iter__")


def refuse_stream_arguments(what: str, **given: Any) -> None:
    """Keras's rule: the batches of a generator / data set carry their own targets and weights."""
    for arg, value in given.items():
        if value is not None:
            raise ConfigError(f"{arg} is not supported when x is {what}: its batches carry "
                              f"{'the targets' if arg.endswith('y') else 'the sample weights'}; yield (x, y) or "
                              "(x, y, sample_weight) batches instead")


def unpack_batch(data: Any) -> tuple[Any, Any, Any]:
    """(x, y, sample_weight) of one batch: x, (x,), (x, y) or (x, y, sample_weight)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) in (1, 2, 3):
        return tuple(data) + (None,) * (3 - len(data))
    raise DataError(f"a batch must be x, (x, y) or (x, y, sample_weight); received a tuple of {len(data)} items")


class Stream:
    """The batches of `source`, pass by pass (see the module's doc).

    Args:
        source: a PyDataset, an iterator, or an iterable of batches.
        shuffle: shuffle a PyDataset's batch order per pass.
    """

    def __init__(self, source: Any, shuffle: bool = False) -> None:
        self.source = source
        self.one_shot = isinstance(source, Iterator) and not isinstance(source, PyDataset)
        if isinstance(source, PyDataset):
            self.what = f"a PyDataset ({type(source).__name__})"
            self.num_batches = source.num_batches
            check_workers(source)
        else:
            self.what = "a generator" if self.one_shot else f"an iterable of batches ({type(source).__name__})"
            self.num_batches = _length(source) if not self.one_shot else None
        self.shuffle = shuffle and isinstance(source, PyDataset)
        self.endless = isinstance(source, PyDataset) and self.num_batches is None  # indexes without an end
        self.exhausted = False  # a one-shot source ran out
        self._pass: Iterator | None = None
        self._index = 0  # batches drawn from the current pass (the next batch's index in it)
        self._kinds: list[str] | None = None
        self.rank, self.replicas = 0, 1  # under a strategy: this replica reads batches rank, rank + replicas, ...

    def shard(self, rank: int, replicas: int) -> None:
        """Read only this replica's batches of each pass: those at positions `rank`, `rank + replicas`,
        ... (a PyDataset loads no other; a generator or iterable is read and the others dropped)."""
        self.rank, self.replicas = rank, replicas

    def start_pass(self, skip: int = 0) -> None:
        """Begin a pass over the source, `skip` batches in (a resumed epoch); a one-shot source
        goes on where it is."""
        self.close_pass()
        self._index = skip + self.rank
        if isinstance(self.source, PyDataset):
            self.source.on_epoch_begin()
            n = self.num_batches
            order = config.rng().permutation(n) if self.shuffle and n else None
            positions = range(skip + self.rank, n, self.replicas) if n is not None else \
                _count_from(skip + self.rank, self.replicas)
            self._pass = prefetch(self.source, positions if order is None else (int(order[i]) for i in positions))
        else:
            if self.one_shot:
                batches = self.source
            else:
                try:
                    batches = iter(self.source)
                except Exception as exc:
                    raise DataError(f"x, {self.what}, could not start a pass: {exception_line(exc)}") from exc
                for _ in range(skip):
                    if next(batches, _END) is _END:
                        break
            self._pass = batches if self.replicas == 1 else _every(batches, self.rank, self.replicas)

    @property
    def in_pass(self) -> bool:
        """Whether a pass is under way with batches left (as far as is known)."""
        return self._pass is not None and (self.one_shot or self.num_batches is None
                                           or self._index < self.num_batches)

    def batches(self, steps: int | None) -> Iterator[tuple[int, Any]]:
        """(index in the pass, raw batch) for up to `steps` batches of the current pass (all the
        rest when None); ends early at the pass's end, after which `in_pass` is False."""
        taken = 0
        while self._pass is not None:
            if self.num_batches is not None and not self.one_shot and self._index >= self.num_batches:
                self.close_pass()  # right after the pass's last batch, also when the epoch ends with it
                return
            if steps is not None and taken >= steps:
                return
            try:
                batch = next(self._pass)
            except StopIteration:
                self.close_pass()
                if self.one_shot:
                    self.exhausted = True
                return
            except DLError as exc:  # the source's own typed error (a reader's): its line, and where
                raise type(exc)(f"{one_line(exc)} (batch {self._index} of {self.what})") from exc
            except Exception as exc:
                raise DataError(f"x, {self.what}, raised {exception_line(exc)} while producing batch "
                                f"{self._index}") from exc
            self._check_kinds(batch)
            yield self._index, batch
            self._index += self.replicas
            taken += 1

    def close_pass(self, finished: bool = True) -> None:
        """End the current pass: its loading ahead stops, and a PyDataset's `on_epoch_end` runs
        unless the pass is left `finished=False` (fit stopped in the middle of it)."""
        if self._pass is None:
            return
        current, self._pass = self._pass, None
        if isinstance(self.source, PyDataset):
            current.close()
            if finished:
                self.source.on_epoch_end()

    def _check_kinds(self, batch: Any) -> None:
        """Refuse a batch whose arrays change kind (float, integer, other) from the first batch's."""
        kinds = [_kind(a) for a in _leaves(batch)]
        if self._kinds is None:
            self._kinds = kinds
            return
        for i, (was, now) in enumerate(zip(self._kinds, kinds)):
            if was and now and was != now:
                raise DataError(f"batch {self._index} of {self.what}: array {i} of the batch holds {_KIND_NAMES[now]}, "
                                f"but the first batch's held {_KIND_NAMES[was]}")


_END = object()
_KIND_NAMES = {"f": "floats", "i": "integers", "o": "non-numbers"}


def _length(source: Any) -> int | None:
    try:
        n = len(source)
    except Exception:  # no length, or one that cannot be told (an IterableDataset's loader)
        return None
    return n if isinstance(n, int) and n >= 0 else None


def _count_from(start: int, step: int = 1) -> Iterator[int]:
    i = start
    while True:
        yield i
        i += step


def _every(batches: Iterator, rank: int, replicas: int) -> Iterator:
    """The batches at positions rank, rank + replicas, ... of `batches` (the others are read and dropped)."""
    for position, batch in enumerate(batches):
        if position % replicas == rank:
            yield batch


def _leaves(data: Any) -> list[Any]:
    if isinstance(data, (list, tuple)):
        return [leaf for item in data for leaf in _leaves(item)]
    if isinstance(data, dict):
        return [leaf for key in sorted(data, key=str) for leaf in _leaves(data[key])]
    return [data]


def _kind(a: Any) -> str | None:
    dtype = getattr(a, "dtype", None)
    kind = getattr(np.dtype(dtype), "kind", None) if isinstance(dtype, np.dtype) else None
    if kind is None:
        return None
    return "f" if kind == "f" else "i" if kind in "iub" else "o"
