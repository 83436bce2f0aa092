"""Through the gateway only (issue 16): a line-level federal IDR dispute over the two lines of
one claim, worked from the rules of DOMAIN.md §1.3, §1.6 and §1.8, asserted to the day and the
cent — offers and awards per line, what the plan owes per line and per claim (the settlement
opens on it), each party's IDR money and the client's pass-through fee line, the compliance
report, and the auditor's as-of view of the claim holding the report as it stood.

The claim (tests/e2e/claim_files.py): line 1 99285 $1,850, line 2 12002 $640; the payer's
claim-level QPA $520, cost sharing $150 and initial payment $450 are split by line in the
initiation: line 1 QPA $380, cost sharing $100, paid $330; line 2 QPA $140, $50, $120.

Dates: open-negotiation notice Monday 2026-10-05 (business day 1); Oct 12 and Nov 11 are
federal holidays, so business day 31 — the first day IDR may be initiated (T3) — is Wednesday
2026-11-18 and the window closes on business day 34, 2026-11-23. Every IDR step happens on
2026-11-18. T7 (30 business days after the selection, skipping Nov 26, Dec 25 and Jan 1) is
2027-01-04; T8 (30 calendar days after the determination) is 2026-12-18; T1 (30 business
days beginning on the initial payment's receipt, Thursday 2026-10-01) is 2026-11-13.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest

from oonledger.fees.v1 import fees_pb2
from oonledger.ledger.v1 import ledger_pb2
from oonledger.negotiation.v1 import negotiation_pb2 as npb
from tests.e2e.compliance_views import as_of_view, items, ledger_after
from tests.e2e.journey import Vendor
from tests.e2e.test_compliance_report import compliance, rows
from tests.e2e.test_idr_and_clawback import NOTICE, idr_claim
from tests.e2e.test_idr_money_and_fee_references import case_of, fee, publish_schedule
from tests.support.plugin import eventually, field_violations

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = "2026-11-18"
IDRE_FEE = 50_000  # inside the batched range ($268-$1,173): two line items are batched
ADMIN_FEE = 1_500
LINES = [npb.IdrLine(line_number=1, qpa_cents=38_000, patient_cost_sharing_cents=10_000,
                     already_paid_cents=33_000),
         npb.IdrLine(line_number=2, qpa_cents=14_000, patient_cost_sharing_cents=5_000,
                     already_paid_cents=12_000)]


def line_offer(nid: str, party: int, one: int, two: int) -> npb.SubmitIdrOfferRequest:
    return npb.SubmitIdrOfferRequest(
        negotiation_id=nid, party=party, submitted_on=DAY,
        line_offers=[npb.IdrLineOffer(line_number=1, amount_cents=one),
                     npb.IdrLineOffer(line_number=2, amount_cents=two)])


async def test_a_dispute_of_two_lines_of_one_claim(stack: Any, channel: Any) -> None:
    stack.require("claims", "negotiation", "settlement", "fees", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    await publish_schedule(vendor, pass_through=True)
    claim_id, _ = await idr_claim(vendor)
    nid = await vendor.negotiation_of(claim_id)
    dispute = f"DISP-{uuid.uuid4().hex[:8]}"
    await vendor._negotiate("SendOpenNegotiationNotice", npb.SendOpenNegotiationNoticeRequest(
        negotiation_id=nid, sent_on=NOTICE, channel=npb.CHANNEL_PORTAL))
    window = next(d for d in (await case_of(vendor, nid)).deadlines if d.code == "T3")
    assert (window.opens_on, window.due_on) == (DAY, "2026-11-23")
    await vendor._negotiate("ProposeDecision", npb.ProposeDecisionRequest(
        negotiation_id=nid, decision_id="go-idr", action=npb.DECISION_ACTION_IDR,
        rationale="payer would not move on either line", decided_on=DAY))
    await vendor._negotiate("ApproveDecision", npb.ApproveDecisionRequest(
        negotiation_id=nid, decision_id="go-idr", decided_on=DAY), "provider_approver")
    # A line the claim does not have (it has two): INVALID_ARGUMENT on that field, nothing
    # stored. Negotiation knows the claim's lines from the claims service's ClaimRegistered.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await vendor._negotiate("InitiateIdr", npb.InitiateIdrRequest(
            negotiation_id=nid, dispute_number=dispute, initiated_on=DAY,
            initiating_party=npb.PARTY_PROVIDER,
            lines=[*LINES, npb.IdrLine(line_number=3, qpa_cents=10_000)]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value) == {"lines[2].line_number"}
    assert "the claim has no line 3" in (caught.value.details() or "")
    assert (await case_of(vendor, nid)).status == "open"
    await vendor._negotiate("InitiateIdr", npb.InitiateIdrRequest(
        negotiation_id=nid, dispute_number=dispute, initiated_on=DAY,
        initiating_party=npb.PARTY_PROVIDER, lines=LINES))
    await vendor._negotiate("SelectIdre", npb.SelectIdreRequest(
        negotiation_id=nid, idre_id="idre-7", method=npb.SELECTION_METHOD_JOINT,
        selected_on=DAY, idre_fee_cents=IDRE_FEE))
    await vendor._negotiate("RecordIdrEligibility", npb.RecordIdrEligibilityRequest(
        negotiation_id=nid, eligible=True, decided_on=DAY))
    idre, admin = npb.IDR_FEE_KIND_IDRE, npb.IDR_FEE_KIND_ADMINISTRATIVE
    for party in (npb.PARTY_PROVIDER, npb.PARTY_PAYER):
        await vendor._negotiate("RecordIdrFee", fee(nid, party, admin, npb.IDR_FEE_MOVEMENT_PAID,
                                                    ADMIN_FEE, DAY, npb.IDR_FEE_SOURCE_INVOICE))
        await vendor._negotiate("RecordIdrFee", fee(nid, party, idre, npb.IDR_FEE_MOVEMENT_PAID,
                                                    IDRE_FEE, DAY))

    # An offer on a line that is not in the dispute: refused citing the rule, nothing stored.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await vendor._negotiate("SubmitIdrOffer", npb.SubmitIdrOfferRequest(
            negotiation_id=nid, party=npb.PARTY_PROVIDER, submitted_on=DAY,
            line_offers=[npb.IdrLineOffer(line_number=3, amount_cents=10_000)]))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "DOMAIN §1.6: line(s) 3 are not in dispute" in (caught.value.details() or "")
    assert (await case_of(vendor, nid)).idr.provider_offer_cents == 0

    await vendor._negotiate("SubmitIdrOffer", line_offer(nid, npb.PARTY_PROVIDER, 120_000,
                                                         40_000))
    await vendor._negotiate("SubmitIdrOffer", line_offer(nid, npb.PARTY_PAYER, 50_000, 20_000))
    before_determination = await ledger_after(vendor, claim_id, "IdrOfferSubmitted")
    assert items(before_determination)["T7"][2] == ""  # not determined yet
    at_offers = datetime.now(UTC)
    await vendor._negotiate("RecordIdrDetermination", npb.RecordIdrDeterminationRequest(
        negotiation_id=nid, determined_on=DAY, lines=[
            npb.IdrLineDetermination(line_number=1, prevailing_party=npb.PARTY_PROVIDER),
            npb.IdrLineDetermination(line_number=2, prevailing_party=npb.PARTY_PROVIDER)]))

    case = await case_of(vendor, nid)
    assert (case.status, case.idr.batched, case.idr.line_items) == ("determined", True, 2)
    # Per line: award - cost sharing - paid. Line 1: 1,200 - 100 - 330 = 770; line 2:
    # 400 - 50 - 120 = 230; the claim: $1,000 owed on an award of $1,600.
    assert [(x.line_number, x.provider_offer_cents, x.payer_offer_cents, x.prevailing_party,
             x.award_cents, x.amount_owed_cents) for x in case.idr.lines] == [
        (1, 120_000, 50_000, "provider", 120_000, 77_000),
        (2, 40_000, 20_000, "provider", 40_000, 23_000)]
    assert (case.award_total_cents, case.idr.amount_owed_cents) == (160_000, 100_000)
    settlement = await vendor.settlement_of(claim_id)
    assert (settlement.source, settlement.amount_owed_cents) == ("idr_determination", 100_000)
    assert settlement.due_date == "2026-12-18"

    # IDR money: the provider prevailed on both lines, so its IDRE fee comes back in full
    # (loser pays); the payer bears its own. The client is billed the provider's cost: $15.
    provider, payer = case.idr.provider_fees, case.idr.payer_fees
    assert (provider.administrative_paid_cents, provider.idre_paid_cents) == (1_500, 50_000)
    assert (provider.idre_refund_entitled_cents, provider.net_cost_cents) == (50_000, 1_500)
    assert (payer.idre_refund_entitled_cents, payer.net_cost_cents) == (0, 51_500)

    async def passed_through() -> list[fees_pb2.FeeLine]:
        lines = await vendor.fee_lines_listed(claim_id)
        return [x for x in lines if x.cause == fees_pb2.FEE_CAUSE_IDR_FEE_PASS_THROUGH]

    (line,) = await eventually(passed_through, timeout=30)  # type: ignore[arg-type]
    assert (line.amount_cents, line.remittance_trn, line.line_date) == (1_500, dispute, DAY)

    # The compliance report, read as of a fixed day.
    report = rows(await compliance(vendor, nid))
    # T1: 30 business days beginning on the payment's receipt (Thu 2026-10-01) end 2026-11-13.
    assert report["T1"][:3] == ("timely", "2026-11-13", NOTICE)
    assert report["T3"] == ("timely", "2026-11-23", DAY, 31, 0)
    assert report["T7"][:3] == ("timely", "2027-01-04", DAY)
    assert report["T8"][:2] == ("pending", "2026-12-18")

    # The auditor's as-of view holds the report as negotiation stated it after each act: now,
    # after the determination; at an instant before it, after the offers.
    state = await ledger_after(vendor, claim_id, "IdrDetermined")
    now = items(state)
    assert now["T3"] == ("timely", "2026-11-23", DAY, 31)
    assert now["T7"][:3] == ("timely", "2027-01-04", DAY)
    assert state.compliance.negotiation_id == nid and state.compliance.rule_set_version
    assert state.compliance.calendar.startswith("us-federal")
    earlier = await as_of_view(vendor, claim_id, at_offers)
    assert earlier.compliance.act_event_type == "IdrOfferSubmitted"
    assert items(earlier)["T7"][2] == "" and items(earlier)["T3"][2] == DAY
    assert list(state.unfolded_events) == []
    # The auditor's printable report shows the same report, as stated.
    printed = await vendor.audit.GetClaimReport(ledger_pb2.GetClaimReportRequest(
        claim_id=claim_id, format=ledger_pb2.REPORT_FORMAT_HTML),
        metadata=vendor.md("auditor"), timeout=60)
    html = printed.content.decode()
    assert "as stated after IdrDetermined" in html
    assert "timely: due 2026-11-23, done 2026-11-18 (day 31)" in html
