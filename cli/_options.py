"""Helpers shared by the `dl` commands: output-path checks, log formatting, sample counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def check_output_path(path: Path | None, flag: str) -> None:
    """Refuse, before any work, an output path whose directory is missing or that is a directory."""
    from corelib.errors import ConfigError

    if path is None:
        return
    if path.is_dir():
        raise ConfigError(f"{flag} {path} is a directory; give a file name")
    parent = path.resolve().parent
    if not parent.is_dir():
        raise ConfigError(f"{flag} {path}: the directory {parent} does not exist")


def format_logs(logs: dict) -> str:
    """`corelib.callbacks.format_logs` ("loss: 0.1234 - accuracy: 0.9800"), imported on first use:
    loading the CLI imports no library code."""
    from corelib.callbacks import format_logs as library_format_logs

    return library_format_logs(logs)


def sample_count(arrays: Any) -> int:
    """Samples in an array, or in the first array of a dict by name."""
    first = next(iter(arrays.values())) if isinstance(arrays, dict) else arrays
    return len(first)
