"""Issue 22 items 2 and 4 through the gateway: negotiation opens only when triage says the claim
is worth negotiating, a claim negotiation refuses shows in the claims work queue with the reason,
an upheld coverage denial opens no negotiation, and a partial overturn's payment reaches the
negotiation that opens afterwards."""

from __future__ import annotations

import pytest

from oonledger.claims.v1 import claims_pb2 as pb
from oonledger.negotiation.v1 import negotiation_pb2 as npb
from tests.e2e.journey import Vendor, rid
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def adjudicate(vendor: Vendor, claim_id: str, **fields: object) -> None:
    await vendor.claims.RecordAdjudication(pb.RecordAdjudicationRequest(
        request_id=rid(), claim_id=claim_id, adjudication=pb.Adjudication(
            received_date="2026-10-30", billed_cents=249_000,
            payer_claim_control_number=rid()[:12], **fields)),
        metadata=vendor.md("negotiator"), timeout=15)


async def triage(vendor: Vendor, claim_id: str) -> pb.Triage:
    reply = await vendor.claims.TriageClaim(
        pb.TriageClaimRequest(request_id=rid(), claim_id=claim_id),
        metadata=vendor.md("negotiator"), timeout=15)
    return reply.triage


async def appeal(vendor: Vendor, claim_id: str, outcome: int, paid: int = 0) -> None:
    filed = await vendor.claims.FileAppeal(pb.FileAppealRequest(
        request_id=rid(), claim_id=claim_id, level=pb.APPEAL_LEVEL_FIRST_INTERNAL,
        grounds="prudent layperson standard met", channel=pb.APPEAL_CHANNEL_PORTAL),
        metadata=vendor.md("negotiator"), timeout=15)
    await vendor.claims.RecordAppealDecision(pb.RecordAppealDecisionRequest(
        request_id=rid(), claim_id=claim_id, appeal_id=filed.appeal.appeal_id, outcome=outcome,
        decision_date=filed.appeal.filed_date, additional_paid_cents=paid),
        metadata=vendor.md("negotiator"), timeout=15)


async def negotiation_claims(vendor: Vendor) -> set[str]:
    reply = await vendor.negotiation.ListWorkQueue(
        npb.ListWorkQueueRequest(page_size=500), metadata=vendor.md("negotiator"), timeout=15)
    return {item.claim_id for item in reply.items}


PAID_BELOW_QPA = dict(allowed_cents=60_000, paid_cents=45_000, patient_responsibility_cents=15_000,
                      carc_codes=["45"])
COVERAGE_DENIAL = dict(denied=True, carc_codes=["50"], qpa_cents=52_000, qpa_disclosed=True)


async def test_a_claim_negotiation_refuses_shows_in_the_claims_queue_with_the_reason(
        stack, channel):
    stack.require("claims", "negotiation")
    vendor = await Vendor.enrol(stack, channel)
    [(claim_id, _)] = await vendor.import_claims(1)
    await adjudicate(vendor, claim_id, **PAID_BELOW_QPA)  # no QPA stated
    assert (await triage(vendor, claim_id)).worth_negotiating

    async def refused() -> pb.WorkItem | None:
        reply = await vendor.claims.ClaimsWorkQueue(
            pb.ClaimsWorkQueueRequest(), metadata=vendor.md("negotiator"), timeout=15)
        return next((i for i in reply.items if i.claim_id == claim_id
                     and i.kind == pb.WORK_ITEM_KIND_NEGOTIATION_REFUSED), None)

    item = await eventually(refused, timeout=60)
    assert "qpa_cents" in item.detail
    assert "45 CFR 149.510" in item.due_rule and item.due_date  # the window still runs
    got = await vendor.claims.GetClaim(pb.GetClaimRequest(claim_id=claim_id),
                                       metadata=vendor.md("negotiator"), timeout=15)
    assert "qpa_cents" in got.claim.negotiation_refusal
    assert claim_id not in await negotiation_claims(vendor)


async def test_an_upheld_coverage_denial_opens_no_negotiation_and_a_partial_overturn_opens_one_with_what_was_paid(  # noqa: E501
        stack, channel):
    stack.require("claims", "negotiation")
    vendor = await Vendor.enrol(stack, channel)
    (coverage, _), (partial, _), (sentinel, _) = await vendor.import_claims(3)
    for claim_id in (coverage, partial):
        await adjudicate(vendor, claim_id, **COVERAGE_DENIAL)
        decided = await triage(vendor, claim_id)
        # Routed to federal IDR, yet not worth negotiating: a coverage dispute is appealed.
        assert decided.route == pb.ROUTE_FEDERAL_IDR and not decided.worth_negotiating
    await appeal(vendor, coverage, pb.APPEAL_OUTCOME_UPHELD)
    await appeal(vendor, partial, pb.APPEAL_OUTCOME_PARTIALLY_OVERTURNED, paid=30_000)
    # A claim triaged after both: once its negotiation is open, the others were processed.
    await adjudicate(vendor, sentinel, qpa_cents=52_000, qpa_disclosed=True, **PAID_BELOW_QPA)
    await triage(vendor, sentinel)
    await vendor.negotiation_of(sentinel)
    nid = await vendor.negotiation_of(partial)
    case = (await vendor.negotiation.GetNegotiation(
        npb.GetNegotiationRequest(negotiation_id=nid), metadata=vendor.md("negotiator"),
        timeout=15)).negotiation
    assert (case.already_paid_cents, case.qpa_cents) == (30_000, 52_000)
    assert coverage not in await negotiation_claims(vendor)
    got = await vendor.claims.GetClaim(pb.GetClaimRequest(claim_id=partial),
                                       metadata=vendor.md("negotiator"), timeout=15)
    assert got.claim.paid_cents == 30_000
