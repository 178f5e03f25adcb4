"""The argparse types every operator command shares: one-line errors, no fallbacks."""

import argparse

import pytest

from app.cli import positive_number, whole_number


@pytest.mark.parametrize(
    ("text", "minimum", "message"),
    [
        ("x", 0, "'x' is not a whole number"),
        ("1.5", 0, "'1.5' is not a whole number"),
        ("-1", 0, "-1 must be 0 or more"),
        ("0", 1, "0 must be 1 or more"),
    ],
)
def test_whole_number_refuses_with_one_line(text, minimum, message):
    with pytest.raises(argparse.ArgumentTypeError, match=f"^{message}$"):
        whole_number(minimum)(text)


def test_whole_number_accepts_the_minimum():
    assert whole_number(1)("1") == 1


@pytest.mark.parametrize("text", ["0", "-2", "nan", "inf", "soon"])
def test_positive_number_refuses_zero_negative_and_non_finite(text):
    with pytest.raises(argparse.ArgumentTypeError):
        positive_number(text)


def test_positive_number_accepts_fractions():
    assert positive_number("0.5") == 0.5
