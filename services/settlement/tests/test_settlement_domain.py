"""Given events -> when command -> then events / error, for the Settlement aggregate."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.settlement.domain import (
    INITIAL_PAYMENT_ID,
    Account,
    JournalTransaction,
    Settlement,
    SettlementStatus,
    account_balances,
    verify_transactions,
)

from .builders import ctx, opened_settlement


def journal_of(settlement: Settlement) -> list[JournalTransaction]:
    return [
        JournalTransaction.from_dict(entry)
        for event in settlement.collect_events()
        for entry in getattr(event, "journal", [])
    ]


def event_names(settlement: Settlement) -> list[str]:
    return [type(e).__name__ for e in settlement.collect_events()]


def test_opening_computes_amount_owed_and_due_date() -> None:
    s = opened_settlement(agreed=120_000, cost_sharing=10_000, already_paid=40_000)
    assert s.plan_share_cents == 110_000
    assert s.outstanding_cents == 70_000  # award - cost sharing - already paid
    assert s.due_date == date(2026, 10, 31)  # 30 calendar days
    assert s.status(date(2026, 10, 5)) is SettlementStatus.PARTLY_PAID
    assert s.status(date(2026, 11, 1)) is SettlementStatus.OVERDUE


def test_payment_after_the_due_date_leaves_overdue() -> None:
    s = opened_settlement(agreed=120_000, cost_sharing=10_000, already_paid=40_000)
    assert s.flag_overdue(ctx(), date(2026, 11, 15))
    assert s.status(date(2026, 11, 15)) is SettlementStatus.OVERDUE
    s.post_payment(
        ctx(), payment_id="late", amount_cents=30_000, method="eft", reference="EFT-LATE",
        paid_on=date(2026, 11, 20),
    )  # fmt: skip
    assert s.status(date(2026, 11, 21)) is SettlementStatus.PARTLY_PAID
    assert s.outstanding_cents == 40_000
    s.post_payment(
        ctx(), payment_id="rest", amount_cents=40_000, method="check", reference="CHK",
        paid_on=date(2026, 11, 25),
    )  # fmt: skip
    assert s.status(date(2026, 11, 26)) is SettlementStatus.PAID
    s.reverse_payment(ctx(), payment_id="late", reason="bounced", reversed_on=date(2026, 11, 27))
    s.reverse_payment(ctx(), payment_id="rest", reason="bounced", reversed_on=date(2026, 11, 27))
    # Every late payment taken back: nothing paid since the decision, overdue again.
    assert s.status(date(2026, 11, 28)) is SettlementStatus.OVERDUE
    assert verify_transactions(journal_of(s)) == []


def test_opening_journal_balances_and_books_receivables() -> None:
    s = opened_settlement()
    journal = journal_of(s)
    assert verify_transactions(journal) == []
    balances = account_balances(journal)
    assert balances[Account.PAYER_RECEIVABLE] == 70_000
    assert balances[Account.PATIENT_RESPONSIBILITY] == 10_000
    assert balances[Account.PROVIDER_CASH] == 40_000
    assert balances[Account.SETTLEMENT_REVENUE] == -120_000


def test_rejects_cost_sharing_above_award() -> None:
    with pytest.raises(InvalidArgument):
        opened_settlement(agreed=1_000, cost_sharing=2_000)


def test_payment_then_variance_underpaid_then_paid_in_full() -> None:
    s = opened_settlement()
    s.collect_events()
    s.post_payment(
        ctx(), payment_id="p1", amount_cents=50_000, method="eft", reference="EFT1",
        paid_on=date(2026, 10, 20),
    )  # fmt: skip
    s.assess_variance(ctx())
    events = s.collect_events()
    assert [type(e).__name__ for e in events] == ["PaymentPosted", "SettlementUnderpaid"]
    assert events[1].shortfall_cents == 20_000  # type: ignore[attr-defined]
    s.post_payment(
        ctx(), payment_id="p2", amount_cents=20_000, method="check", reference="CHK9",
        paid_on=date(2026, 10, 21),
    )  # fmt: skip
    s.assess_variance(ctx())
    assert event_names(s) == ["PaymentPosted", "SettlementPaidInFull"]
    assert s.status(date(2026, 12, 1)) is SettlementStatus.PAID


def test_overpayment_records_overpaid_variance() -> None:
    s = opened_settlement()
    s.collect_events()
    s.post_payment(
        ctx(), payment_id="p1", amount_cents=75_000, method="eft", reference="E",
        paid_on=date(2026, 10, 20),
    )  # fmt: skip
    s.assess_variance(ctx())
    events = s.collect_events()
    assert type(events[-1]).__name__ == "SettlementOverpaid"
    assert events[-1].excess_cents == 5_000  # type: ignore[attr-defined]
    assert s.status(date(2026, 10, 21)) is SettlementStatus.OVERPAID


def test_variance_is_not_repeated_when_nothing_changed() -> None:
    s = opened_settlement()
    s.assess_variance(ctx())
    s.collect_events()
    s.assess_variance(ctx())
    assert s.collect_events() == []


def test_retried_payment_request_posts_once() -> None:
    s = opened_settlement()
    retry = ctx(request_id="same-request")
    for _ in range(2):
        s.post_payment(
            retry, payment_id="p1", amount_cents=100, method="check", reference="C1",
            paid_on=date(2026, 10, 20),
        )  # fmt: skip
    assert event_names(s).count("PaymentPosted") == 1


def test_reversal_is_an_exact_reversing_entry() -> None:
    s = opened_settlement(already_paid=40_000)
    s.reverse_payment(
        ctx(), payment_id=INITIAL_PAYMENT_ID, reason="CLP02 22", reversed_on=date(2026, 11, 2)
    )
    journal = journal_of(s)
    assert verify_transactions(journal) == []
    reversal = journal[-1]
    assert reversal.reverses.endswith("/initial")
    assert s.paid_cents == 0
    assert s.outstanding_cents == 110_000


def test_reversing_an_unknown_payment_is_not_found() -> None:
    s = opened_settlement()
    with pytest.raises(NotFound):
        s.reverse_payment(ctx(), payment_id="nope", reason="x", reversed_on=date(2026, 11, 2))


def test_reversing_twice_is_refused() -> None:
    s = opened_settlement()
    s.reverse_payment(
        ctx(), payment_id=INITIAL_PAYMENT_ID, reason="x", reversed_on=date(2026, 11, 2)
    )
    with pytest.raises(FailedPrecondition):
        s.reverse_payment(
            ctx(), payment_id=INITIAL_PAYMENT_ID, reason="x", reversed_on=date(2026, 11, 2)
        )


def test_reversible_payment_found_by_icn_and_amount() -> None:
    s = opened_settlement(already_paid=40_000, icn="ICN-1")
    assert s.find_reversible_payment("ICN-1", 40_000) is not None
    assert s.find_reversible_payment("ICN-1", 39_999) is None
    assert s.find_reversible_payment("OTHER", 40_000) is None


def test_recoupment_and_interest_postings() -> None:
    s = opened_settlement(already_paid=40_000)
    s.post_recoupment(
        ctx(), recoupment_id="r1", amount_cents=1_000, reference="ICN-1",
        posted_on=date(2026, 11, 2),
    )  # fmt: skip
    s.post_interest(
        ctx(), interest_id="i1", amount_cents=123, reference="ICN-1", posted_on=date(2026, 11, 2)
    )
    balances = account_balances(journal_of(s))
    assert balances[Account.PROVIDER_CASH] == 40_000 - 1_000 + 123
    assert balances[Account.INTEREST_INCOME] == -123
    assert s.paid_cents == 39_000  # interest is not a payment toward the award
    assert s.outstanding_cents == 71_000


def test_non_positive_manual_payment_is_invalid() -> None:
    s = opened_settlement()
    with pytest.raises(InvalidArgument):
        s.post_payment(
            ctx(), payment_id="p", amount_cents=0, method="check", reference="",
            paid_on=date(2026, 10, 1),
        )  # fmt: skip


def test_overdue_is_flagged_once_after_due_date() -> None:
    s = opened_settlement()
    s.collect_events()
    assert not s.flag_overdue(ctx(), date(2026, 10, 31))  # due date itself is not late
    assert s.flag_overdue(ctx(), date(2026, 11, 1))
    assert not s.flag_overdue(ctx(), date(2026, 11, 2))
    assert event_names(s) == ["SettlementOverdue"]


def test_balance_billing_guard_refuses_more_than_cost_sharing() -> None:
    s = opened_settlement(cost_sharing=10_000, nsa_protected=True)
    with pytest.raises(FailedPrecondition, match=r"149\.410"):
        s.record_patient_responsibility(ctx(), 10_001)
    s.collect_events()
    s.record_patient_responsibility(ctx(), 8_000)
    events = s.collect_events()
    assert [type(e).__name__ for e in events] == ["PatientResponsibilityRecorded"]


def test_unprotected_claim_may_carry_a_larger_patient_balance() -> None:
    s = opened_settlement(cost_sharing=10_000, nsa_protected=False)
    s.record_patient_responsibility(ctx(), 25_000)
    assert s.patient_balance_cents == 25_000
    assert verify_transactions(journal_of(s)) == []


def test_command_from_another_tenant_is_refused() -> None:
    s = opened_settlement(tenant="tenant-a")
    with pytest.raises(PermissionError):
        s.post_payment(
            ctx("tenant-b"), payment_id="p", amount_cents=1, method="check", reference="",
            paid_on=date(2026, 10, 1),
        )  # fmt: skip


def test_fee_lines_and_credit_memos_post_once_and_balance() -> None:
    s = opened_settlement()
    s.collect_events()
    s.post_fee(ctx(), fee_line_id="L1", kind="INVOICE_LINE", amount_cents=3_000,
               remittance_trn="EFT1")  # fmt: skip
    s.post_fee(ctx(), fee_line_id="L1", kind="INVOICE_LINE", amount_cents=3_000,
               remittance_trn="EFT1")  # fmt: skip
    s.post_fee(ctx(), fee_line_id="L2", kind="CREDIT_MEMO", amount_cents=-1_000,
               remittance_trn="EFT2")  # fmt: skip
    journal = journal_of(s)
    assert len(journal) == 2
    assert verify_transactions(journal) == []
    balances = account_balances(journal)
    assert balances[Account.FEE_EXPENSE] == 2_000
    assert balances[Account.FEE_PAYABLE] == -2_000


def test_negotiations_due_date_and_amount_owed_are_kept_as_stated() -> None:
    s = opened_settlement(agreed=120_000, cost_sharing=10_000, already_paid=40_000)
    assert (s.due_date, s.amount_owed_cents) == (date(2026, 10, 31), 70_000)
    (opened,) = s.collect_events()
    assert isinstance(opened, Settlement.SettlementOpened)
    assert (opened.due_date, opened.amount_owed_cents) == (date(2026, 10, 31), 70_000)


def test_a_settlement_opened_before_the_amount_owed_travelled_is_upcast() -> None:
    state = {"agreed_total_cents": 120_000, "patient_cost_sharing_cents": 10_000,
             "already_paid_cents": 40_000}  # fmt: skip
    Settlement.SettlementOpened.upcast_v1_v2(state)
    assert state["amount_owed_cents"] == 70_000
