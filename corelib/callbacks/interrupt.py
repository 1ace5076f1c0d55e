"""StopOnSignal: Ctrl-C or SIGTERM ends `fit` cleanly after the step in progress."""

from __future__ import annotations

import signal
import sys
from typing import Any, Callable, Iterable

from corelib.callbacks.base import Callback

__all__ = ["StopOnSignal"]


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class StopOnSignal(Callback):
    """The first Ctrl-C (SIGINT) or SIGTERM (a batch system's time limit, `kill`) lets the
    step in progress finish, then `fit` leaves through `model.request_stop()`: without the
    epoch's end, with `model.interrupted` set, so a `BackupAndRestore` in the same fit
    writes a checkpoint of that exact step and the next run continues from it bit for bit.
    A second signal stops at once (KeyboardInterrupt). Under a distribution strategy every
    replica stops after the same step. The previous handlers are put back when fit ends.

        model.fit(x, y, callbacks=[callbacks.BackupAndRestore("ckpt"), callbacks.StopOnSignal()])

    Args:
        signals: the signals to catch (default SIGINT and SIGTERM).
        echo: called with a one-line notice when a signal arrives (default: print it to
            standard error; None: say nothing).

    Attributes:
        signum: the signal that stopped the run, or None.
    """

    def __init__(self, signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM),
                 echo: Callable[[str], Any] | None = _to_stderr) -> None:
        super().__init__()
        self.signals = tuple(signals)
        self._echo = echo
        self._previous: dict[int, Any] = {}
        self.signum: int | None = None

    def on_train_begin(self, logs=None):
        self.signum = None
        for signum in self.signals:
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
        if self._echo is not None:
            what = "Interrupted" if signum == signal.SIGINT else f"Terminated ({signal.Signals(signum).name})"
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
