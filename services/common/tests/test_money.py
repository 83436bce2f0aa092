"""Property tests for the shared money codecs (X12 decimal form, display, rounding)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.errors import InvalidArgument
from services.common.money import (
    INT64_MAX,
    MAX_AMOUNT_CENTS,
    AmountOutOfRange,
    FractionalCents,
    NotAnAmount,
    amount_out_of_range,
    cents_from_decimal,
    format_usd,
    require_amount,
    round_half_up_to_cent,
    x12_amount,
)

CENTS = st.integers(min_value=-MAX_AMOUNT_CENTS, max_value=MAX_AMOUNT_CENTS)
BEYOND = st.one_of(
    st.integers(min_value=MAX_AMOUNT_CENTS + 1, max_value=2**80),
    st.integers(min_value=-(2**80), max_value=-MAX_AMOUNT_CENTS - 1),
)


def test_the_ceiling_keeps_sums_and_fee_products_inside_int64() -> None:
    # A claim of the maximum lines at the ceiling, times a rate in basis points, still fits.
    assert 999 * MAX_AMOUNT_CENTS * 10_000 < INT64_MAX


@given(CENTS)
def test_amounts_within_the_ceiling_are_accepted(cents: int) -> None:
    assert amount_out_of_range(cents) is None
    assert require_amount(cents, "amount_cents") == cents


@given(BEYOND)
def test_amounts_beyond_the_ceiling_are_refused_naming_the_field(cents: int) -> None:
    assert amount_out_of_range(cents)
    with pytest.raises(InvalidArgument) as caught:
        require_amount(cents, "claim.lines[3].billed_cents")
    assert [v.field for v in caught.value.violations] == ["claim.lines[3].billed_cents"]


@given(st.integers(min_value=-INT64_MAX, max_value=INT64_MAX))
def test_x12_form_round_trips_exactly_over_int64(cents: int) -> None:
    # The codec bounds amounts by what can be stored; the business ceiling is the domain's.
    assert cents_from_decimal(x12_amount(cents)) == cents


@given(st.integers(min_value=INT64_MAX + 1, max_value=2**80), st.booleans())
def test_x12_amounts_beyond_int64_are_refused(cents: int, negative: bool) -> None:
    with pytest.raises(AmountOutOfRange):
        cents_from_decimal(x12_amount(-cents if negative else cents))


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
