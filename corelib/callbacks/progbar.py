"""ProgbarLogger: the progress display of fit (tqdm on a terminal, lines elsewhere)."""

from __future__ import annotations

import sys
import time

from corelib.callbacks.base import Callback


def format_logs(logs: dict) -> str:
    """"loss: 0.1234 - accuracy: 0.9800" in the logs' own order."""
    return " - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in logs.items())


class ProgbarLogger(Callback):
    """Shows training progress.

    Args:
        verbose: 1 draws a tqdm bar per epoch (loss and metrics, rate, time
            left) and a summary line at each epoch's end; 2 prints only the
            line per epoch; 0 prints nothing.
        file: where to write; standard output by default.
    """

    def __init__(self, verbose: int = 1, file=None) -> None:
        super().__init__()
        self.verbose = verbose
        self.file = file
        self._bar = None

    def _out(self):
        return self.file if self.file is not None else sys.stdout

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._start = time.perf_counter()
        if self.verbose == 1:
            from tqdm import tqdm

            epochs = self.params.get("epochs", "?")
            self._bar = tqdm(total=self.params.get("steps"), desc=f"Epoch {epoch + 1}/{epochs}",
                             unit="step", file=self._out(), leave=False, dynamic_ncols=True,
                             mininterval=0.1)

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(1)
            # set_postfix_str refreshes the line; tqdm's own rate limit decides when to draw.
            if logs and self._bar.n == self._bar.total or (time.perf_counter() - self._bar.last_print_t) > 0.1:
                self._bar.set_postfix_str(format_logs(logs), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self.verbose in (1, 2):
            seconds = time.perf_counter() - self._start
            epochs = self.params.get("epochs", "?")
            print(f"Epoch {epoch + 1}/{epochs} - {seconds:.1f}s - {format_logs(logs or {})}",
                  file=self._out(), flush=True)

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
