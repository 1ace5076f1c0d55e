"""Text the `dl` commands print: tables, and names from files made safe for a terminal."""

from __future__ import annotations

import shutil
import sys
from typing import Any, Sequence


def printable(text: Any) -> str:
    """`text` with every character a terminal would act on (control characters, escape
    sequences, bidirectional overrides, other non-printables but the space) written as a
    Python escape (``\\x1b``, ``\\u202e``), so a name read from a file prints as what it is."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def echo(text: Any = "", err: bool = False) -> None:
    """`click.echo` of `printable(text)`: every line a command prints that may hold text from
    a file (a spec, a data file, a model file) goes through here."""
    import click

    click.echo(printable(text), err=err)


def progress_display(verbose: int) -> Any:
    """fit's progress display (`corelib.callbacks.ProgbarLogger`, a bar or a line per epoch)
    with every log name made `printable`: the names of a spec's outputs reach it."""
    from corelib.callbacks import ProgbarLogger

    def printable_keys(logs: dict | None) -> dict | None:
        return None if logs is None else {printable(k): v for k, v in logs.items()}

    class PrintableProgbar(ProgbarLogger):
        def on_train_batch_end(self, batch, logs=None):
            super().on_train_batch_end(batch, printable_keys(logs))

        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, printable_keys(logs))

    return PrintableProgbar(verbose)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], wrap_last: bool = True) -> str:
    """Columns padded to their widest cell; on a terminal the last column is cut to fit."""
    rows = [[printable(cell) for cell in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    limit = None
    if wrap_last and sys.stdout.isatty():
        used = sum(widths[:-1]) + 2 * (len(widths) - 1)
        limit = max(20, shutil.get_terminal_size().columns - used)

    def line(cells: Sequence[str]) -> str:
        out = [c.ljust(w) for c, w in zip(cells[:-1], widths[:-1])]
        last = cells[-1]
        if limit is not None and len(last) > limit:
            last = last[: limit - 3] + "..."
        return "  ".join(out + [last]).rstrip()

    return "\n".join([line(headers)] + [line(r) for r in rows])
