"""How upstream events' payloads become fee facts (pure: envelopes built in memory)."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime

import pytest

from oonledger.claims.v1.events_pb2 import ClaimRegistered
from services.common.consumer import Delivery, PermanentFailure
from services.common.settings import Settings
from services.common.wire import decode_payload
from services.fees.adapters.subscriptions import FeeReactions, _claim_id, _primary_service_code
from services.fees.domain.assessment import PaymentKind
from services.fees.tests.upstream import UpstreamPublisher

SETTINGS = Settings(service="fees", database_url="unused", nats_url="unused")


def delivery(event_type: str, payload: dict, claim_id: str = "claim-1",
             service: str = "settlement") -> Delivery:
    publisher = UpstreamPublisher(js=None, settings=SETTINGS, tenant_id="t1")  # type: ignore[arg-type]
    envelope = publisher.envelope(service, event_type, claim_id, payload,
                                  occurred=datetime(2026, 4, 7, 15, tzinfo=UTC))
    return Delivery(envelope, decode_payload(envelope), datetime.now(UTC))


def test_payment_posted_is_cash_in_on_its_paid_date_with_its_trace() -> None:
    fact = FeeReactions.payment_fact(delivery("PaymentPosted", {
        "payment_id": "pay-1", "amount_cents": 12_345, "paid_on": "2026-04-01",
        "reference": "EFT-9", "remittance_id": "era-1"}))
    assert fact is not None
    assert (fact.kind, fact.amount_cents, fact.posting_date, fact.remittance_trn) == (
        PaymentKind.PAYMENT, 12_345, dt.date(2026, 4, 1), "EFT-9")


def test_reversal_and_recoupment_amounts_become_negative() -> None:
    reversal = FeeReactions.payment_fact(delivery("PaymentReversed", {
        "payment_id": "pay-1", "amount_cents": 500, "remittance_id": "era-2", "reference": "",
        "reversed_on": "2026-04-06"}))
    recoupment = FeeReactions.payment_fact(delivery("RecoupmentPosted", {
        "recoupment_id": "wo-1", "amount_cents": 700, "posted_on": "2026-04-03",
        "reference": "WO-1"}))
    assert reversal is not None and recoupment is not None
    # A reversal without a TRN is traced by its remittance id.
    assert (reversal.amount_cents, reversal.posting_date, reversal.remittance_trn) == (
        -500, dt.date(2026, 4, 6), "era-2")
    assert (recoupment.kind, recoupment.amount_cents) == (PaymentKind.RECOUPMENT, -700)


def test_interest_is_kept_apart_from_cash() -> None:
    fact = FeeReactions.payment_fact(delivery("InterestPosted", {
        "interest_id": "int-1", "amount_cents": 250, "posted_on": "2026-04-02",
        "reference": "L6"}))
    assert fact is not None
    assert (fact.kind, fact.amount_cents, fact.interest_cents) == (PaymentKind.INTEREST, 0, 250)


def test_other_settlement_events_are_not_payments() -> None:
    assert FeeReactions.payment_fact(delivery("SettlementPaidInFull", {})) is None


def test_an_event_without_a_claim_cannot_be_processed() -> None:
    with pytest.raises(PermanentFailure):
        _claim_id(delivery("PaymentPosted", {"payment_id": "p", "amount_cents": 1,
                                              "paid_on": "2026-04-01"}, claim_id=""))
    assert _claim_id(delivery("IdrClosed", {"claim_id": "from-payload"}, claim_id="",
                              service="negotiation")) == "from-payload"


def test_primary_service_code_is_the_highest_billed_line() -> None:
    claim = ClaimRegistered.Claim(lines=[
        ClaimRegistered.ServiceLine(procedure_code="99284", billed_cents=100),
        ClaimRegistered.ServiceLine(procedure_code="99285", billed_cents=900)])
    assert _primary_service_code(claim) == "99285"
    assert _primary_service_code(ClaimRegistered.Claim()) == ""


def test_events_the_service_does_not_handle_are_ignored_not_failed() -> None:
    reactions = FeeReactions(app=None)  # type: ignore[arg-type]  # never reached: ignored first
    imported = {"file_id": "file-1", "trace_number": "EFT-1"}
    assert reactions.react(delivery("RemittanceImported", imported, claim_id="")) is False
    assert reactions.react(delivery("SettlementPaidInFull", {}, claim_id="c")) is False
