"""Callbacks `dl train` adds: Ctrl-C and SIGTERM handling, the notice when a run resumes, and its CSV log."""

from __future__ import annotations

import csv
import io
import os
import signal
from typing import Any, Callable

from corelib.builtin.callbacks.csv_logger import CSVLogger
from corelib.callbacks import Callback


class StopOnInterrupt(Callback):
    """The first Ctrl-C (SIGINT) or SIGTERM (a batch system's or `kill`'s stop) lets the
    current step finish, then fit leaves through the model's `interrupted` flag
    (BackupAndRestore then writes a checkpoint of that step); a second one stops at once.
    `signum` keeps the signal that stopped the run (None if none did)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, echo: Callable[[str], None]) -> None:
        super().__init__()
        self._echo = echo
        self._previous: dict[int, Any] = {}
        self._distributed = False
        self.signum: int | None = None

    def on_train_begin(self, logs=None):
        from corelib.distribute import get_strategy

        self._distributed = get_strategy().num_replicas_in_sync > 1
        for signum in self.SIGNALS:
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: leave the signals as they are
                break

    def _handle(self, signum: int, frame: Any) -> None:
        if self.model.interrupted or self.model.stop_requested:
            self.restore()
            raise KeyboardInterrupt
        self.signum = signum
        self.model.request_stop()
        what = "Interrupted" if signum == signal.SIGINT else "Terminated (SIGTERM)"
        self._echo(f"{what}: finishing the current step and saving a checkpoint "
                   "(press Ctrl-C again to stop at once)")

    def on_train_end(self, logs=None):
        self.restore()

    @property
    def exit_code(self) -> int:
        """The shell's code for the signal that stopped the run: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + int(self.signum if self.signum is not None else signal.SIGINT)

    def restore(self) -> None:
        """Put the previous handlers back (safe to call twice)."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}


class ResumeNotice(Callback):
    """After BackupAndRestore has restored a checkpoint: say so, and make the CSV log
    continue from the checkpoint's epoch (rows of later epochs, logged after the
    checkpoint was written, are dropped)."""

    def __init__(self, backup: Any, csv_logger: Any, echo: Callable[[str], None]) -> None:
        super().__init__()
        self._backup = backup
        self._csv_logger = csv_logger
        self._echo = echo

    def on_train_begin(self, logs=None):
        state = self._backup.resumed_from
        if state is None:
            return
        where = f"epoch {state.epoch + 1}" + (f", step {state.step}" if state.step else "")
        self._echo(f"Resuming from {self._backup.path} at {where}")
        if self._csv_logger is not None:
            self._csv_logger.resume_epoch = state.epoch


class EpochCSVLogger(CSVLogger):
    """CSVLogger that touches its file only when the first epoch ends, so a run that fails
    before (bad data found in the first step, a refused checkpoint) leaves an old log as it was.

    Attributes:
        resume_epoch: set when the run resumes: the log keeps its rows of earlier epochs
            and is appended to.
    """

    def __init__(self, filename: str | os.PathLike) -> None:
        super().__init__(filename)
        self.resume_epoch: int | None = None
        self._opened = False

    def on_train_begin(self, logs=None):
        self._opened = False

    def on_epoch_end(self, epoch, logs=None):
        if not self._opened:
            if self.resume_epoch is not None:
                trim_csv_log(self.filename, self.resume_epoch)
                self.append = True
            super().on_train_begin()
            self._opened = True
        super().on_epoch_end(epoch, logs)


def trim_csv_log(path: str, epoch: int) -> None:
    """Keep the header and the rows of epochs before `epoch` (written atomically)."""
    from corelib.saving.archive import write_atomically

    if not os.path.exists(path):
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or "epoch" not in rows[0]:
        return
    col = rows[0].index("epoch")
    kept = [rows[0]] + [r for r in rows[1:] if len(r) > col and r[col].isdigit() and int(r[col]) < epoch]
    if len(kept) == len(rows):
        return
    buf = io.StringIO()
    if len(kept) > 1:  # with no row left, the logger writes a fresh header
        csv.writer(buf, lineterminator="\r\n").writerows(kept)
    write_atomically(path, lambda fh: fh.write(buf.getvalue().encode()))
