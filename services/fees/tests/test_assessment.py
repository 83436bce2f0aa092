"""Given an account, when a payment fact arrives, then this line (or credit memo, or nothing)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from services.fees.domain.arithmetic import compute_fee
from services.fees.domain.assessment import (
    AccountState,
    FeeCause,
    FeeLineKind,
    IdrFeeFact,
    PaymentKind,
    apply_idr_fee_assessment,
    apply_payment_assessment,
    assess_idr_fee,
    assess_payment,
)
from services.fees.domain.schedule import FeeBase, FeeTerms, ResolutionStage, Tier
from services.fees.tests.builders import account, flat_rate, payment, version


def run(state: AccountState, *facts, terms: FeeTerms) -> tuple[AccountState, list]:
    lines = []
    for fact in facts:
        assessment = assess_payment(state, fact, version(terms))
        state = apply_payment_assessment(state, assessment)
        if assessment.line:
            lines.append(assessment.line)
    return state, lines


def test_payment_produces_an_invoice_line_referencing_its_sources() -> None:
    fact = payment(40_000, "settlement:7", trn="EFT-42", day=dt.date(2026, 3, 9))
    assessment = assess_payment(account(), fact, version(flat_rate(2500), number=3))
    line = assessment.line
    assert line is not None
    assert (line.kind, line.cause, line.amount_cents) == (
        FeeLineKind.INVOICE_LINE, FeeCause.PAYMENT, 10_000)
    assert (line.line_date, line.remittance_trn, line.claim_id, line.schedule_version,
            line.source_event_id) == (dt.date(2026, 3, 9), "EFT-42", "c1", 3, "settlement:7")
    assert (line.cumulative_recovered_cents, line.cumulative_fee_cents) == (40_000, 10_000)


def test_partial_payments_bill_the_delta_of_the_cumulative_fee() -> None:
    terms = FeeTerms(default_tiers=(Tier(0, 3000), Tier(50_000, 1000)))
    state, lines = run(account(), payment(30_000, "s:1"), payment(40_000, "s:2"), terms=terms)
    # cumulative 70,000: 30% of 50,000 + 10% of 20,000 = 17,000
    assert [line.amount_cents for line in lines] == [9_000, 8_000]
    assert state.fee_billed_cents == 17_000


def test_reversal_produces_a_credit_memo() -> None:
    state, lines = run(account(), payment(40_000, "s:1"),
                       payment(-40_000, "s:2", kind=PaymentKind.REVERSAL),
                       terms=flat_rate(2500))
    assert [(line.kind, line.cause, line.amount_cents) for line in lines] == [
        (FeeLineKind.INVOICE_LINE, FeeCause.PAYMENT, 10_000),
        (FeeLineKind.CREDIT_MEMO, FeeCause.REVERSAL, -10_000),
    ]
    assert state.fee_billed_cents == 0


def test_recoupment_reduces_recovered_and_credits_in_proportion() -> None:
    state, lines = run(account(), payment(80_000, "s:1"),
                       payment(-20_000, "s:2", kind=PaymentKind.RECOUPMENT),
                       terms=flat_rate(2500))
    assert lines[-1].amount_cents == -5_000
    assert (state.paid_cents, state.recouped_cents) == (80_000, 20_000)


def test_clawback_below_zero_never_makes_the_total_fee_negative() -> None:
    state, lines = run(account(), payment(10_000, "s:1"),
                       payment(-30_000, "s:2", kind=PaymentKind.RECOUPMENT),
                       terms=flat_rate(2500))
    assert [line.amount_cents for line in lines] == [2_500, -2_500]
    assert state.fee_billed_cents == 0


def test_a_payment_that_changes_no_fee_records_no_line() -> None:
    state, lines = run(account(), payment(1_000_000, "s:1"), payment(5_000, "s:2"),
                       terms=flat_rate(3000, cap_cents=100_000))
    assert [line.amount_cents for line in lines] == [100_000]
    assert state.processed == {"s:1", "s:2"}


def test_base_incremental_ignores_the_initial_payment_full_award_counts_it() -> None:
    start = account(initial_payment_cents=50_000)
    assert run(start, payment(20_000), terms=flat_rate(1000))[1][0].amount_cents == 2_000
    full = flat_rate(1000, base=FeeBase.FULL_AWARD)
    assert run(start, payment(20_000), terms=full)[1][0].amount_cents == 7_000


def test_interest_counts_only_when_the_contract_says_so() -> None:
    fact = payment(20_000, interest_cents=1_000)
    assert run(account(), fact, terms=flat_rate(1000))[1][0].amount_cents == 2_000
    with_interest = flat_rate(1000, include_interest=True)
    assert run(account(), fact, terms=with_interest)[1][0].amount_cents == 2_100


def test_stage_of_the_claim_selects_its_rates() -> None:
    terms = FeeTerms(default_tiers=(Tier(0, 2500),), idr_tiers=(Tier(0, 3000),))
    state = account(stage=ResolutionStage.IDR)
    assert run(state, payment(10_000), terms=terms)[1][0].amount_cents == 3_000


def test_no_schedule_in_force_records_the_cash_and_the_next_payment_catches_up() -> None:
    state = account()
    first = assess_payment(state, payment(10_000, "s:1"), None)
    assert (first.line, first.schedule_version) == (None, None)
    state = apply_payment_assessment(state, first)
    second = assess_payment(state, payment(10_000, "s:2"), version(flat_rate(2000)))
    assert second.line is not None and second.line.amount_cents == 4_000


def test_idr_fee_passes_through_only_when_the_contract_says_so() -> None:
    fact = IdrFeeFact("negotiation:5", 1_500, dt.date(2026, 8, 1), "DISP-1")
    assert assess_idr_fee(account(), fact, version(flat_rate(2000))).line is None
    terms = flat_rate(2000, pass_through_idr_fees=True)
    assessment = assess_idr_fee(account(), fact, version(terms))
    assert assessment.line is not None
    assert (assessment.line.cause, assessment.line.amount_cents) == (
        FeeCause.IDR_FEE_PASS_THROUGH, 1_500)
    state = apply_idr_fee_assessment(account(), assessment)
    refund = IdrFeeFact("negotiation:9", -40_000, dt.date(2026, 9, 1), "DISP-1")
    credit = assess_idr_fee(state, refund, version(terms)).line
    assert credit is not None and credit.amount_cents == -1_500  # never below zero in total


def test_line_ids_are_deterministic_per_source_event() -> None:
    terms = version(flat_rate(2000))
    first = assess_payment(account(), payment(10_000, "s:1"), terms).line
    again = assess_payment(account(), payment(10_000, "s:1"), terms).line
    other_tenant = assess_payment(account(tenant_id="t2"), payment(10_000, "s:1"), terms).line
    assert first and again and other_tenant
    assert first.line_id == again.line_id != other_tenant.line_id


facts = st.lists(
    st.tuples(st.sampled_from(list(PaymentKind)), st.integers(1, 5_000_000),
              st.integers(0, 10_000)),
    min_size=1, max_size=12,
)


@st.composite
def contracts(draw: st.DrawFn) -> FeeTerms:
    floors = sorted(draw(st.sets(st.integers(1, 10_000_000), max_size=3)))
    tiers = (Tier(0, draw(st.integers(0, 10_000))),
             *(Tier(floor, draw(st.integers(0, 10_000))) for floor in floors))
    minimum = draw(st.integers(0, 100_000))
    return FeeTerms(
        default_tiers=tiers,
        minimum_cents=minimum,
        cap_cents=draw(st.none() | st.integers(max(minimum, 1), 5_000_000)),
        flat_fee_cents=draw(st.integers(0, 50_000)),
        base=draw(st.sampled_from(list(FeeBase))),
        include_interest=draw(st.booleans()),
    )


@given(contracts(), facts, st.integers(0, 1_000_000))
def test_cumulative_fee_always_equals_the_schedule_applied_to_cumulative_recovered(
        terms: FeeTerms, steps: list, initial: int) -> None:
    state = account(initial_payment_cents=initial)
    billed = 0
    for number, (kind, magnitude, interest) in enumerate(steps):
        signed = magnitude if kind is PaymentKind.PAYMENT else -magnitude
        fact = payment(signed, f"s:{number}", kind=kind, interest_cents=interest)
        assessment = assess_payment(state, fact, version(terms))
        state = apply_payment_assessment(state, assessment)
        billed += assessment.line.amount_cents if assessment.line else 0
        expected = compute_fee(terms, state.stage, state.recovered_cents(terms)).fee_cents
        assert billed == state.fee_billed_cents == expected
        assert 0 <= billed <= max(0, state.recovered_cents(terms))
        if assessment.line:
            assert (assessment.line.amount_cents > 0) == (
                assessment.line.kind is FeeLineKind.INVOICE_LINE)
