"""Small argument checks shared by fit / evaluate / predict (kept apart so training.py stays one idea)."""

from __future__ import annotations

import sys
import warnings
from typing import Any, Callable

import numpy as np

from corelib.errors import ConfigError
from corelib.validation import positive_int

__all__ = ["positive_int", "resolve_verbose", "optional_steps", "resolve_batch_size", "first_batches",
           "validation_schedule"]


def resolve_verbose(verbose: int | str) -> int:
    """Keras's verbose: "auto" is 1 (a progress bar) on a terminal, else 2 (a line per epoch)."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    if verbose not in (0, 1, 2):
        raise ConfigError(f"verbose must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}")
    return int(verbose)


def optional_steps(steps: Any, arg: str) -> int | None:
    """`steps_per_epoch`, `validation_steps` or `steps`: None, or a positive int."""
    return None if steps is None else positive_int(steps, arg)


def resolve_batch_size(batch_size: Any, steps: int | None, n: int, arg: str = "batch_size") -> int:
    """Keras's batch size for arrays: the one given, else as many samples as make `steps`
    batches of the `n` samples (ceil(n / steps)) when a step count is given, else 32."""
    if batch_size is not None:
        return positive_int(batch_size, arg)
    return -(-n // steps) if steps else 32


def first_batches(steps: int | None, n: int, batch_size: int, arg: str) -> int:
    """How many samples the first `steps` batches of `n` hold (all `n` when steps is None);
    warns, as Keras does, when the data runs out before `steps` batches."""
    if steps is None:
        return n
    available = -(-n // batch_size)
    if steps > available:
        warnings.warn(f"{arg}={steps}, but the data holds only {available} batches of {batch_size}: "
                      f"the input ran out of data after {available} steps", UserWarning, stacklevel=3)
    return min(n, steps * batch_size)


def validation_schedule(validation_freq: Any) -> Callable[[int], bool]:
    """Keras's `validation_freq` as a test of a 0-based epoch: an int N validates the epochs
    whose 1-based number is a multiple of N; a list or tuple names the 1-based epochs."""
    if isinstance(validation_freq, (int, np.integer)) and not isinstance(validation_freq, bool):
        every = positive_int(validation_freq, "validation_freq")
        return lambda epoch: (epoch + 1) % every == 0
    if isinstance(validation_freq, (list, tuple)):
        for item in validation_freq:
            if isinstance(item, bool) or not isinstance(item, (int, np.integer)) or item < 1:
                raise ConfigError("validation_freq must list 1-based epoch numbers (positive ints). "
                                  f"Received: validation_freq={validation_freq!r}")
        chosen = {int(item) for item in validation_freq}
        return lambda epoch: epoch + 1 in chosen
    raise ConfigError("validation_freq must be a positive int (validate every N epochs) or a list of 1-based "
                      f"epoch numbers. Received: validation_freq={validation_freq!r}")
