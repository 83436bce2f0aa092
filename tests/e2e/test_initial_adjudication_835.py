"""The payer's initial 835 of a claim records the claim's initial adjudication (issue 15 item 5),
through the gateway only: settlement reads the 835, claims records the adjudication, and
negotiation's clocks start from the day the payment (or denial) was received. Later 835s for the
claim post as before: with no settlement open, to the exceptions queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from oonledger.claims.v1 import claims_pb2
from oonledger.negotiation.v1 import negotiation_pb2 as npb
from oonledger.settlement.v1 import settlement_pb2
from services.x12.writer_835 import ClaimSpec, RemittanceSpec, build_835
from tests.e2e.journey import Vendor, rid
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVICE_DATE = date(2026, 10, 3)
BILLED = 249_000


async def intake(vendor: Vendor) -> tuple[str, str]:
    """One claim imported as a practice-management system sends it: (claim id, PCN)."""
    (claim_id, pcn), *_ = await vendor.import_claims(1)
    return claim_id, pcn


async def remit(vendor: Vendor, pcn: str, *, paid: int, patient: int, on: date,
                status: str = "1") -> ClaimSpec:
    """The payer's 835 for one claim (CO-45 write-down, PR-2 cost sharing), imported by finance.

    A real 835 names a claim days after its intake; here it follows at once, and settlement
    learns the claim from the claims stream a moment later. An 835 that arrived first matched
    no claim (an exception naming none, left in the queue): the payer's next file is sent."""
    for _ in range(60):
        claim = ClaimSpec(patient_control_number=pcn, charge_cents=BILLED, paid_cents=paid,
                          patient_responsibility_cents=patient, service_date=SERVICE_DATE,
                          status_code=status, payer_claim_control_number=f"ICN{rid()[:10]}")
        trace = rid()[:15]
        x12 = build_835(RemittanceSpec(trace_number=trace, payment_date=on, claims=(claim,)))
        reply = await vendor.settlement.ImportRemittance(settlement_pb2.ImportRemittanceRequest(
            request_id=rid(), content=x12.encode(), file_name=f"{pcn}.835"),
            metadata=vendor.md("finance"), timeout=30)
        assert reply.status == settlement_pb2.IMPORT_STATUS_POSTED, reply
        if reply.remittances[0].exception_count == 0:
            return claim
        (item,) = await queued(vendor, lambda e, t=trace: e.trace_number == t)
        if item.candidate_claim_id:
            return claim  # matched the claim, queued for another reason
        await asyncio.sleep(0.5)
    raise AssertionError(f"settlement never learnt the claim of {pcn}")


async def claim_of(vendor: Vendor, claim_id: str) -> claims_pb2.Claim:
    reply = await vendor.claims.GetClaim(claims_pb2.GetClaimRequest(claim_id=claim_id),
                                         metadata=vendor.md("negotiator"), timeout=15)
    return reply.claim


async def adjudicated(vendor: Vendor, claim_id: str) -> claims_pb2.Adjudication:
    async def recorded() -> claims_pb2.Adjudication | None:
        claim = await claim_of(vendor, claim_id)
        return claim.adjudication if claim.HasField("adjudication") else None

    return await eventually(recorded, timeout=30)  # type: ignore[arg-type]


async def exceptions_for(vendor: Vendor, claim_id: str) -> list[Any]:
    """The exceptions-queue items of CLPs that matched the claim."""
    reply = await vendor.settlement.ListExceptions(
        settlement_pb2.ListExceptionsRequest(page_size=500), metadata=vendor.md("finance"),
        timeout=15)
    return [e for e in reply.exceptions if e.candidate_claim_id == claim_id]


async def queued(vendor: Vendor, wanted: Callable[[Any], bool]) -> list[Any]:
    async def found() -> list[Any] | None:
        reply = await vendor.settlement.ListExceptions(
            settlement_pb2.ListExceptionsRequest(page_size=500), metadata=vendor.md("finance"),
            timeout=15)
        return [e for e in reply.exceptions if wanted(e)] or None

    return await eventually(found, timeout=30)  # type: ignore[arg-type]


async def test_initial_payment_records_the_adjudication_and_starts_the_clock(stack, channel):
    stack.require("claims", "negotiation", "settlement")
    vendor = await Vendor.enrol(stack, channel)
    claim_id, pcn = await intake(vendor)

    paid = await remit(vendor, pcn, paid=45_000, patient=15_000, on=date(2026, 10, 30))

    adjudication = await adjudicated(vendor, claim_id)
    assert (adjudication.received_date, adjudication.billed_cents, adjudication.allowed_cents,
            adjudication.paid_cents, adjudication.patient_responsibility_cents,
            adjudication.payer_claim_control_number, list(adjudication.carc_codes),
            adjudication.denied) == (
        "2026-10-30", BILLED, 60_000, 45_000, 15_000, paid.payer_claim_control_number,
        ["45", "2"], False)
    assert (await claim_of(vendor, claim_id)).status == claims_pb2.CLAIM_STATUS_PAID
    # Not an exception: the payment is the claim's initial adjudication.
    assert await exceptions_for(vendor, claim_id) == []

    # The 835 carries no QPA and negotiation opens a case only with one (Negotiation.open): the
    # negotiator adds the QPA the payer disclosed with the payment to the adjudication as
    # recorded; triage then opens the negotiation, its open-negotiation clock (T1) anchored on
    # the day the 835's payment was received.
    with_qpa = claims_pb2.Adjudication()
    with_qpa.CopyFrom(adjudication)
    with_qpa.qpa_cents, with_qpa.qpa_disclosed = 52_000, True
    await vendor.claims.RecordAdjudication(claims_pb2.RecordAdjudicationRequest(
        request_id=rid(), claim_id=claim_id, adjudication=with_qpa),
        metadata=vendor.md("negotiator"), timeout=15)
    triage = (await vendor.claims.TriageClaim(
        claims_pb2.TriageClaimRequest(request_id=rid(), claim_id=claim_id),
        metadata=vendor.md("negotiator"), timeout=15)).triage
    assert triage.nsa_protected and triage.worth_negotiating, triage
    nid = await vendor.negotiation_of(claim_id)
    case = (await vendor.negotiation.GetNegotiation(
        npb.GetNegotiationRequest(negotiation_id=nid), metadata=vendor.md("negotiator"),
        timeout=15)).negotiation
    t1 = next(d for d in case.deadlines if d.code == "T1")
    assert t1.anchor_on == "2026-10-30", t1


async def test_initial_denial_records_a_denied_adjudication(stack, channel):
    stack.require("claims", "settlement")
    vendor = await Vendor.enrol(stack, channel)
    claim_id, pcn = await intake(vendor)

    await remit(vendor, pcn, paid=0, patient=0, on=date(2026, 11, 2), status="4")

    adjudication = await adjudicated(vendor, claim_id)
    assert (adjudication.received_date, adjudication.paid_cents, adjudication.allowed_cents,
            list(adjudication.carc_codes), adjudication.denied) == (
        "2026-11-02", 0, 0, ["45"], True)
    assert (await claim_of(vendor, claim_id)).status == claims_pb2.CLAIM_STATUS_DENIED
    assert await exceptions_for(vendor, claim_id) == []


async def test_a_second_835_before_any_settlement_records_no_second_adjudication(stack, channel):
    stack.require("claims", "settlement")
    vendor = await Vendor.enrol(stack, channel)
    claim_id, pcn = await intake(vendor)

    first = await remit(vendor, pcn, paid=45_000, patient=15_000, on=date(2026, 10, 30))
    initial = await adjudicated(vendor, claim_id)
    second = await remit(vendor, pcn, paid=20_000, patient=0, on=date(2026, 11, 5))

    (item,) = await queued(vendor, lambda e: e.candidate_claim_id == claim_id)
    assert item.reason == "no settlement is open for the matched claim"
    assert (item.candidate_claim_id, item.paid_cents) == (claim_id, 20_000)
    assert item.payer_claim_control_number == second.payer_claim_control_number
    claim = await claim_of(vendor, claim_id)
    assert claim.adjudication == initial
    assert claim.adjudication.payer_claim_control_number == first.payer_claim_control_number


async def test_an_835_after_a_manual_adjudication_leaves_it_as_recorded(stack, channel):
    stack.require("claims", "negotiation", "settlement")
    vendor = await Vendor.enrol(stack, channel)
    claim_id, pcn = await intake(vendor)
    await vendor.adjudicate_and_triage(claim_id)  # received 2026-10-30, paid $450
    manual = await adjudicated(vendor, claim_id)
    await vendor.negotiation_of(claim_id)  # the adjudication has travelled to the others

    await remit(vendor, pcn, paid=30_000, patient=15_000, on=date(2026, 11, 4))

    (item,) = await queued(vendor, lambda e: e.candidate_claim_id == claim_id)
    assert item.reason == "no settlement is open for the matched claim"
    assert item.candidate_claim_id == claim_id
    assert (await claim_of(vendor, claim_id)).adjudication == manual
