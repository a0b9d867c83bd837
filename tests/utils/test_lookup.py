"""String identifiers matched loosely (case, ``_`` and ``-`` ignored), and errors that
name the kind, list the valid names and suggest the closest."""

from __future__ import annotations

import pytest

from deepdescent.utils._lookup import lookup, normalize_name

TABLE = {"categorical_crossentropy": 1, "mean_squared_error": 2, "MSE": 3}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("categorical_crossentropy", 1),
        ("CategoricalCrossentropy", 1),
        ("categorical-crossentropy", 1),
        ("CATEGORICAL_CROSSENTROPY", 1),
        ("mean_squared_error", 2),
        ("MeanSquaredError", 2),
        ("mse", 3),
    ],
)
def test_names_match_without_case_underscores_or_dashes(name, expected):
    assert lookup("loss", name, TABLE) == expected


def test_normalize_name():
    assert normalize_name("Mean_Squared-Error") == "meansquarederror"


def test_unknown_name_lists_every_valid_name_and_suggests_the_closest():
    with pytest.raises(ValueError) as caught:
        lookup("loss", "categorical_crossentropyy", TABLE)
    assert str(caught.value) == (
        "Unknown loss 'categorical_crossentropyy'. Did you mean 'categorical_crossentropy'? "
        "Valid names: MSE, categorical_crossentropy, mean_squared_error."
    )


def test_no_suggestion_when_nothing_is_close():
    with pytest.raises(ValueError) as caught:
        lookup("loss", "zzz", TABLE)
    assert "Did you mean" not in str(caught.value)
    assert str(caught.value).startswith("Unknown loss 'zzz'. Valid names: ")


@pytest.mark.parametrize("name", [3, None, ["mse"]])
def test_a_non_string_is_a_type_error_naming_the_kind(name):
    with pytest.raises(
        TypeError, match=f"^optimizer must be a string identifier, got {type(name).__name__}$"
    ):
        lookup("optimizer", name, TABLE)
