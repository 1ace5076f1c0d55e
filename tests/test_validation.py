"""corelib.validation: the shared argument checks, their one message form, and what they accept."""

import math

import numpy as np
import pytest

from corelib.errors import ConfigError
from corelib.validation import fraction, positive_int, positive_number


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.uint8(2)])
def test_positive_int_returns_a_python_int(value):
    result = positive_int(value, "units")
    assert result == value and type(result) is int


@pytest.mark.parametrize("value", [0, -3, True, False, 2.0, "3", None, [1]])
def test_positive_int_refuses_in_the_one_message_form(value):
    with pytest.raises(ConfigError) as info:
        positive_int(value, "units", "Dense 'dense_1'")
    assert str(info.value) == f"Dense 'dense_1': units must be a positive int. Received: units={value!r}"


def test_positive_int_without_an_owner_and_with_zero_allowed():
    with pytest.raises(ConfigError, match=r"^batch_size must be a positive int\. Received: batch_size=0$"):
        positive_int(0, "batch_size")
    assert positive_int(0, "seed", allow_zero=True) == 0
    with pytest.raises(ConfigError, match=r"^CTC: blank_index must be a non-negative int\. Received: blank_index=-1$"):
        positive_int(-1, "blank_index", "CTC", allow_zero=True)


@pytest.mark.parametrize("value, expected", [(0.5, 0.5), (2, 2.0), ("0.25", 0.25), (np.float32(0.5), 0.5),
                                             (math.inf, math.inf)])
def test_positive_number_accepts_what_float_takes(value, expected):
    assert positive_number(value, "delta", "Huber") == expected


@pytest.mark.parametrize("value", [0, -1, -0.5, math.nan, True, False, "abc", None, [1]])
def test_positive_number_refuses_showing_the_value_as_received(value):
    with pytest.raises(ConfigError) as info:
        positive_number(value, "stddev", "RandomNormal")
    assert str(info.value) == f"RandomNormal: stddev must be a positive float. Received: stddev={value!r}"


def test_positive_number_wording_options():
    assert positive_number(0, "l1", "L1", allow_zero=True) == 0.0
    with pytest.raises(ConfigError, match=r"^L1: l1 must be a non-negative float\. Received: l1=-1$"):
        positive_number(-1, "l1", "L1", allow_zero=True)
    with pytest.raises(ConfigError, match=r"^CosineDecay: alpha must be a non-negative number\. Received: alpha=-1$"):
        positive_number(-1, "alpha", "CosineDecay", allow_zero=True, noun="number")
    assert positive_number(None, "clipnorm", "SGD", optional=True) is None
    with pytest.raises(ConfigError, match=r"^SGD: clipnorm must be a positive float or None\. Received: clipnorm=0$"):
        positive_number(0, "clipnorm", "SGD", optional=True)
    with pytest.raises(ConfigError, match=r"must be a positive float\. Received: clipnorm=None$"):
        positive_number(None, "clipnorm", "SGD")


def test_fraction_bounds():
    assert fraction(0, "rate", "Dropout 'dropout'") == 0.0
    assert fraction(0.999, "beta_1", "Adam") == 0.999
    with pytest.raises(ConfigError, match=r"^Adam: beta_1 must be a float in \[0, 1\)\. Received: beta_1=1$"):
        fraction(1, "beta_1", "Adam")
    assert fraction(1, "momentum", "SGD", include_one=True) == 1.0
    for value in (-0.1, 1.5, math.nan, True, "abc", None):
        with pytest.raises(ConfigError, match=r"^SGD: momentum must be a float in \[0, 1\]\. Received: momentum="):
            fraction(value, "momentum", "SGD", include_one=True)
