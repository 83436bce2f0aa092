"""Property-based tests of the money and date arithmetic (hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.money import (
    FractionalCents,
    cents_from_decimal,
    round_half_up_to_cent,
    x12_amount,
)
from services.settlement.adapters.x12 import read_remittances
from services.settlement.domain import (
    Account,
    ClaimIndex,
    ClaimLine,
    ClaimReference,
    JournalTransaction,
    Remittance,
    Settlement,
    SettlementSource,
    UnmatchedClaimPayment,
    account_balances,
    check_remittance,
    match_lines,
    match_remittance,
    post_remittance,
    post_waiting,
    verify_transactions,
)
from services.x12.writer_835 import (
    ClaimSpec,
    LineSpec,
    ProviderAdjustmentSpec,
    RemittanceSpec,
    build_835,
    split_cents,
    with_lines,
)

from .builders import ctx, opened_settlement

cents = st.integers(min_value=-(10**11), max_value=10**11)
positive = st.integers(min_value=1, max_value=10**9)


@given(cents)
def test_format_then_parse_is_exact(value: int) -> None:
    assert cents_from_decimal(x12_amount(value)) == value


@given(cents, st.integers(min_value=1, max_value=9))
def test_sub_cent_amounts_are_refused(value: int, mills: int) -> None:
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 100)
    with pytest.raises(FractionalCents):
        cents_from_decimal(f"{sign}{whole}.{frac:02d}{mills}")


@given(st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, places=3))
def test_half_up_rounding_is_within_half_a_cent_and_away_from_zero(value: Decimal) -> None:
    rounded = round_half_up_to_cent(value)
    assert abs(Decimal(rounded) - value) <= Decimal("0.5")
    if abs(value - int(value)) == Decimal("0.5"):
        assert abs(rounded) > abs(value)


claim_amounts = st.tuples(
    st.integers(1, 10**8),  # charge
    st.floats(0, 1),  # paid share of the charge
    st.floats(0, 1),  # patient share of the rest
)


@given(
    st.lists(claim_amounts, min_size=1, max_size=8),
    st.lists(st.tuples(st.sampled_from(["WO", "L6", "FB", "CS"]), cents), max_size=6),
)
def test_generated_files_balance_and_read_back_exactly(
    claims: list[tuple[int, float, float]], plb: list[tuple[str, int]]
) -> None:
    specs = []
    for n, (charge, paid_share, patient_share) in enumerate(claims):
        paid = int(charge * paid_share)
        patient = int((charge - paid) * patient_share)
        specs.append(ClaimSpec(f"P{n}", charge, paid, date(2026, 9, 1), patient))
    spec = RemittanceSpec(
        "TRN-H",
        date(2026, 11, 2),
        tuple(specs),
        tuple(ProviderAdjustmentSpec(r, a, "REF") for r, a in plb),
    )
    (remittance,) = read_remittances(build_835(spec))
    issues = check_remittance(remittance)
    if spec.total_paid_cents >= 0:
        assert issues == []
    else:
        assert [i.rule for i in issues] == ["negative-payment"]
    assert [c.paid_cents for c in remittance.claims] == [c.paid_cents for c in specs]
    assert [c.charge_cents for c in remittance.claims] == [c.charge_cents for c in specs]


@given(
    positive,
    st.integers(0, 10**6),
    st.integers(0, 10**8),
    st.lists(st.tuples(st.sampled_from(["pay", "recoup", "interest", "reverse"]), positive)),
)
def test_every_settlement_book_balances(
    total: int, cost_sharing: int, already_paid: int, moves: list[tuple[str, int]]
) -> None:
    cost_sharing = min(cost_sharing, total)
    s = Settlement.open(
        ctx(), claim_id="c", source=SettlementSource.AGREEMENT, source_ref="n", payer_key="p",
        agreed_total_cents=total, patient_cost_sharing_cents=cost_sharing,
        already_paid_cents=already_paid, decided_on=date(2026, 10, 1), due_date=date(2026, 10, 31),
        amount_owed_cents=total - cost_sharing - already_paid,
        nsa_protected=True,
    )  # fmt: skip
    for n, (kind, amount) in enumerate(moves):
        on = date(2026, 10, 2)
        if kind == "pay":
            s.post_payment(
                ctx(), payment_id=f"p{n}", amount_cents=amount, method="eft", reference="",
                paid_on=on,
            )  # fmt: skip
        elif kind == "recoup":
            s.post_recoupment(ctx(), recoupment_id=f"r{n}", amount_cents=amount, reference="",
                              posted_on=on)  # fmt: skip
        elif kind == "interest":
            s.post_interest(ctx(), interest_id=f"i{n}", amount_cents=amount, reference="",
                            posted_on=on)  # fmt: skip
        else:
            open_payments = [p for p in s.payments.values() if not p.reversed]
            if open_payments:
                s.reverse_payment(ctx(), payment_id=open_payments[0].payment_id, reason="r",
                                  reversed_on=on)  # fmt: skip
        s.assess_variance(ctx())
    journal = [
        JournalTransaction.from_dict(entry)
        for event in s.collect_events()
        for entry in getattr(event, "journal", [])
    ]
    assert verify_transactions(journal) == []
    balances = account_balances(journal)
    assert sum(balances.values()) == 0
    # The book agrees with the aggregate: the payer still owes exactly the outstanding amount.
    assert balances.get(Account.PAYER_RECEIVABLE, 0) == s.outstanding_cents


@given(
    total=st.integers(-(10**9), 10**9),
    weights=st.lists(st.integers(1, 10**8), min_size=1, max_size=12),
)
def test_split_cents_adds_up_exactly_and_stays_within_a_cent(
    total: int, weights: list[int]
) -> None:
    shares = split_cents(total, weights)
    assert sum(shares) == total and all(isinstance(s, int) for s in shares)
    whole = sum(weights)
    for share, weight in zip(shares, weights, strict=True):
        # |share - total * weight / whole| < 1, in exact integer arithmetic
        assert abs(share * whole - total * weight) < whole


@given(
    charges=st.lists(st.integers(100, 5_000_000), min_size=1, max_size=8),
    paid_percent=st.integers(0, 80),
    patient_percent=st.integers(0, 20),
    reverse=st.booleans(),
)
def test_multi_line_claims_balance_read_back_exactly_and_match_their_lines(
    charges: list[int], paid_percent: int, patient_percent: int, reverse: bool
) -> None:
    total = sum(charges)
    lines = [
        LineSpec("99285", charge, 0, line_control_number=f"L{n}")
        for n, charge in enumerate(charges, start=1)
    ]
    claim = with_lines(
        ClaimSpec("PCN", total, total * paid_percent // 100, date(2026, 8, 14),
                  patient_responsibility_cents=total * patient_percent // 100),
        lines,
    )  # fmt: skip
    claims = (claim.reversed(), claim) if reverse else (claim,)
    spec = RemittanceSpec("TRN-LINES", date(2026, 11, 2), claims)
    (remittance,) = read_remittances(build_835(spec))
    assert check_remittance(remittance) == []
    billed = [
        ClaimLine(n, f"L{n}", "99285", (), date(2026, 8, 14), charge)
        for n, charge in enumerate(charges, start=1)
    ]
    for read in remittance.claims:
        assert sum(line.paid_cents for line in read.service_lines) == read.paid_cents
        results = match_lines(read, billed)
        assert [r.claim_line for r in results] == list(range(1, len(charges) + 1))


REVERSED_CHARGE = 250_000


def _one_remittance(trace: str, on: date, *claims: ClaimSpec) -> Remittance:
    (remittance,) = read_remittances(build_835(RemittanceSpec(trace, on, claims)))
    return remittance


def _claim_1_index() -> ClaimIndex:
    return ClaimIndex.build([ClaimReference(
        "claim-1", "PCN-1", frozenset({"ICN-1"}), first_service_date=date(2026, 9, 1),
        charge_cents=REVERSED_CHARGE, adjudicated=True)])  # fmt: skip


def _paid_and_corrected(paid_cents: int, corrected_cents: int) -> tuple[ClaimSpec, ClaimSpec]:
    """claim-1's payment (ICN-1) and the corrected claim that follows its reversal (ICN-2)."""
    paid = ClaimSpec("PCN-1", REVERSED_CHARGE, paid_cents, date(2026, 9, 1), 0, "1", "ICN-1")
    return paid, replace(paid, paid_cents=corrected_cents, payer_claim_control_number="ICN-2",
                         original_reference="ICN-1")  # fmt: skip


def _verified_book(settlement: Settlement, *remittance_journals: list[JournalTransaction]
                   ) -> dict[Account, int]:  # fmt: skip
    """The balances of the remittances' journals and the settlement's: every transaction
    balances and every reversal exactly negates its payment."""
    journal = [
        *(t for remittance_journal in remittance_journals for t in remittance_journal),
        *(JournalTransaction.from_dict(entry) for event in settlement.collect_events()
          for entry in getattr(event, "journal", [])),
    ]  # fmt: skip
    assert verify_transactions(journal) == []
    return account_balances(journal)


@given(original=positive, corrected=st.integers(0, 10**9), waited=st.booleans())
def test_an_era_reversal_takes_the_money_back_from_cash_wherever_the_payment_came_from(
    original: int, corrected: int, waited: bool
) -> None:
    """A payment an 835 posted on the open settlement, or that waited in unapplied cash and was
    attached when the settlement opened; a later 835 reverses it (CLP02 22) and pays a corrected
    amount. The provider's cash is what the two deposits brought, unapplied cash is empty, every
    reversal exactly negates its payment and the book agrees with the settlement."""
    index = _claim_1_index()
    settlement = opened_settlement(agreed=300_000, cost_sharing=0, already_paid=0)
    paid, corrected_clp = _paid_and_corrected(original, corrected)
    first = _one_remittance("TRN-1", date(2026, 11, 2), paid)
    posted = post_remittance(ctx(), first, "rem-1", index, match_remittance(first, index),
                             {} if waited else {"claim-1": settlement})  # fmt: skip
    if waited:  # queued for want of a settlement, attached when it opened
        (exception,) = posted.exceptions
        item = UnmatchedClaimPayment.queue(ctx(), remittance_id=UUID(int=1), remittance=first,
                                           item=exception)  # fmt: skip
        assert post_waiting(ctx(), settlement, [item]).attached == [item]
    second = _one_remittance("TRN-2", date(2026, 11, 9), paid.reversed(), corrected_clp)
    reversed_ = post_remittance(ctx(), second, "rem-2", index, match_remittance(second, index),
                                {"claim-1": settlement})  # fmt: skip
    assert reversed_.exceptions == []
    balances = _verified_book(settlement, posted.remittance_journal, reversed_.remittance_journal)
    deposits = first.total_paid_cents + second.total_paid_cents
    assert deposits == corrected
    assert balances.get(Account.PROVIDER_CASH, 0) == deposits
    assert balances.get(Account.UNAPPLIED_CASH, 0) == 0
    assert settlement.paid_cents == corrected
    assert balances.get(Account.PAYER_RECEIVABLE, 0) == settlement.outstanding_cents


@given(initial=positive, corrected=st.integers(0, 10**9), before_opening=st.booleans())
def test_a_reversal_of_the_initial_payment_books_the_same_whether_it_waited_or_not(
    initial: int, corrected: int, before_opening: bool
) -> None:
    """The payer reverses its initial payment (CLP02 22) and pays a corrected amount in one 835.
    Either the 835 comes after the settlement opened (the import posts both), or before (both
    CLPs wait in unapplied cash; the reversal and the payment post when the settlement opens,
    in the file's order). The books agree: provider cash is the initial payment plus the
    deposit, unapplied cash is empty, the initial payment is reversed once, the book balances
    and agrees with the settlement."""
    index = _claim_1_index()
    settlement = opened_settlement(agreed=300_000, cost_sharing=0, already_paid=initial,
                                   icn="ICN-1")  # fmt: skip
    paid, corrected_clp = _paid_and_corrected(initial, corrected)
    era = _one_remittance("TRN-R", date(2026, 11, 9), paid.reversed(), corrected_clp)
    posted = post_remittance(ctx(), era, "rem-r", index, match_remittance(era, index),
                             {} if before_opening else {"claim-1": settlement})  # fmt: skip
    if before_opening:
        items = [UnmatchedClaimPayment.queue(ctx(), remittance_id=UUID(int=7), remittance=era,
                                             item=exception)
                 for exception in posted.exceptions]  # fmt: skip
        assert len(items) == 2
        assert post_waiting(ctx(), settlement, items).attached == items
    else:
        assert posted.exceptions == []
    balances = _verified_book(settlement, posted.remittance_journal)
    assert balances.get(Account.PROVIDER_CASH, 0) == initial + era.total_paid_cents
    assert balances.get(Account.UNAPPLIED_CASH, 0) == 0
    assert settlement.paid_cents == corrected
    assert [p.reversed for p in settlement.payments.values()] == [True] + [False] * bool(corrected)
    assert balances.get(Account.PAYER_RECEIVABLE, 0) == settlement.outstanding_cents
