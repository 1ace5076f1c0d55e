"""CSVLogger: one CSV row per epoch."""

from __future__ import annotations

import csv
import os

from corelib.callbacks import Callback
from corelib.distribute import is_chief


class CSVLogger(Callback):
    """Streams each epoch's logs to a CSV file.

    Args:
        filename: path of the CSV file.
        separator: field separator. Default ",".
        append: add to an existing file instead of overwriting it.
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self._file = None
        self._writer = None
        self._keys: list[str] | None = None

    def on_train_begin(self, logs=None):
        if not is_chief():  # under a distribution strategy only the chief writes
            return
        has_header = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._keys = None
        self._has_header = has_header

    def on_epoch_end(self, epoch, logs=None):
        if self._file is None:
            return
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self._keys,
                                          delimiter=self.sep, extrasaction="ignore")
            if not self._has_header:
                self._writer.writeheader()
        row = {"epoch": epoch}
        row.update({k: logs.get(k, "NA") for k in self._keys})
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None
