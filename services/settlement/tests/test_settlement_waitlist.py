"""The payments waiting for a claim's settlement, posted when it opens (pure: in memory)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, UUIDAsHex

from services.common.eventstore import DateAsISO
from services.common.money import MAX_AMOUNT_CENTS
from services.settlement.domain import (
    NO_SETTLEMENT,
    RESOLVED_BY_HAND,
    RESOLVED_ON_SETTLEMENT_OPENING,
    Account,
    ClaimIndex,
    ClaimReference,
    JournalTransaction,
    PaymentException,
    Remittance,
    Settlement,
    SettlementWaitlist,
    UnmatchedClaimPayment,
    account_balances,
    match_remittance,
    post_remittance,
    post_waiting,
    waitlist_id_for,
)

from .builders import ctx, opened_settlement
from .test_line_posting import CLAIM_LINES, _post, _remittance, _v1_round_trip

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
    assert post_waiting(ctx(), settlement, [item]).attached == [item]
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
    assert post_waiting(ctx(), settlement, [item]).attached == []
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
    assert post_waiting(ctx(), settlement, items).attached == []
    assert settlement.paid_cents == 0
    assert by_hand.resolution_cause == RESOLVED_BY_HAND
    assert not any(i.resolved_claim_id for i in (unknown, reversal, elsewhere, theirs))


def test_a_zero_payment_is_attached_without_a_payment() -> None:
    settlement = opened_settlement(already_paid=0)
    denial = _queued(replace(WAITING, status_code="4", paid_cents=0))
    assert post_waiting(ctx(), settlement, [denial]).attached == [denial]
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


def test_the_svcs_of_a_waiting_item_are_matched_as_the_import_matches_them() -> None:
    """Rule 5 on the automatic posting: the item kept its SVCs; the payment carries the same
    line matches, and queues the same line items, as the import posting on an open settlement."""
    _, normal, _, normal_events = _post()
    (normal_payment,) = [e for e in normal_events if isinstance(e, Settlement.PaymentPosted)]
    index = ClaimIndex.build(
        [ClaimReference("claim-1", "PCN-7", frozenset({"ICN-1"}), lines=CLAIM_LINES,
                        adjudicated=True)]
    )  # fmt: skip
    remittance = _remittance()
    outcome = post_remittance(ctx(), remittance, str(UUID(int=9)), index,
                              match_remittance(remittance, index), {})  # fmt: skip
    (waiting,) = outcome.exceptions
    assert (waiting.reason, waiting.candidate_claim_id) == (NO_SETTLEMENT, "claim-1")
    item = UnmatchedClaimPayment.queue(ctx(), remittance_id=UUID(int=9), remittance=remittance,
                                       item=waiting)  # fmt: skip
    item = _reloaded(item)
    settlement = opened_settlement(agreed=300_000, already_paid=0)
    settlement.collect_events()
    done = post_waiting(ctx(), settlement, [item], CLAIM_LINES)
    (posted,) = [e for e in settlement.collect_events()
                 if isinstance(e, Settlement.PaymentPosted)]  # fmt: skip
    assert posted.line_matches == normal_payment.line_matches
    assert [(i.line_ordinal, i.outcome, i.claim_id) for i in done.line_items] == [
        (e.line.svc, e.line.outcome, e.claim_id) for e in normal.line_exceptions]
    # Settlement knows no lines for the claim: each SVC recorded unmatched, nothing queued.
    bare = opened_settlement(agreed=300_000, already_paid=0)
    again = UnmatchedClaimPayment.queue(ctx(), remittance_id=UUID(int=9), remittance=remittance,
                                        item=waiting)  # fmt: skip
    assert post_waiting(ctx(), bare, [again]).line_items == []
    (bare_posted,) = [e for e in bare.collect_events() if isinstance(e, Settlement.PaymentPosted)]
    assert {m["outcome"] for m in bare_posted.line_matches} == {"unmatched"}


def _reloaded(item: UnmatchedClaimPayment) -> UnmatchedClaimPayment:
    """The item rebuilt from its stored event (JSON), as the reaction loads it."""
    (queued,) = item.collect_events()
    stored = _stored(queued)
    rebuilt = stored.mutate(None)
    assert isinstance(rebuilt, UnmatchedClaimPayment)
    return rebuilt


def _stored(event: Any) -> Any:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    mapper: Mapper[UUID] = Mapper(transcoder=transcoder)
    return mapper.to_domain_event(mapper.to_stored_event(event))


def test_queued_items_recorded_before_they_kept_svcs_read_with_none() -> None:
    (queued,) = _queued_events()
    old = _v1_round_trip(queued, "service_lines")
    assert isinstance(old, UnmatchedClaimPayment.UnmatchedClaimPaymentQueued)
    assert (old.service_lines, old.statement_from, old.statement_to) == ([], None, None)


def _queued_events() -> list[Any]:
    item = UnmatchedClaimPayment.queue(ctx(), remittance_id=FIRST_REMITTANCE,
                                       remittance=REMITTANCE, item=WAITING)  # fmt: skip
    return list(item.collect_events())


def test_a_refused_posting_is_recorded_on_the_item_once_and_the_others_still_post() -> None:
    """A business rule refuses one item's payment (an amount the settlement cannot take): the
    item records why (`AutomaticPostingRefused`), stays queued for a person, nothing of it
    reaches the settlement, and the next item posts. Recorded once: a redelivery that is
    refused for the same reason records nothing more."""
    settlement = opened_settlement(already_paid=0)
    too_much = _queued(replace(WAITING, paid_cents=MAX_AMOUNT_CENTS + 1), remittance=UUID(int=7))
    fine = _queued(remittance=UUID(int=8))
    done = post_waiting(ctx(), settlement, [too_much, fine])
    assert done.attached == [fine] and done.refused == [too_much]
    assert settlement.paid_cents == 25_000 and list(settlement.payments) == [
        f"{UUID(int=8)}:clp3"]
    assert not too_much.resolved_claim_id
    assert too_much.awaits_settlement_of("claim-1")  # still open, for a person
    assert too_much.refusal_claim_id == "claim-1"
    assert "cents" in too_much.refusal_reason
    assert too_much.refused_at
    (refused,) = too_much.collect_events()
    assert isinstance(refused, UnmatchedClaimPayment.AutomaticPostingRefused)
    assert refused.reason == too_much.refusal_reason and refused.claim_id == "claim-1"
    settlement.collect_events()
    # Again (a redelivered opening, a later listing): refused again, recorded no more.
    again = post_waiting(ctx(), settlement, [too_much])
    assert again.attached == [] and again.refused == []
    assert not too_much.collect_events() and not settlement.collect_events()


def test_a_queued_reversal_reverses_the_payment_it_names_out_of_unapplied_cash() -> None:
    """The initial payment (ICN-2, 25,000) reversed by a CLP02 22 that waited for the settlement:
    reversed when it opens, the money taken from the unapplied cash the reversal was queued
    into (the import moved -25,000 there), the item attached."""
    settlement = opened_settlement(already_paid=25_000, icn="ICN-2")
    reversal = _queued(replace(WAITING, status_code="22", paid_cents=-25_000))
    assert post_waiting(ctx(), settlement, [reversal]).attached == [reversal]
    assert reversal.resolution_cause == RESOLVED_ON_SETTLEMENT_OPENING
    (initial,) = settlement.payments.values()
    assert initial.reversed and settlement.paid_cents == 0
    events = settlement.collect_events()
    (reversed_,) = [e for e in events if isinstance(e, Settlement.PaymentReversed)]
    assert reversed_.remittance_id == reversal.remittance_id
    assert reversed_.reference == "EFT-9"
    journal = [JournalTransaction.from_dict(t) for e in events
               for t in getattr(e, "journal", [])]  # fmt: skip
    balances = account_balances(journal)
    assert balances[Account.UNAPPLIED_CASH] == -25_000  # the import's Dr -25,000 is undone
    assert balances[Account.PROVIDER_CASH] == 25_000  # the initial payment: the import took it
    # Again (a redelivered opening): nothing more.
    assert post_waiting(ctx(), settlement, [reversal]).attached == []
    assert not settlement.collect_events()


def test_a_reversal_naming_no_payment_and_a_negative_outside_a_reversal_stay_for_a_person(
) -> None:
    settlement = opened_settlement(already_paid=0)
    settlement.collect_events()
    reversal = _queued(replace(WAITING, status_code="22", paid_cents=-25_000),
                       remittance=UUID(int=7))  # fmt: skip
    negative = _queued(replace(WAITING, status_code="1", paid_cents=-5_000),
                       remittance=UUID(int=8))  # fmt: skip
    done = post_waiting(ctx(), settlement, [reversal, negative])
    assert done.attached == [] and done.refused == [reversal, negative]
    assert "names no unreversed payment" in reversal.refusal_reason
    assert "outside a reversal" in negative.refusal_reason
    assert not reversal.resolved_claim_id and not negative.resolved_claim_id
    assert not settlement.collect_events()
    # Refused again (a redelivery): recorded once.
    assert post_waiting(ctx(), settlement, [reversal, negative]).refused == []
