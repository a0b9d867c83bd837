"""The shared argument checks: each message names the argument, the value and the rule;
NumPy scalars count as the numbers they stand for; bools are never numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepdescent.utils._checks import (
    check_argument,
    check_count,
    check_fraction,
    check_non_negative,
    check_positive,
    is_integer,
    is_number,
    snake_case,
)


def test_check_argument_message_format():
    check_argument("rate", 0.5, True, "anything")
    with pytest.raises(ValueError) as caught:
        check_argument("rate", "fast", False, "a number in [0, 1)")
    assert str(caught.value) == "Invalid rate: 'fast' (expected a number in [0, 1))"


@pytest.mark.parametrize(
    ("value", "number", "integer"),
    [
        (3, True, True),
        (-2.5, True, False),
        (np.float32(0.1), True, False),
        (np.float64(2.0), True, False),
        (np.int64(3), True, True),
        (np.uint8(7), True, True),
        (True, False, False),
        (np.bool_(True), False, False),
        (math.nan, False, False),
        (math.inf, False, False),
        ("3", False, False),
        (None, False, False),
        (1 + 0j, False, False),
        ([3], False, False),
    ],
)
def test_what_counts_as_a_number_and_an_integer(value, number, integer):
    assert is_number(value) is number
    assert is_integer(value) is integer


# check, good value, what it returns, bad values, the rule in the message
CHECKS = [
    (check_count, np.int64(4), 4, [0, -1, 2.5, True, "4", None], "an int >= 1"),
    (check_non_negative, 0, 0.0, [-1e-9, math.inf, math.nan, True, "1"], "a finite number >= 0"),
    (check_positive, np.float32(0.5), 0.5, [0, -1, math.inf, False, None], "a finite number > 0"),
    (check_fraction, 1, 1.0, [-0.1, 1.1, math.nan, True, "0.5"], "a number in [0, 1]"),
]


@pytest.mark.parametrize(
    ("check", "good", "returned", "bad", "rule"), CHECKS, ids=[c[0].__name__ for c in CHECKS]
)
def test_each_check_returns_a_python_number_and_names_what_it_refuses(
    check, good, returned, bad, rule
):
    result = check("knob", good)
    assert result == returned and type(result) is type(returned)
    for value in bad:
        with pytest.raises(ValueError) as caught:
            check("knob", value)
        assert str(caught.value) == f"Invalid knob: {value!r} (expected {rule})"


def test_check_count_minimum():
    assert check_count("patience", 0, minimum=0) == 0
    with pytest.raises(ValueError, match=r"^Invalid period: 1 \(expected an int >= 2\)$"):
        check_count("period", 1, minimum=2)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Keras's default names for these classes (keras.src.utils.naming.to_snake_case).
        ("Dense", "dense"),
        ("BatchNormalization", "batch_normalization"),
        ("MeanSquaredError", "mean_squared_error"),
        ("KLDivergence", "kl_divergence"),
        ("LSTM", "lstm"),
        ("Conv2D", "conv2d"),
        ("ReLU", "re_lu"),
        ("AUC", "auc"),
    ],
)
def test_snake_case_gives_keras_default_names(name, expected):
    assert snake_case(name) == expected
