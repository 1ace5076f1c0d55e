"""Plain-text tables for the `dl` commands."""

from __future__ import annotations

import shutil
import sys
from typing import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], wrap_last: bool = True) -> str:
    """Columns padded to their widest cell; on a terminal the last column is cut to fit."""
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
