"""Property tests for the shared money codecs (X12 decimal form, display, rounding)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.money import (
    FractionalCents,
    NotAnAmount,
    cents_from_decimal,
    format_usd,
    round_half_up_to_cent,
    x12_amount,
)

CENTS = st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1)


@given(CENTS)
def test_x12_form_round_trips_exactly(cents: int) -> None:
    assert cents_from_decimal(x12_amount(cents)) == cents


@given(st.integers(-10**9, 10**9), st.integers(1, 9))
def test_a_third_decimal_is_refused_not_rounded(cents: int, mills: int) -> None:
    with pytest.raises(FractionalCents):
        cents_from_decimal(f"{Decimal(cents) / 100:.2f}{mills}")


@pytest.mark.parametrize(
    ("text", "cents"),
    [("123.45", 12345), ("-5", -500), (".5", 50), ("0", 0), ("1.40", 140), (" 7.1 ", 710)],
)
def test_examples(text: str, cents: int) -> None:
    assert cents_from_decimal(text) == cents


@pytest.mark.parametrize("bad", ["", "abc", "NaN", "Infinity", "1,00", "$5"])
def test_not_amounts(bad: str) -> None:
    with pytest.raises(NotAnAmount):
        cents_from_decimal(bad)


def test_x12_and_display_forms() -> None:
    assert [x12_amount(c) for c in (1250, -300, 0, 140, 5)] == ["12.5", "-3", "0", "1.4", "0.05"]
    assert [format_usd(c) for c in (123456, -300, 5)] == ["$1,234.56", "-$3.00", "$0.05"]


@given(st.integers(-10**12, 10**12))
def test_half_up_rounding_moves_at_most_half_a_cent_and_halves_go_away_from_zero(
    tenths: int,
) -> None:
    value = Decimal(tenths) / 10
    rounded = round_half_up_to_cent(value)
    assert abs(Decimal(rounded) - value) <= Decimal("0.5")
    if abs(tenths) % 10 == 5:
        assert abs(rounded) > abs(value)
