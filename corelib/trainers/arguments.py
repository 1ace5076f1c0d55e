"""Small argument checks shared by fit / evaluate / predict (kept apart so training.py stays one idea)."""

from __future__ import annotations

import sys

from corelib.errors import ConfigError
from corelib.validation import positive_int

__all__ = ["positive_int", "resolve_verbose"]


def resolve_verbose(verbose: int | str) -> int:
    """Keras's verbose: "auto" is 1 (a progress bar) on a terminal, else 2 (a line per epoch)."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    if verbose not in (0, 1, 2):
        raise ConfigError(f"verbose must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}")
    return int(verbose)
