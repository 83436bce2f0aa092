"""Line-level federal IDR disputes over gRPC (issue 16, DOMAIN.md §1.3, §1.6, §1.8).

Two of a claim's lines in dispute: offers and determinations per line, what the plan owes per
line and per claim, the IDRE fee tier by line count, a split determination halving each IDRE
fee; and the bad input refused with FAILED_PRECONDITION citing the rule, nothing stored.
"""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest

from oonledger.negotiation.v1 import negotiation_pb2 as pb
from services.negotiation.application import negotiation_id_for
from services.negotiation.client import Client
from services.negotiation.tests.claims_events import publish_claim_events, triaged_claim_events
from services.negotiation.tests.test_service import get, opened_with_notice
from tests.support.plugin import eventually, field_violations

pytestmark = pytest.mark.asyncio(loop_scope="session")



IDRE_FEE = 50_000
LINES = (  # line number, QPA, patient cost sharing, already paid
    pb.IdrLine(line_number=1, qpa_cents=25_000, patient_cost_sharing_cents=3_000,
               already_paid_cents=20_000),
    pb.IdrLine(line_number=3, qpa_cents=15_000, patient_cost_sharing_cents=2_000,
               already_paid_cents=15_000),
)


async def approved_for_idr(client: Client, nid: str) -> None:
    await client.call("ProposeDecision", pb.ProposeDecisionRequest(
        negotiation_id=nid, decision_id="idr", action=pb.DECISION_ACTION_IDR))
    await client.as_roles("provider_approver").call(
        "ApproveDecision", pb.ApproveDecisionRequest(negotiation_id=nid, decision_id="idr"))


async def refused(client: Client, method: str, request: Any, code: grpc.StatusCode,
                  *phrases: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.call(method, request)
    assert caught.value.code() is code, caught.value.details()
    for phrase in phrases:
        assert phrase in (caught.value.details() or ""), caught.value.details()
    return caught.value


def offer(nid: str, party: int, *amounts: tuple[int, int], total: int = 0,
          on: str = "2026-08-03") -> pb.SubmitIdrOfferRequest:
    return pb.SubmitIdrOfferRequest(
        negotiation_id=nid, party=party, amount_cents=total, submitted_on=on,
        line_offers=[pb.IdrLineOffer(line_number=n, amount_cents=c) for n, c in amounts])


async def line_dispute(client: Client) -> str:
    """A claim whose lines 1 and 3 are in dispute, the IDRE selected and eligible."""
    nid = await opened_with_notice(client)
    await approved_for_idr(client, nid)
    error = await refused(client, "InitiateIdr", pb.InitiateIdrRequest(
        negotiation_id=nid, dispute_number="DISP-L", initiated_on="2026-07-17",
        initiating_party=pb.PARTY_PROVIDER,
        lines=[*LINES, pb.IdrLine(negotiation_id="someone-else", line_number=2,
                                  qpa_cents=1_000)]), grpc.StatusCode.INVALID_ARGUMENT)
    assert field_violations(error) == {"lines[2].negotiation_id"}
    assert (await get(client, nid)).status == "open"  # nothing stored
    await client.call("InitiateIdr", pb.InitiateIdrRequest(
        negotiation_id=nid, dispute_number="DISP-L", initiated_on="2026-07-17",
        initiating_party=pb.PARTY_PROVIDER, lines=LINES))
    # Two line items make a batched dispute: the batched range ($268-$1,173), not the single.
    error = await refused(client, "SelectIdre", pb.SelectIdreRequest(
        negotiation_id=nid, idre_id="idre-7", method=pb.SELECTION_METHOD_JOINT,
        selected_on="2026-07-22", idre_fee_cents=117_301), grpc.StatusCode.INVALID_ARGUMENT,
        "batched (2 line items)", "26800 and 117300")
    await client.call("SelectIdre", pb.SelectIdreRequest(
        negotiation_id=nid, idre_id="idre-7", method=pb.SELECTION_METHOD_JOINT,
        selected_on="2026-07-22", idre_fee_cents=IDRE_FEE))
    await client.call("RecordIdrEligibility", pb.RecordIdrEligibilityRequest(
        negotiation_id=nid, eligible=True, decided_on="2026-07-29"))
    return nid


async def test_two_lines_of_one_claim_offered_and_determined_per_line(client: Client) -> None:
    nid = await line_dispute(client)
    case = await get(client, nid)
    assert (case.idr.batched, case.idr.line_items) == (True, 2)
    assert [(line.line_number, line.qpa_cents) for line in case.idr.lines] == [
        (1, 25_000), (3, 15_000)]

    # A line not in the dispute, a line missing, a total that is not the lines' sum: refused.
    provider, payer = pb.PARTY_PROVIDER, pb.PARTY_PAYER
    await refused(client, "SubmitIdrOffer", offer(nid, provider, (1, 60_000), (2, 10_000),
                                                  (3, 30_000)),
                  grpc.StatusCode.FAILED_PRECONDITION, "DOMAIN §1.6",
                  "line(s) 2 are not in dispute DISP-L")
    await refused(client, "SubmitIdrOffer", offer(nid, provider, (1, 60_000)),
                  grpc.StatusCode.FAILED_PRECONDITION, "each disputed line once", "missing: 3")
    await refused(client, "SubmitIdrOffer", offer(nid, provider, (1, 60_000), (3, 30_000),
                                                  total=95_000),
                  grpc.StatusCode.FAILED_PRECONDITION, "not the sum of its lines (90000)")
    case = await get(client, nid)
    assert case.idr.provider_offer_cents == 0 and case.idr.lines[0].provider_offer_cents == 0

    await client.call("SubmitIdrOffer", offer(nid, provider, (1, 60_000), (3, 30_000)))
    await client.call("SubmitIdrOffer", offer(nid, payer, (1, 30_000), (3, 20_000),
                                              total=50_000, on="2026-08-04"))
    case = await get(client, nid)
    assert (case.idr.provider_offer_cents, case.idr.payer_offer_cents) == (90_000, 50_000)
    assert [(line.provider_offer_cents, line.payer_offer_cents) for line in case.idr.lines] == [
        (60_000, 30_000), (30_000, 20_000)]

    for party in (provider, payer):
        await client.call("RecordIdrFee", pb.RecordIdrFeeRequest(
            negotiation_id=nid, party=party, fee_kind=pb.IDR_FEE_KIND_IDRE,
            movement=pb.IDR_FEE_MOVEMENT_PAID, amount_cents=IDRE_FEE, occurred_on="2026-08-04",
            source=pb.IDR_FEE_SOURCE_PORTAL_RECEIPT, source_reference=f"R-{party}"))

    # Determined per line: a line outside the dispute is refused, nothing stored.
    def determination(*lines: tuple[int, int]) -> pb.RecordIdrDeterminationRequest:
        return pb.RecordIdrDeterminationRequest(
            negotiation_id=nid, determined_on="2026-09-01",
            lines=[pb.IdrLineDetermination(line_number=n, prevailing_party=p) for n, p in lines])

    await refused(client, "RecordIdrDetermination", determination((1, provider), (2, payer)),
                  grpc.StatusCode.FAILED_PRECONDITION, "line(s) 2 are not in dispute")
    await refused(client, "RecordIdrDetermination", determination((1, provider)),
                  grpc.StatusCode.FAILED_PRECONDITION, "names no prevailing party for line 3")
    assert (await get(client, nid)).status == "in_idr"
    await client.call("RecordIdrDetermination", determination((1, provider), (3, payer)))

    done = await get(client, nid)
    assert done.status == "determined"
    # Line 1: 60,000 - 3,000 - 20,000 = 37,000 owed; line 3: 20,000 - 2,000 - 15,000 = 3,000.
    assert [(line.prevailing_party, line.award_cents, line.amount_owed_cents)
            for line in done.idr.lines] == [("provider", 60_000, 37_000),
                                            ("payer", 20_000, 3_000)]
    assert (done.award_total_cents, done.idr.amount_owed_cents) == (80_000, 40_000)
    # One line each: a split determination, each party bears half its IDRE fee.
    assert done.idr.prevailing_party == "split"
    for party in (provider, payer):
        await refused(client, "RecordIdrFee", pb.RecordIdrFeeRequest(
            negotiation_id=nid, party=party, fee_kind=pb.IDR_FEE_KIND_IDRE,
            movement=pb.IDR_FEE_MOVEMENT_REFUNDED, amount_cents=IDRE_FEE // 2 + 1,
            occurred_on="2026-09-02", source=pb.IDR_FEE_SOURCE_PORTAL_RECEIPT),
            grpc.StatusCode.FAILED_PRECONDITION, "§1.8", "owed 25000 cents")
    fees = (await get(client, nid)).idr
    assert [(f.idre_paid_cents, f.idre_refund_entitled_cents, f.net_cost_cents)
            for f in (fees.provider_fees, fees.payer_fees)] == [(50_000, 25_000, 25_000)] * 2


async def test_a_lone_offer_wins_every_line_and_whole_claim_disputes_refuse_line_offers(
        client: Client) -> None:
    nid = await line_dispute(client)
    await client.call("SubmitIdrOffer", offer(nid, pb.PARTY_PAYER, (1, 30_000), (3, 20_000)))
    await client.call("RecordIdrDetermination", pb.RecordIdrDeterminationRequest(
        negotiation_id=nid, determined_on="2026-09-01", prevailing_party=pb.PARTY_PROVIDER))
    done = await get(client, nid)
    assert done.idr.prevailing_party == "payer"
    assert [line.prevailing_party for line in done.idr.lines] == ["payer", "payer"]
    assert done.idr.amount_owed_cents == (30_000 - 3_000 - 20_000) + (20_000 - 2_000 - 15_000)

    # A whole-claim dispute (no lines at initiation) is one item: line offers are refused.
    whole = await opened_with_notice(client)
    await approved_for_idr(client, whole)
    await client.call("InitiateIdr", pb.InitiateIdrRequest(
        negotiation_id=whole, dispute_number="DISP-W", initiated_on="2026-07-17",
        initiating_party=pb.PARTY_PROVIDER))
    await client.call("SelectIdre", pb.SelectIdreRequest(
        negotiation_id=whole, idre_id="idre-7", method=pb.SELECTION_METHOD_JOINT,
        selected_on="2026-07-22", idre_fee_cents=IDRE_FEE))
    await client.call("RecordIdrEligibility", pb.RecordIdrEligibilityRequest(
        negotiation_id=whole, eligible=True, decided_on="2026-07-29"))
    await refused(client, "SubmitIdrOffer", offer(whole, pb.PARTY_PROVIDER, (1, 60_000)),
                  grpc.StatusCode.FAILED_PRECONDITION, "DOMAIN §1.6", "whole claim")
    case = await get(client, whole)
    assert (case.idr.batched, case.idr.line_items, list(case.idr.lines)) == (False, 1, [])
    assert case.idr.provider_offer_cents == 0


async def test_a_line_the_claim_does_not_have_is_refused_with_its_field(
        client: Client, runtime: Any, infra_urls: Any) -> None:
    """The claims service's ClaimRegistered told negotiation the claim has two lines: a dispute
    naming line 3 (or line 7 of nothing) is INVALID_ARGUMENT on that field, nothing stored."""
    claim_id = str(uuid.uuid4())
    await publish_claim_events(infra_urls.nats_url, runtime.settings.subject_prefix_for("claims"),
                               client.tenant, claim_id, triaged_claim_events(lines=2))
    nid = str(negotiation_id_for(client.tenant, claim_id))

    async def opened() -> pb.Negotiation | None:
        try:
            return await get(client, nid)
        except grpc.aio.AioRpcError:
            return None

    await eventually(opened, timeout=30)
    await client.call("SendOpenNegotiationNotice", pb.SendOpenNegotiationNoticeRequest(
        negotiation_id=nid, sent_on="2026-06-02", channel=pb.CHANNEL_PORTAL,
        portal_reference="ON-2"))
    await approved_for_idr(client, nid)

    def initiate(*numbers: int) -> pb.InitiateIdrRequest:
        return pb.InitiateIdrRequest(
            negotiation_id=nid, dispute_number="DISP-N", initiated_on="2026-07-17",
            initiating_party=pb.PARTY_PROVIDER,
            lines=[pb.IdrLine(line_number=n, qpa_cents=20_000) for n in numbers])

    error = await refused(client, "InitiateIdr", initiate(1, 3, 2, 7),
                          grpc.StatusCode.INVALID_ARGUMENT, "the claim has no line 3",
                          "its lines: 1 to 2")
    assert field_violations(error) == {"lines[1].line_number", "lines[3].line_number"}
    case = await get(client, nid)
    assert (case.status, case.HasField("idr")) == ("open", False)  # nothing stored

    await client.call("InitiateIdr", initiate(1, 2))
    case = await get(client, nid)
    assert case.status == "in_idr"
    assert [line.line_number for line in case.idr.lines] == [1, 2]
