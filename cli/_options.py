"""Helpers shared by the `dl` commands: log formatting, sample counts, the file an error names.

The checks of the paths a command reads and writes are in dl_cli._paths."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

# The file system refused a write (or a read): the user's disk, permissions or path, not a bug.
FILE_SYSTEM_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG,
                                errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR})


def written_file(exc: OSError, fallback: Path | str | None) -> str:
    """The file an OSError was about: its own filename, else `fallback` (a write to an open
    file, such as the CSV log, fails without one)."""
    return str(exc.filename if exc.filename is not None else fallback)


def format_logs(logs: dict) -> str:
    """`corelib.callbacks.format_logs` ("loss: 0.1234 - accuracy: 0.9800"), imported on first use:
    loading the CLI imports no library code."""
    from corelib.callbacks import format_logs as library_format_logs

    return library_format_logs(logs)


def sample_count(arrays: Any) -> int:
    """Samples in an array, or in the first array of a dict by name."""
    first = next(iter(arrays.values())) if isinstance(arrays, dict) else arrays
    return len(first)
