"""Through the gateway: the compliance report of worked cases, asserted to the day, and its CSV
export for the whole book (docs/negotiation.md "Compliance report").

2026 federal holidays on weekdays that the counts below skip: Sep 7, Oct 12, Nov 11, Nov 26,
Dec 25 (and 2027-01-01, 2027-01-18). Every report is read `as_of` 2026-12-04 so it does not
depend on the day the test runs.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import grpc
import pytest

from oonledger.claims.v1 import claims_pb2
from oonledger.negotiation.v1 import negotiation_pb2 as npb
from tests.e2e.journey import Vendor, rid
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

AS_OF = "2026-12-04"


async def open_case(vendor: Vendor, *, service_on: str, paid_on: str, bill_on: str = "",
                    plan: str = "plan-acme-ppo") -> str:
    """A claim the claims service knows (imported and adjudicated, so settlement and fees can
    follow it), opened for negotiation by the negotiator with the dates of the worked case
    (not by triage, which knows no bill receipt date)."""
    ((claim_id, _),) = await vendor.import_claims(1, service_date=service_on)
    await vendor.claims.RecordAdjudication(claims_pb2.RecordAdjudicationRequest(
        request_id=rid(), claim_id=claim_id, adjudication=claims_pb2.Adjudication(
            received_date=paid_on, billed_cents=250_000, allowed_cents=40_000,
            paid_cents=35_000, patient_responsibility_cents=5_000, qpa_cents=40_000,
            qpa_disclosed=True, carc_codes=["45"], payer_claim_control_number=rid()[:12])),
        metadata=vendor.md("negotiator"), timeout=15)
    reply = await vendor._negotiate("OpenNegotiation", npb.OpenNegotiationRequest(
        claim_id=claim_id, provider_npi="1234567893",
        provider_tin="12-3456789", payer_id="payer-acme", plan_id=plan,
        plan_funding="fully_insured", service_code="70450", service_on=service_on,
        billed_cents=250_000, qpa_cents=40_000, patient_cost_sharing_cents=5_000,
        already_paid_cents=35_000, bill_received_on=bill_on, initial_payment_received_on=paid_on,
        route="federal_idr", assignee="neg@example.test"))
    return str(reply.negotiation.negotiation_id)


async def notice(vendor: Vendor, nid: str, on: str) -> None:
    await vendor._negotiate("SendOpenNegotiationNotice", npb.SendOpenNegotiationNoticeRequest(
        negotiation_id=nid, sent_on=on, channel=npb.CHANNEL_PORTAL, portal_reference="ON-1"))


async def to_idr(vendor: Vendor, nid: str, dispute: str, *, initiated: str, selected: str,
                 eligible: str, offers: str, determined: str | None) -> None:
    """The provider approves IDR, initiates it, and the IDR steps happen on the given days."""
    await vendor._negotiate("MakeOffer", npb.MakeOfferRequest(
        negotiation_id=nid, offer_id="ours-1", party=npb.PARTY_PROVIDER, amount_cents=150_000,
        channel=npb.CHANNEL_PORTAL, made_on=initiated))
    steps: list[tuple[str, Any]] = [
        ("ProposeDecision", npb.ProposeDecisionRequest(
            negotiation_id=nid, decision_id="go-idr", action=npb.DECISION_ACTION_IDR,
            rationale="payer would not move", decided_on=initiated)),
        ("ApproveDecision", npb.ApproveDecisionRequest(
            negotiation_id=nid, decision_id="go-idr", decided_on=initiated)),
        ("InitiateIdr", npb.InitiateIdrRequest(
            negotiation_id=nid, dispute_number=dispute, initiated_on=initiated,
            initiating_party=npb.PARTY_PROVIDER)),
        ("SelectIdre", npb.SelectIdreRequest(
            negotiation_id=nid, idre_id="idre-7", method=npb.SELECTION_METHOD_JOINT,
            selected_on=selected, idre_fee_cents=50_000)),
        ("RecordIdrEligibility", npb.RecordIdrEligibilityRequest(
            negotiation_id=nid, eligible=True, decided_on=eligible)),
        ("SubmitIdrOffer", npb.SubmitIdrOfferRequest(
            negotiation_id=nid, party=npb.PARTY_PROVIDER, amount_cents=150_000,
            submitted_on=offers)),
        ("SubmitIdrOffer", npb.SubmitIdrOfferRequest(
            negotiation_id=nid, party=npb.PARTY_PAYER, amount_cents=45_000, submitted_on=offers)),
    ]
    if determined:
        steps.append(("RecordIdrDetermination", npb.RecordIdrDeterminationRequest(
            negotiation_id=nid, prevailing_party=npb.PARTY_PROVIDER, determined_on=determined)))
    for method, request in steps:
        role = "provider_approver" if method == "ApproveDecision" else "negotiator"
        await vendor._negotiate(method, request, role)


async def compliance(vendor: Vendor, nid: str, role: str = "auditor") -> npb.ComplianceReport:
    reply = await vendor.negotiation.GetComplianceReport(
        npb.GetComplianceReportRequest(negotiation_id=nid, as_of=AS_OF),
        metadata=vendor.md(role), timeout=15)
    return reply.report


def rows(report: npb.ComplianceReport) -> dict[str, tuple[str, str, str, int, int]]:
    """code -> (status, due_on, act_on, day_number, days_late)."""
    return {x.code: (x.status, x.due_on, x.act_on, x.day_number, x.days_late)
            for x in report.lines}


async def test_settled_in_open_negotiation_on_time(stack, channel):
    stack.require("claims", "negotiation")
    vendor = await Vendor.enrol(stack, channel)
    nid = await open_case(vendor, service_on="2026-10-03", bill_on="2026-10-05",
                          paid_on="2026-10-30")
    await notice(vendor, nid, "2026-11-02")
    await vendor.offer(nid, npb.PARTY_PROVIDER, 180_000, "ours-1", "2026-11-03")
    await vendor.offer(nid, npb.PARTY_PAYER, 120_000, "theirs-1", "2026-11-06")
    agreed = await vendor.agree(nid, "theirs-1")  # approved 2026-11-10
    assert agreed.status == "agreed"

    report = await compliance(vendor, nid)
    r = rows(report)
    assert report.status == "agreed" and report.as_of == AS_OF
    assert report.rule_set_version == "nsa-2026-08-03"
    assert report.calendar == "us-federal-5usc6103a-observed"
    # T0: bill Oct 5 + 30 calendar days; paid on day 25.
    assert r["T0"] == ("timely", "2026-11-04", "2026-10-30", 25, 0)
    # T1: Oct 30 is BD 1 (Nov 11 and 26 skipped) -> BD 30 Mon Dec 14; the notice is BD 2.
    assert r["T1"] == ("timely", "2026-12-14", "2026-11-02", 2, 0)
    # Agreement on BD 7 of open negotiation (Nov 2..Dec 15).
    assert r["T2"] == ("timely", "2026-12-15", "2026-11-10", 7, 0)
    t3 = next(x for x in report.lines if x.code == "T3")
    assert (t3.status, t3.opens_on, t3.due_on, t3.counting) == (
        "not_applicable", "2026-12-16", "2026-12-21", "business")
    assert {r[c][0] for c in ("T4", "T5", "T6", "T7", "T8", "T10", "T11")} == {"not_applicable"}
    window = report.batch_window
    assert (window.first_service_on, window.window_ends_on, window.within_window) == (
        "2026-10-03", "2026-11-17", True)
    assert list(report.holidays) == ["2026-11-11", "2026-11-26"]


async def test_late_open_negotiation_notice(stack, channel):
    stack.require("claims", "negotiation")
    vendor = await Vendor.enrol(stack, channel)
    nid = await open_case(vendor, service_on="2026-09-15", bill_on="2026-09-20",
                          paid_on="2026-10-01")
    await notice(vendor, nid, "2026-11-16")
    r = rows(await compliance(vendor, nid, role="negotiator"))
    assert r["T0"] == ("timely", "2026-10-20", "2026-10-01", 11, 0)
    # T1 ends Fri Nov 13 (BD 30; Oct 12 and Nov 11 skipped): Mon Nov 16 is BD 31, 1 BD late.
    assert r["T1"] == ("late", "2026-11-13", "2026-11-16", 31, 1)
    assert r["T2"] == ("pending", "2026-12-29", "", 0, 0)


async def test_through_idr_in_the_window_and_determined_within_t7(stack, channel):
    stack.require("claims", "negotiation")
    vendor = await Vendor.enrol(stack, channel)
    nid = await open_case(vendor, service_on="2026-09-15", paid_on="2026-10-01")
    await notice(vendor, nid, "2026-10-05")
    await to_idr(vendor, nid, "DISP-CR-1", initiated="2026-11-19", selected="2026-11-23",
                 eligible="2026-11-30", offers="2026-12-01", determined="2026-12-03")
    report = await compliance(vendor, nid)
    r = rows(report)
    assert report.status == "determined"
    assert r["T0"][0] == "not_applicable"  # no bill receipt date
    assert r["T1"] == ("timely", "2026-11-13", "2026-10-05", 3, 0)
    assert r["T2"][:2] == ("elapsed", "2026-11-17")
    # Initiation on BD 32 of open negotiation, inside the 4-BD window Nov 18..23.
    t3 = next(x for x in report.lines if x.code == "T3")
    assert (t3.opens_on, t3.due_on) == ("2026-11-18", "2026-11-23")
    assert r["T3"] == ("timely", "2026-11-23", "2026-11-19", 32, 0)
    assert r["T4"] == ("timely", "2026-11-24", "2026-11-23", 2, 0)
    assert r["T4b"][0] == "not_applicable"
    assert r["T5"] == ("timely", "2026-12-01", "2026-11-30", 4, 0)
    assert r["T6"] == ("timely", "2026-12-08", "2026-12-01", 5, 0)
    # T7: 30 BD after the selection (Nov 26, Dec 25, Jan 1 skipped); determined on BD 7.
    assert r["T7"] == ("timely", "2027-01-07", "2026-12-03", 7, 0)
    assert r["T8"][:2] == ("pending", "2027-01-02")
    assert r["T9"][:2] == ("pending", "2027-01-19")
    assert r["T10"][:2] == ("pending", "2027-03-03")
    started = report.cooling_off[0]
    assert (started.relation, started.starts_on, started.ends_on, started.filing_opens_on,
            started.filing_closes_on) == (
        "started", "2026-12-04", "2027-03-03", "2027-03-04", "2027-04-14")
    assert next(x for x in report.lines if x.code == "T8").recorded_here is False


async def test_cooling_off_blocks_the_window_and_the_permitted_filing_window(stack, channel):
    stack.require("claims", "negotiation")
    vendor = await Vendor.enrol(stack, channel)
    # Case A: open negotiation May 4 .. Jun 15 (Memorial Day skipped); IDR Jun 16 (BD 31),
    # determined Mon Aug 3 -> cooling-off Aug 4 .. Sun Nov 1 (90 calendar days).
    first = await open_case(vendor, service_on="2026-04-20", paid_on="2026-05-01")
    await notice(vendor, first, "2026-05-04")
    await to_idr(vendor, first, "DISP-CO-A", initiated="2026-06-16", selected="2026-06-18",
                 eligible="2026-06-25", offers="2026-06-26", determined="2026-08-03")
    a = await compliance(vendor, first)
    assert rows(a)["T3"] == ("timely", "2026-06-22", "2026-06-16", 31, 0)
    assert a.cooling_off[0].ends_on == "2026-11-01"
    # Case B, same parties and a similar service: its window (Sep 22-25) falls in A's
    # cooling-off, so it may be filed in the 30 BD beginning Mon Nov 2 (until Tue Dec 15).
    second = await open_case(vendor, service_on="2026-07-01", paid_on="2026-08-03")
    await notice(vendor, second, "2026-08-10")
    await to_idr(vendor, second, "DISP-CO-B", initiated="2026-11-16", selected="2026-11-18",
                 eligible="2026-11-20", offers="2026-11-23", determined=None)
    b = await compliance(vendor, second)
    t3 = next(x for x in b.lines if x.code == "T3")
    assert (t3.status, t3.opens_on, t3.due_on, t3.act_on, t3.days_late) == (
        "timely", "2026-09-22", "2026-09-25", "2026-11-16", 0)
    assert "DISP-CO-A" in t3.note
    (blocking,) = b.cooling_off
    assert (blocking.dispute_number, blocking.relation, blocking.starts_on, blocking.ends_on,
            blocking.filing_opens_on, blocking.filing_closes_on, blocking.initiated_on,
            blocking.within_filing_window) == (
        "DISP-CO-A", "blocking", "2026-08-04", "2026-11-01", "2026-11-02", "2026-12-15",
        "2026-11-16", "yes")
    # T7 is still running for B: pending, due 30 BD after the Nov 18 selection.
    assert rows(b)["T7"][:3] == ("pending", "2027-01-04", "")


async def test_unknown_and_other_tenants_cases_are_not_found(stack, channel):
    stack.require("claims", "negotiation")
    vendor = await Vendor.enrol(stack, channel)
    nid = await open_case(vendor, service_on="2026-09-15", paid_on="2026-10-01")
    other = await Vendor.enrol(stack, channel)
    for who, case in ((vendor, str(uuid.uuid4())), (other, nid)):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await who.negotiation.GetComplianceReport(
                npb.GetComplianceReportRequest(negotiation_id=case, as_of=AS_OF),
                metadata=who.md("auditor"), timeout=15)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await vendor.negotiation.GetComplianceReport(
            npb.GetComplianceReportRequest(negotiation_id=nid, as_of="2026-13-01"),
            metadata=vendor.md("auditor"), timeout=15)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_csv_export_of_the_whole_book(stack, channel):
    stack.require("claims", "negotiation")
    vendor = await Vendor.enrol(stack, channel)
    late = await open_case(vendor, service_on="2026-09-15", bill_on="2026-09-20",
                           paid_on="2026-10-01")
    await notice(vendor, late, "2026-11-16")
    fresh = await open_case(vendor, service_on="2026-09-15", paid_on="2026-10-01")

    async def exported() -> npb.GetComplianceReportCsvResponse | None:
        reply = await vendor.negotiation.GetComplianceReportCsv(
            npb.GetComplianceReportCsvRequest(as_of=AS_OF), metadata=vendor.md("auditor"),
            timeout=30)
        return reply if reply.cases == 2 else None

    reply = await eventually(exported, timeout=60)  # type: ignore[arg-type]
    assert reply.rows == 2 * 17
    table = list(csv.DictReader(io.StringIO(reply.csv.decode())))
    assert len(table) == 34 and {t["negotiation_id"] for t in table} == {late, fresh}
    t1 = next(t for t in table if t["negotiation_id"] == late and t["code"] == "T1")
    assert (t1["status"], t1["due_on"], t1["act_on"], t1["day_number"], t1["days_late"],
            t1["counting"], t1["calendar"]) == (
        "late", "2026-11-13", "2026-11-16", "31", "1", "business",
        "us-federal-5usc6103a-observed")
    # The never-noticed case: T1 past due as of Dec 4 (Nov 16..Dec 4 = 14 BD, Nov 26 skipped).
    missed = next(t for t in table if t["negotiation_id"] == fresh and t["code"] == "T1")
    assert (missed["status"], missed["act_on"], missed["days_late"]) == ("late", "", "14")
    # Another tenant's book is its own (empty).
    other = await Vendor.enrol(stack, channel)
    empty = await other.negotiation.GetComplianceReportCsv(
        npb.GetComplianceReportCsvRequest(as_of=AS_OF), metadata=other.md("finance"),
        timeout=15)
    assert (empty.cases, empty.rows) == (0, 0)
    assert empty.csv.decode().startswith("negotiation_id,claim_id,")
