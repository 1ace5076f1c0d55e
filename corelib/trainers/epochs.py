"""Where fit's batches come from, epoch by epoch: arrays in memory (`ArrayEpochs`) or a
stream of batches (`StreamEpochs`: a generator, an iterable, a PyDataset). `Trainer.fit`
runs one loop over either; both draw their shuffle from dl's random generator at the
start of a pass and, on a resumed run, skip to the checkpoint's step with the same shuffle.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterator

import numpy as np

from corelib import config
from corelib.errors import ConfigError
from corelib.trainers.arguments import resolve_batch_size
from corelib.trainers.batching import batch_indices, rows
from corelib.trainers.streams import RAN_OUT, Stream

__all__ = ["ArrayEpochs", "StreamEpochs", "LocalBatch"]


class LocalBatch(tuple):
    """(xs, ys, sample_weight) of one replica when each replica reads its own batch of a stream
    (data-parallel training); `total_rows` is the step's rows over all replicas."""

    total_rows: int
    weighted: bool  # some replica's part of the step has sample weights

    def __new__(cls, batch: tuple, total_rows: int, weighted: bool = False) -> "LocalBatch":
        self = super().__new__(cls, batch)
        self.total_rows, self.weighted = total_rows, weighted
        return self


class ArrayEpochs:
    """Batches of arrays: a shuffled pass over the samples per epoch, or, with steps_per_epoch
    shorter than the data, one pass over several epochs (Keras's behaviour with arrays).

    Attributes:
        samples, batch_size, steps: for the callbacks' params and checkpoints.
        epochs_per_pass: how many epochs one pass over the data lasts.
    """

    def __init__(self, xs: list[np.ndarray], ys: list[np.ndarray], sw: np.ndarray | None, batch_size: int | None,
                 steps_per_epoch: int | None, shuffle: bool, warn_short: bool) -> None:
        self.xs, self.ys, self.sw, self.shuffle = xs, ys, sw, shuffle
        n = self.samples = xs[0].shape[0]
        self.batch_size = resolve_batch_size(batch_size, steps_per_epoch, n)
        self.per_pass = -(-n // self.batch_size)  # batches in one pass over the data
        self.steps = self.per_pass if steps_per_epoch is None else min(steps_per_epoch, self.per_pass)
        self.epochs_per_pass = -(-self.per_pass // self.steps)
        self._order: np.ndarray | None = None
        if steps_per_epoch is not None and self.per_pass % steps_per_epoch and warn_short:
            short = ("every epoch ends early" if steps_per_epoch > self.per_pass
                     else f"the last of every {self.epochs_per_pass} epochs ends early")
            warnings.warn(f"steps_per_epoch={steps_per_epoch}, but the data holds {self.per_pass} batches of "
                          f"{self.batch_size}: {short}, when its pass over the data runs out (as in Keras)",
                          UserWarning, stacklevel=4)

    def epoch(self, trainer: Any, epoch: int, first_epoch: int, resume: Any) -> Iterator[tuple[int, tuple]]:
        """(step, (xs, ys, sample_weight)) of `epoch`'s batches; `resume` is the checkpoint's
        state when this epoch is the one a resumed run enters, else None."""
        n = self.samples
        starts_pass = trainer.epoch_starts_pass(epoch)
        skip = 0
        if resume is not None:  # same shuffle, random state and running sums
            self._order, skip = resume.enter_epoch(trainer, n, self.shuffle, starts_pass=starts_pass)
            trainer._epoch_rng_state = resume.epoch_rng
        elif starts_pass:
            trainer._epoch_rng_state = config.get_rng_state()
            self._order = config.rng().permutation(n) if self.shuffle else None
        first = (epoch - first_epoch) % self.epochs_per_pass * self.steps  # this epoch's first batch in the pass
        xs, ys, sw, order = self.xs, self.ys, self.sw, self._order
        for step in range(skip, min(self.steps, self.per_pass - first)):
            idx = batch_indices(n, self.batch_size, first + step, order)
            yield step, ([rows(a, idx) for a in xs], [a[idx] for a in ys], None if sw is None else sw[idx])

    def after_epoch(self, more: bool) -> bool:
        """Whether fit must stop after this epoch (arrays never run out)."""
        return False

    def close(self) -> None:
        """Nothing to release."""


class StreamEpochs:
    """Batches from a `Stream`, each checked and converted by `prepare(raw, index)` as it comes.

    An epoch is `steps_per_epoch` batches, or a whole pass when that is None. Once a one-shot
    source runs out, fit stops after that epoch (with Keras's warning when epochs remain)."""

    samples = None  # not known ahead
    batch_size = None  # the source's own

    def __init__(self, stream: Stream, prepare: Any, steps_per_epoch: int | None) -> None:
        if steps_per_epoch is None and stream.endless:
            raise ConfigError(f"x is {stream.what} without a length (endless): give steps_per_epoch (the batches "
                              "in an epoch)")
        self.stream, self.prepare = stream, prepare
        self.steps_per_epoch = steps_per_epoch
        known = stream.num_batches
        self.steps = steps_per_epoch or known  # None: until a generator runs out
        self.epochs_per_pass = -(-known // steps_per_epoch) if known and steps_per_epoch else 1
        self._warned = False
        self._shared_end = False
        if known and steps_per_epoch and known % steps_per_epoch:
            warnings.warn(f"steps_per_epoch={steps_per_epoch}, but x ({stream.what}) holds {known} batches: an "
                          "epoch that meets the end of a pass ends early (as in Keras)", UserWarning, stacklevel=4)

    def epoch(self, trainer: Any, epoch: int, first_epoch: int, resume: Any) -> Iterator[tuple[int, tuple]]:
        stream = self.stream
        replicas = trainer._replicas()
        if replicas is not None and stream.replicas == 1:
            stream.shard(replicas.strategy.rank, replicas.strategy.num_replicas_in_sync)
        steps = self.steps_per_epoch
        start = 0
        if resume is not None:
            starts_pass = trainer.epoch_starts_pass(epoch)
            skip = _pass_index(resume, self, epoch, first_epoch) * stream.replicas
            _, start = resume.enter_epoch(trainer, 0, False, starts_pass=starts_pass,
                                          draw=lambda: stream.start_pass(skip=skip))
            trainer._epoch_rng_state = resume.epoch_rng
        elif not stream.in_pass:
            trainer._epoch_rng_state = config.get_rng_state()
            stream.start_pass()
        got = start
        if replicas is None:
            for index, raw in stream.batches(None if steps is None else steps - start):
                yield got, self.prepare(raw, index)
                got += 1
        else:
            for batch in self._shared_steps(replicas, None if steps is None else steps - start):
                yield got, batch
                got += 1
        if steps is not None and got < steps and not self._warned:
            self._warned = True
            warnings.warn(RAN_OUT if self._ran_out else
                          f"steps_per_epoch={steps}, but a pass over x ({stream.what}) ended after {got} batches: "
                          "the epoch ended early", UserWarning, stacklevel=4)

    def _shared_steps(self, replicas: Any, steps: int | None) -> Iterator[LocalBatch]:
        """Steps of several replicas, each on its own batch of the stream: every replica counts the
        rows it got (0 once its share of the pass is over) and they sum them, so all of them take
        the same steps and end the pass together."""
        batches = self.stream.batches(None)
        taken = 0
        while steps is None or taken < steps:
            item = next(batches, None)
            batch = None if item is None else self.prepare(item[1], item[0])
            counts = np.array([0 if batch is None else batch[0][0].shape[0],
                               0 if batch is None or batch[2] is None else 1], dtype=np.float64)
            replicas.strategy.all_reduce(counts)  # the step's rows, and whether any part has weights
            if counts[0] == 0:  # every replica's share of the pass is over
                self.stream.close_pass()
                self._shared_end = True
                return
            yield LocalBatch(batch if batch is not None else ([np.empty(0)], [], None), int(counts[0]),
                             bool(counts[1]))
            taken += 1
        batches.close()

    @property
    def _ran_out(self) -> bool:
        """Whether a one-shot source is used up (on several replicas: for all of them at once)."""
        if self.stream.replicas > 1:
            return self.stream.one_shot and self._shared_end
        return self.stream.exhausted

    def after_epoch(self, more: bool) -> bool:
        """Whether fit must stop after this epoch: a one-shot source has run out (Keras's warning
        when epochs remain)."""
        if not self._ran_out:
            return False
        if more and not self._warned:
            self._warned = True
            warnings.warn(RAN_OUT, UserWarning, stacklevel=4)
        return True

    def close(self) -> None:
        """End fit's use of the source: a pass left open stops its loading ahead."""
        self.stream.close_pass(finished=not self.stream.in_pass)


def _pass_index(resume: Any, data: StreamEpochs, epoch: int, first_epoch: int) -> int:
    """The index in its pass of the resumed step's batch (steps_per_epoch may split a pass)."""
    if data.steps_per_epoch is None:
        return resume.step
    return (epoch - first_epoch) % data.epochs_per_pass * data.steps_per_epoch + resume.step
