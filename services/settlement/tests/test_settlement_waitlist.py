"""The payments waiting for a claim's settlement, posted when it opens (pure: in memory)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from uuid import UUID

from services.settlement.domain import (
    NO_SETTLEMENT,
    RESOLVED_BY_HAND,
    RESOLVED_ON_SETTLEMENT_OPENING,
    Account,
    JournalTransaction,
    PaymentException,
    Remittance,
    SettlementWaitlist,
    UnmatchedClaimPayment,
    account_balances,
    post_waiting,
    waitlist_id_for,
)

from .builders import ctx, opened_settlement
from .test_line_posting import _v1_round_trip

REMITTANCE = Remittance(
    control_number="0001", handling_code="I", total_paid_cents=0, credit_debit="C",
    payment_method="ACH", payment_date=date(2026, 11, 2), trace_number="EFT-9",
    payer_identifier="1877261234", payer_id="87726",
)  # fmt: skip
WAITING = PaymentException(
    ordinal=3, patient_control_number="PCN-1", payer_claim_control_number="ICN-2",
    status_code="1", charge_cents=80_000, paid_cents=25_000, patient_responsibility_cents=0,
    first_service_date=date(2026, 8, 14), reason=NO_SETTLEMENT, candidate_claim_id="claim-1",
)  # fmt: skip


FIRST_REMITTANCE = UUID(int=1)


def _queued(exception: PaymentException = WAITING, tenant: str = "tenant-a",
            remittance: UUID = FIRST_REMITTANCE) -> UnmatchedClaimPayment:  # fmt: skip
    item = UnmatchedClaimPayment.queue(ctx(tenant), remittance_id=remittance,
                                       remittance=REMITTANCE, item=exception)  # fmt: skip
    item.collect_events()
    return item


def test_an_item_waiting_for_the_settlement_posts_once_from_unapplied_cash() -> None:
    settlement = opened_settlement(already_paid=0)
    item = _queued()
    assert post_waiting(ctx(), settlement, [item]) == [item]
    assert (item.resolved_claim_id, item.resolution_cause) == ("claim-1",
                                                               RESOLVED_ON_SETTLEMENT_OPENING)
    payment = settlement.payments[f"{UUID(int=1)}:clp3"]
    assert payment.amount_cents == 25_000
    assert settlement.paid_cents == 25_000
    journal = [JournalTransaction.from_dict(t) for e in settlement.collect_events()
               for t in getattr(e, "journal", [])]  # fmt: skip
    balances = account_balances(journal)
    assert balances[Account.UNAPPLIED_CASH] == 25_000  # the import's Cr 25,000 is undone
    # Again (a redelivered opening): nothing more.
    assert post_waiting(ctx(), settlement, [item]) == []
    assert settlement.paid_cents == 25_000 and not settlement.collect_events()


def test_resolved_by_hand_other_reasons_reversals_and_other_claims_stay_as_they_are() -> None:
    settlement = opened_settlement(already_paid=0)
    by_hand = _queued(remittance=UUID(int=2))
    by_hand.resolve(ctx(), "claim-9")
    unknown = _queued(replace(WAITING, reason="no claim matches", candidate_claim_id=""),
                      remittance=UUID(int=3))  # fmt: skip
    reversal = _queued(replace(WAITING, status_code="22", paid_cents=-25_000),
                       remittance=UUID(int=4))  # fmt: skip
    elsewhere = _queued(replace(WAITING, candidate_claim_id="claim-2"), remittance=UUID(int=5))
    theirs = _queued(tenant="tenant-b", remittance=UUID(int=6))
    items = [by_hand, unknown, reversal, elsewhere, theirs]
    assert post_waiting(ctx(), settlement, items) == []
    assert settlement.paid_cents == 0
    assert by_hand.resolution_cause == RESOLVED_BY_HAND
    assert not any(i.resolved_claim_id for i in (unknown, reversal, elsewhere, theirs))


def test_a_zero_payment_is_attached_without_a_payment() -> None:
    settlement = opened_settlement(already_paid=0)
    denial = _queued(replace(WAITING, status_code="4", paid_cents=0))
    assert post_waiting(ctx(), settlement, [denial]) == [denial]
    assert settlement.payments == {} and denial.resolved_claim_id == "claim-1"


def test_the_waitlist_lists_each_item_once_per_tenant_and_claim() -> None:
    waitlist = SettlementWaitlist.start(ctx(), "claim-1")
    item = _queued()
    assert waitlist.add(ctx(), item) is True
    assert waitlist.add(ctx(), item) is False
    assert waitlist.exception_ids == [str(item.id)]
    assert waitlist.id == waitlist_id_for("tenant-a", "claim-1")
    assert waitlist_id_for("tenant-b", "claim-1") != waitlist.id


def test_resolutions_recorded_before_the_cause_existed_read_as_by_hand() -> None:
    item = _queued()
    item.resolve(ctx(), "claim-1")
    (resolved,) = item.collect_events()
    old = _v1_round_trip(resolved, "cause")
    assert isinstance(old, UnmatchedClaimPayment.UnmatchedClaimPaymentResolved)
    assert old.cause == RESOLVED_BY_HAND
