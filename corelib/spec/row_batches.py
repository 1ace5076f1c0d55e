"""Batches of rows read piece by piece: the `PyDataset` behind `dl train` on shards and large CSV.

A source is a sequence of *pieces* (a .npz shard, a block of CSV rows), each
small enough to hold in memory and loaded only when a batch needs it. The rows
of all pieces, in order, are one long table; `RowBatches` cuts a range of it
into batches of `batch_size` rows, and a batch may span the end of one piece
and the start of the next, so the batches are exactly those of the same rows
held as one array.

With ``shuffle``, each pass draws (from dl's random generator, in
``on_epoch_begin``, so a seed repeats it and a checkpoint resumes it) an order
of the pieces and an order of the rows inside each piece: a pass reads every
piece once, and a batch touches at most a few pieces.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Sequence

import numpy as np

from corelib import config
from corelib.trainers.py_dataset import PyDataset

__all__ = ["RowSource", "RowBatches", "take_rows", "join_rows"]


class _Consecutive:
    """The rows of an unshuffled segment: ``rows[a:b]`` is the slice ``lo + a : lo + b`` (a view, no copy)."""

    def __init__(self, lo: int) -> None:
        self.lo = lo

    def __getitem__(self, part: slice) -> slice:
        return slice(self.lo + part.start, self.lo + part.stop)


class RowSource:
    """What `RowBatches` reads: `name` (for messages), `sizes` (the rows of each piece) and
    `load(piece) -> (x, y)` (arrays, or dicts of arrays by input / output name)."""

    name: str
    sizes: Sequence[int]

    def load(self, piece: int) -> tuple[Any, Any]:
        raise NotImplementedError


def take_rows(tree: Any, index: Any) -> Any:
    """`tree[index]` for an array, or for each array of a dict."""
    if isinstance(tree, dict):
        return {k: v[index] for k, v in tree.items()}
    return tree[index]


def join_rows(parts: list) -> Any:
    """The rows of `parts` (arrays, or dicts of arrays) one after the other."""
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return np.concatenate(parts)


class RowBatches(PyDataset):
    """Rows `start` to `stop` (of all the source's pieces, in order) in batches of `batch_size`.

    Args:
        source: the `RowSource`.
        start, stop: the range of rows (a validation split is the range after the training one).
        batch_size: rows per batch; the last batch holds the rest.
        shuffle: draw a new order of the pieces, and of the rows in each piece, every pass.
        workers: threads loading batches ahead (see `PyDataset`); a piece is loaded once
            whichever thread asks for it first.
        prepare: applied to each batch's (x, y) before it is handed out (checks against the model).
    """

    def __init__(self, source: RowSource, start: int, stop: int, batch_size: int, shuffle: bool = False,
                 workers: int = 1, prepare: Callable[[Any, Any, int], tuple] | None = None) -> None:
        super().__init__(workers=workers, max_queue_size=max(10, 2 * workers))
        self.source, self.batch_size, self.shuffle, self.prepare = source, batch_size, shuffle, prepare
        self.rows = stop - start
        ends = np.cumsum(source.sizes)
        # The pieces the range covers, each as (piece, first row, end row) in the piece's own rows.
        self._segments: list[tuple[int, int, int]] = []
        for piece, (end, size) in enumerate(zip(ends, source.sizes)):
            begin = end - size
            lo, hi = max(start, begin), min(stop, end)
            if lo < hi:
                self._segments.append((piece, int(lo - begin), int(hi - begin)))
        self._order = np.arange(len(self._segments))
        self._seeds: np.ndarray | None = None
        self._plan()
        self._lock = threading.Lock()
        self._loading: dict[int, threading.Lock] = {}
        self._cache: OrderedDict[int, tuple] = OrderedDict()
        self._keep = max(2, workers + 1)  # pieces held: the one being read, the next, one per worker ahead

    def __len__(self) -> int:
        return int(-(-self.rows // self.batch_size))

    def on_epoch_begin(self) -> None:
        if self.shuffle:
            self._order = config.rng().permutation(len(self._segments))
            self._seeds = config.rng().integers(0, 2**63 - 1, size=len(self._segments))
            with self._lock:
                self._cache.clear()  # the row orders of the held pieces were last pass's
            self._plan()

    def _plan(self) -> None:
        lengths = np.array([self._segments[i][2] - self._segments[i][1] for i in self._order], dtype=np.int64)
        self._ends = np.cumsum(lengths)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        first = index * self.batch_size
        last = min(first + self.batch_size, self.rows)
        xs, ys = [], []
        k = int(np.searchsorted(self._ends, first, side="right"))
        while first < last:
            seg_start = int(self._ends[k - 1]) if k else 0
            upto = min(last, int(self._ends[k]))
            x, y, rows = self._piece(int(self._order[k]))
            picked = rows[first - seg_start:upto - seg_start]
            xs.append(take_rows(x, picked))
            ys.append(take_rows(y, picked))
            first, k = upto, k + 1
        x, y = join_rows(xs), join_rows(ys)
        return self.prepare(x, y, index) if self.prepare is not None else (x, y)

    def _piece(self, segment: int) -> tuple[Any, Any, Any]:
        """(x, y, rows) of a segment: its piece's arrays and the rows of it, in this pass's order."""
        with self._lock:
            held = self._cache.get(segment)
            if held is not None:
                self._cache.move_to_end(segment)
                return held
            loading = self._loading.setdefault(segment, threading.Lock())
        with loading:  # another thread asking for the same piece waits for this load
            with self._lock:
                held = self._cache.get(segment)
            if held is not None:
                return held
            piece, lo, hi = self._segments[segment]
            x, y = self.source.load(piece)
            if self._seeds is None:
                rows: Any = _Consecutive(lo)
            else:
                rows = lo + np.random.default_rng(int(self._seeds[segment])).permutation(hi - lo)
            held = (x, y, rows)
            with self._lock:
                self._cache[segment] = held
                while len(self._cache) > self._keep:
                    self._cache.popitem(last=False)
            return held
