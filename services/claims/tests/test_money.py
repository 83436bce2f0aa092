"""X12 dollar amounts ↔ integer cents: exact for cents, half-up beyond."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.claims.money import NotAMoneyAmount, cents_to_dollars, dollars_to_cents


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_round_trip_is_exact(cents):
    assert dollars_to_cents(cents_to_dollars(cents)) == cents
    assert dollars_to_cents(str(cents_to_dollars(cents))) == cents


@given(st.integers(min_value=0, max_value=10**10), st.integers(min_value=0, max_value=9))
def test_third_decimal_rounds_half_up(cents, mills):
    amount = Decimal(cents) / 100 + Decimal(mills) / 1000
    assert dollars_to_cents(amount) == cents + (1 if mills >= 5 else 0)


def test_examples():
    assert dollars_to_cents("140") == 14_000
    assert dollars_to_cents("1.005") == 101
    assert dollars_to_cents("-3.50") == -350
    assert str(cents_to_dollars(14_000)) == "140"
    assert str(cents_to_dollars(14_050)) == "140.5"


@pytest.mark.parametrize("bad", ["", "abc", "NaN", "Infinity"])
def test_not_amounts(bad):
    with pytest.raises(NotAMoneyAmount):
        dollars_to_cents(bad)
