"""CSVLogger: one CSV row per epoch."""

from __future__ import annotations

import csv
import io
import os

from corelib.callbacks import Callback
from corelib.distribute import is_chief
from corelib.saving import write_atomically


class CSVLogger(Callback):
    """Streams each epoch's logs to a CSV file.

    The file is opened when the first epoch ends, so a run that fails before
    (bad data found in the first step, a refused checkpoint) leaves an old
    log as it was. A fit that continues from a checkpoint (`BackupAndRestore`)
    keeps the rows of the epochs before the checkpoint's and appends to them:
    the log of an interrupted and resumed run reads as one never interrupted.

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
        self._opened = False

    def on_train_begin(self, logs=None):
        self._opened = False
        self._keys = None

    def _open(self) -> None:
        self._opened = True
        if not is_chief():  # under a distribution strategy only the chief writes
            return
        append = self.append
        resumed = getattr(self.model, "resume_point", None)
        if resumed is not None:
            trim_csv_log(self.filename, resumed.epoch, self.sep)
            append = True
        self._has_header = append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if append else "w", newline="")

    def on_epoch_end(self, epoch, logs=None):
        if not self._opened:
            self._open()
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


def trim_csv_log(path: str, epoch: int, separator: str = ",") -> None:
    """Keep the header and the rows of epochs before `epoch` (written atomically)."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh, delimiter=separator))
    if not rows or "epoch" not in rows[0]:
        return
    col = rows[0].index("epoch")
    kept = [rows[0]] + [r for r in rows[1:] if len(r) > col and r[col].isdigit() and int(r[col]) < epoch]
    if len(kept) == len(rows):
        return
    buf = io.StringIO()
    if len(kept) > 1:  # with no row left, the logger writes a fresh header
        csv.writer(buf, delimiter=separator, lineterminator="\r\n").writerows(kept)
    write_atomically(path, lambda fh: fh.write(buf.getvalue().encode()))
