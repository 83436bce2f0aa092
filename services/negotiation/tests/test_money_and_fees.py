"""Money arithmetic and IDR fee outcomes (hypothesis for the arithmetic)."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.money import half_up_div
from services.negotiation.domain.approval_rules import AutoApprovalRule, deciding_rule
from services.negotiation.domain.idr_fees import IdrOutcome, client_fee_facts
from services.negotiation.domain.money import (
    amount_owed_cents,
    apply_basis_points,
    basis_points_of,
    half_of,
)
from services.negotiation.domain.rule_sets import rule_set_on

cents = st.integers(min_value=0, max_value=10**11)
positive = st.integers(min_value=1, max_value=10**11)


@given(st.integers(min_value=-(10**12), max_value=10**12), positive)
def test_half_up_division_matches_decimal(numerator: int, denominator: int) -> None:
    expected = (Decimal(numerator) / Decimal(denominator)).quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    assert half_up_div(numerator, denominator) == int(expected)


@given(positive, positive, cents)
def test_amount_owed_plus_what_was_paid_is_the_total_rate(
    total: int, share: int, paid: int
) -> None:
    owed = amount_owed_cents(total, share, paid)
    assert owed + share + paid == total


@given(positive, st.integers(min_value=1, max_value=200_000))
def test_basis_points_round_trip_within_half_a_cent_of_reference(qpa: int, bp: int) -> None:
    amount = apply_basis_points(qpa, bp)
    assert abs(amount * 10_000 - qpa * bp) <= 5_000
    assert abs(basis_points_of(amount, qpa) - bp) <= max(1, 10_000 // qpa + 1)


@given(st.integers(min_value=0, max_value=10**9))
def test_half_of_a_fee_rounds_up_and_never_exceeds_the_fee(fee: int) -> None:
    half = half_of(fee)
    assert 2 * half - fee in (0, 1)
    assert half <= fee


@given(st.integers(min_value=1, max_value=2_000))
def test_batched_idre_fee_bounds_grow_one_block_per_further_25_line_items(items: int) -> None:
    fee_range = rule_set_on(date(2026, 7, 1)).idre_fee_range
    assert fee_range is not None
    low, high = fee_range.bounds(batched=True, line_items=items)
    extra_blocks = (items - 1) // 25  # 1 to 25 items: none; 26 to 50: one; ...
    assert (low, high) == (26_800 + 7_500 * extra_blocks, 117_300 + 25_000 * extra_blocks)
    assert fee_range.bounds(batched=False, line_items=items) == (20_000, 84_000)
    if items > 1:
        previous = fee_range.bounds(batched=True, line_items=items - 1)
        assert previous <= (low, high)


@pytest.mark.parametrize(
    ("outcome", "refund"),
    [
        (IdrOutcome.WON, 50_000),
        (IdrOutcome.LOST, 0),
        (IdrOutcome.SETTLED, 25_000),
        (IdrOutcome.INELIGIBLE, 50_000),
    ],
)
def test_fees_by_outcome(outcome: IdrOutcome, refund: int) -> None:
    facts = client_fee_facts(outcome, 11_500, 50_000)
    assert facts.administrative_fee_cents == 11_500  # never refunded
    assert facts.idre_fee_refund_cents == refund
    assert facts.net_cost_cents == 11_500 + 50_000 - refund


@given(cents, cents, st.sampled_from(list(IdrOutcome)), st.booleans())
def test_a_refund_never_exceeds_what_was_paid(
    admin: int, idre: int, outcome: IdrOutcome, paid: bool
) -> None:
    facts = client_fee_facts(outcome, admin, idre, client_paid_idre_fee=paid)
    assert 0 <= facts.idre_fee_refund_cents <= facts.idre_fee_paid_cents
    assert facts.net_cost_cents >= admin


def test_auto_approval_thresholds_are_inclusive_and_need_every_condition() -> None:
    both = AutoApprovalRule(
        "both", min_basis_points_of_billed=5_000, min_basis_points_of_qpa=20_000
    )
    assert both.approves(80_000, billed_cents=160_000, qpa_cents=40_000)
    assert not both.approves(79_999, billed_cents=160_000, qpa_cents=40_000)
    assert deciding_rule([both], 80_000, 200_000, 40_000) is None
    assert not AutoApprovalRule("empty").approves(10**9, 1, 1)
