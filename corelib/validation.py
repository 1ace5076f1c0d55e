"""Argument checks shared by layers, losses, optimizers, schedules, data sets and `fit`.

Each check returns the value normalised (an `int` or a `float`) or raises
`ConfigError` in the one form dl uses for a bad argument:
``"{owner}: {arg} must be a positive int. Received: {arg}={value!r}"``, where
`owner` says whose argument it is (``"Dense 'dense_1'"``, ``"Adam"``,
``"Data set 'digits'"``) and is left out when None. Bools are refused
wherever a number is expected: ``units=True`` is a mistake, not 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.errors import ConfigError, short_repr

__all__ = ["MAX_SIZE", "positive_int", "positive_number", "fraction", "shape"]

# The largest size (units, repetitions, an image side, a shape's dimension) a layer argument may
# give: what a 32-bit index reaches. Past it no array fits in memory, and NumPy or the kernels
# fail with MemoryError or OverflowError instead of a ConfigError.
MAX_SIZE = 2**31 - 1


def positive_int(value: Any, arg: str, owner: str | None = None, *, allow_zero: bool = False,
                 maximum: int | None = None) -> int:
    """`value` as an int, refusing anything but an int (or NumPy int) above 0.

    Args:
        value: what the caller received.
        arg: the argument's name, as the caller's signature spells it.
        owner: whose argument it is, the message's prefix; None for none.
        allow_zero: accept 0 too ("must be a non-negative int").
        maximum: the largest value accepted (`MAX_SIZE` for a size); None for no bound.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if allow_zero else 1):
        raise _refuse(owner, arg, f"a {_sign(allow_zero)} int", value)
    if maximum is not None and value > maximum:
        raise _refuse(owner, arg, f"at most {maximum}", value)
    return int(value)


def positive_number(
    value: Any,
    arg: str,
    owner: str | None = None,
    *,
    allow_zero: bool = False,
    optional: bool = False,
    noun: str = "float",
) -> float | None:
    """`value` as a float above 0 (NaN and bools refused; anything `float()` takes is accepted).

    Args:
        value: what the caller received.
        arg: the argument's name.
        owner: whose argument it is, the message's prefix; None for none.
        allow_zero: accept 0 too ("must be a non-negative float").
        optional: None is accepted and returned as is ("... float or None").
        noun: the word the message uses for the type ("float", or "number").
    """
    if optional and value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not (number >= 0.0 if allow_zero else number > 0.0):
        expected = f"a {_sign(allow_zero)} {noun}" + (" or None" if optional else "")
        raise _refuse(owner, arg, expected, value)
    return number


def fraction(value: Any, arg: str, owner: str | None = None, *, include_one: bool = False) -> float:
    """`value` as a float in [0, 1) (a rate, a decay), or in [0, 1] with `include_one`.

    Args:
        value: what the caller received.
        arg: the argument's name.
        owner: whose argument it is, the message's prefix; None for none.
        include_one: accept 1 too (a momentum, a label smoothing).
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not (0.0 <= number <= 1.0 if include_one else 0.0 <= number < 1.0):
        raise _refuse(owner, arg, "a float in [0, 1]" if include_one else "a float in [0, 1)", value)
    return number


def shape(value: Any, arg: str, owner: str | None = None, *, allow_none: bool = True,
          maximum: int | None = None) -> tuple:
    """`value` (a list or tuple) as a tuple of ints above 0, or None where `allow_none` lets a size be
    left to the input (a noise_shape).

    Args:
        value: what the caller received.
        arg: the argument's name.
        owner: whose argument it is, the message's prefix; None for none.
        allow_none: accept None entries ("must be a list of positive ints or None").
        maximum: the largest dimension accepted (`MAX_SIZE` for a shape); None for no bound.
    """
    expected = "a list of positive ints" + (" or None" if allow_none else "")
    if not isinstance(value, (list, tuple)):
        raise _refuse(owner, arg, expected, value)
    for d in value:
        if not (d is None and allow_none) and (isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1):
            raise _refuse(owner, arg, expected, value)
        if d is not None and maximum is not None and d > maximum:
            raise _refuse(owner, arg, f"{expected}, each at most {maximum}", value)
    return tuple(None if d is None else int(d) for d in value)


def _sign(allow_zero: bool) -> str:
    return "non-negative" if allow_zero else "positive"


def _refuse(owner: str | None, arg: str, expected: str, value: Any) -> ConfigError:
    where = f"{owner}: " if owner else ""
    return ConfigError(f"{where}{arg} must be {expected}. Received: {arg}={short_repr(value)}")
