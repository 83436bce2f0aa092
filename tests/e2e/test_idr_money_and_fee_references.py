"""Through the gateway only (issue 16): IDR money per party and what every fee line references.

- A settlement during IDR after both parties paid their fees: half of each party's IDRE fee
  comes back; the provider's IDR cost and the pass-through billed to the client follow from the
  fees recorded as paid. A fee larger than the published one, a refund of nothing: refused.
- A reversal and a correction in one 835: two lines, each naming the ERA (TRN02, BPR16) and
  the claim's ICN (keyed hash and sealed, never plain); the invoice nets them per ERA.
- A PLB recoupment and PLB interest under a schedule that bills interest: the credit memo and
  the interest line name the ERA and the PLB reference, to the cent.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import grpc
import pytest

from oonledger.fees.v1 import fees_pb2
from oonledger.negotiation.v1 import negotiation_pb2 as npb
from oonledger.settlement.v1 import settlement_pb2
from services.common import phi
from services.x12.writer_835 import ClaimSpec, ProviderAdjustmentSpec, RemittanceSpec, build_835
from tests.e2e.compliance_views import items, ledger_after
from tests.e2e.journey import CLIENT, Vendor, rid
from tests.e2e.test_compliance_report import compliance, rows
from tests.e2e.test_idr_and_clawback import NOTICE, idr_claim
from tests.e2e.test_journey import agreed_claim
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The e2e services run in development mode: the development PHI key.
KEYS = phi.PhiKeys.from_env({}, dev_mode=True)
IDRE_FEE = 50_000
ADMIN_FEE = 1_500  # disputes initiated on or after 2026-06-11 (DOMAIN.md §1.8)


async def publish_schedule(vendor: Vendor, *, pass_through: bool = False,
                           include_interest: bool = False) -> None:
    await vendor.fees.PublishFeeSchedule(fees_pb2.PublishFeeScheduleRequest(
        request_id=rid(), client_id=CLIENT, effective_from="2026-01-01",
        terms=fees_pb2.FeeTerms(default_tiers=[fees_pb2.Tier(floor_cents=0, rate_bps=2500)],
                                pass_through_idr_fees=pass_through,
                                include_interest=include_interest)),
        metadata=vendor.md("finance"), timeout=15)


async def case_of(vendor: Vendor, nid: str) -> npb.Negotiation:
    reply = await vendor.negotiation.GetNegotiation(
        npb.GetNegotiationRequest(negotiation_id=nid), metadata=vendor.md("negotiator"),
        timeout=15)
    return reply.negotiation


async def in_idr_with_offers(vendor: Vendor, claim_id: str) -> tuple[str, str]:
    """Open negotiation fails, IDR from the first day allowed, the IDRE selected, both offers
    in: (negotiation id, that day)."""
    nid = await vendor.negotiation_of(claim_id)
    await vendor._negotiate("SendOpenNegotiationNotice", npb.SendOpenNegotiationNoticeRequest(
        negotiation_id=nid, sent_on=NOTICE, channel=npb.CHANNEL_PORTAL))
    await vendor._negotiate("MakeOffer", npb.MakeOfferRequest(
        negotiation_id=nid, offer_id="ours-1", party=npb.PARTY_PROVIDER, amount_cents=160_000,
        channel=npb.CHANNEL_PORTAL, made_on=NOTICE))
    day = next(d.opens_on for d in (await case_of(vendor, nid)).deadlines if d.code == "T3")
    await vendor._negotiate("ProposeDecision", npb.ProposeDecisionRequest(
        negotiation_id=nid, decision_id="go-idr", action=npb.DECISION_ACTION_IDR,
        rationale="payer would not move", decided_on=day))
    await vendor._negotiate("ApproveDecision", npb.ApproveDecisionRequest(
        negotiation_id=nid, decision_id="go-idr", decided_on=day), "provider_approver")
    await vendor._negotiate("InitiateIdr", npb.InitiateIdrRequest(
        negotiation_id=nid, dispute_number=f"DISP-{nid[:8]}", initiated_on=day,
        initiating_party=npb.PARTY_PROVIDER))
    await vendor._negotiate("SelectIdre", npb.SelectIdreRequest(
        negotiation_id=nid, idre_id="idre-7", method=npb.SELECTION_METHOD_JOINT,
        selected_on=day, idre_fee_cents=IDRE_FEE))
    await vendor._negotiate("RecordIdrEligibility", npb.RecordIdrEligibilityRequest(
        negotiation_id=nid, eligible=True, decided_on=day))
    for party, cents in ((npb.PARTY_PROVIDER, 160_000), (npb.PARTY_PAYER, 70_000)):
        await vendor._negotiate("SubmitIdrOffer", npb.SubmitIdrOfferRequest(
            negotiation_id=nid, party=party, amount_cents=cents, submitted_on=day))
    return nid, day


def fee(nid: str, party: int, kind: int, movement: int, cents: int, on: str,
        source: int = npb.IDR_FEE_SOURCE_PORTAL_RECEIPT) -> npb.RecordIdrFeeRequest:
    return npb.RecordIdrFeeRequest(
        negotiation_id=nid, party=party, fee_kind=kind, movement=movement, amount_cents=cents,
        occurred_on=on, source=source, source_reference=f"R-{uuid.uuid4().hex[:6]}")


async def refused(vendor: Vendor, request: npb.RecordIdrFeeRequest, rule: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await vendor._negotiate("RecordIdrFee", request)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "§1.8" in caught.value.details() and rule in caught.value.details()


async def test_settlement_during_idr_after_both_paid_returns_half_to_each(stack, channel):
    stack.require("claims", "negotiation", "settlement", "fees", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    await publish_schedule(vendor, pass_through=True)
    claim_id, _ = await idr_claim(vendor)
    nid, day = await in_idr_with_offers(vendor, claim_id)
    idre, admin = npb.IDR_FEE_KIND_IDRE, npb.IDR_FEE_KIND_ADMINISTRATIVE
    paid, refunded = npb.IDR_FEE_MOVEMENT_PAID, npb.IDR_FEE_MOVEMENT_REFUNDED

    # Bad input first: nothing is stored.
    await refused(vendor, fee(nid, npb.PARTY_PAYER, idre, paid, IDRE_FEE + 1, day),
                  "more than the published fee of 50000")
    await refused(vendor, fee(nid, npb.PARTY_PROVIDER, idre, refunded, 100, day),
                  "paid no idre fee")
    assert list((await case_of(vendor, nid)).idr.fee_entries) == []

    for party in (npb.PARTY_PROVIDER, npb.PARTY_PAYER):
        await vendor._negotiate("RecordIdrFee", fee(nid, party, admin, paid, ADMIN_FEE, day,
                                                    npb.IDR_FEE_SOURCE_INVOICE))
        await vendor._negotiate("RecordIdrFee", fee(nid, party, idre, paid, IDRE_FEE, day))
    # The payer moves; the provider accepts: settled during IDR.
    await vendor._negotiate("MakeOffer", npb.MakeOfferRequest(
        negotiation_id=nid, offer_id="late-1", party=npb.PARTY_PAYER, amount_cents=110_000,
        channel=npb.CHANNEL_PORTAL, made_on=day))
    await vendor._negotiate("ProposeDecision", npb.ProposeDecisionRequest(
        negotiation_id=nid, decision_id="settle", action=npb.DECISION_ACTION_ACCEPT,
        offer_id="late-1", rationale="settle in IDR", decided_on=day))
    await vendor._negotiate("ApproveDecision", npb.ApproveDecisionRequest(
        negotiation_id=nid, decision_id="settle", decided_on=day), "provider_approver")

    case = await case_of(vendor, nid)
    assert case.status == "agreed"
    for party_fees in (case.idr.provider_fees, case.idr.payer_fees):
        assert (party_fees.administrative_paid_cents, party_fees.idre_paid_cents,
                party_fees.idre_refund_entitled_cents, party_fees.idre_refund_outstanding_cents,
                party_fees.net_cost_cents) == (1_500, 50_000, 25_000, 25_000, 26_500)
    # The refund comes back (the IDRE's portal receipt); more than half is refused.
    await vendor._negotiate("RecordIdrFee", fee(nid, npb.PARTY_PAYER, idre, refunded, 25_000,
                                                day))
    await refused(vendor, fee(nid, npb.PARTY_PROVIDER, idre, refunded, 25_001, day),
                  "owed 25000 cents")
    await refused(vendor, fee(nid, npb.PARTY_PROVIDER, admin, refunded, 1_500, day),
                  "non-refundable")
    case = await case_of(vendor, nid)
    assert case.idr.payer_fees.idre_refund_outstanding_cents == 0
    assert case.idr.provider_fees.idre_refund_outstanding_cents == 25_000
    assert len(case.idr.fee_entries) == 5
    assert {e.source for e in case.idr.fee_entries if e.fee_kind == admin} == {
        npb.IDR_FEE_SOURCE_INVOICE}

    # The client is billed the provider's IDR cost: $15 + $500 - $250 back.
    async def passed_through() -> list[fees_pb2.FeeLine]:
        lines = await vendor.fee_lines_listed(claim_id)
        return [line for line in lines if line.cause == fees_pb2.FEE_CAUSE_IDR_FEE_PASS_THROUGH]

    (line,) = await eventually(passed_through, timeout=30)  # type: ignore[arg-type]
    assert line.amount_cents == 26_500 and line.remittance_trn == f"DISP-{nid[:8]}"
    assert line.line_date == day

    # The compliance report: payment received Thu 2026-10-01 (T1 day 1), notice Mon 10-05 (day
    # 3 of 30, due 11-13); IDR on business day 31 of open negotiation (11-18, window to 11-23);
    # settled that day, before the offers were due (T6): the settlement report (T12) is due 3
    # business days later (recorded elsewhere: pending). T8 runs from a determination only.
    assert day == "2026-11-18"
    report = rows(await compliance(vendor, nid))
    assert report["T1"] == ("timely", "2026-11-13", "2026-10-05", 3, 0)
    assert report["T3"] == ("timely", "2026-11-23", day, 31, 0)
    assert report["T12"][:3] == ("pending", "2026-11-23", "")
    assert report["T8"][:2] == ("not_applicable", "")
    # The auditor's as-of view holds the same report, as negotiation stated it after the
    # agreement (the ledger folds it; it computes no deadline).
    state = await ledger_after(vendor, claim_id, "SettlementAgreed")
    assert items(state)["T3"] == ("timely", "2026-11-23", day, 31)
    assert items(state)["T12"][:2] == ("pending", "2026-11-23")
    assert state.compliance.status == "agreed"


async def agreed_in_open_negotiation(vendor: Vendor, claim_id: str, nid: str) -> None:
    """The compliance report of `agreed_claim` (tests/e2e/test_journey.py): payment received
    Fri 2026-10-30, so T1 (30 business days beginning that day, skipping Nov 11 and 26) is
    due 2026-12-14 and the notice on 11-02 came on day 2; agreed on 11-10, day 7 of open
    negotiation (T8 runs from a determination only). The auditor's as-of view holds the report
    negotiation stated after the agreement."""
    report = rows(await compliance(vendor, nid))
    assert report["T1"] == ("timely", "2026-12-14", "2026-11-02", 2, 0)
    assert report["T2"][2:4] == ("2026-11-10", 7)
    assert report["T8"][:2] == ("not_applicable", "")
    state = await ledger_after(vendor, claim_id, "SettlementAgreed")
    assert items(state)["T1"] == ("timely", "2026-12-14", "2026-11-02", 2)
    assert state.compliance.negotiation_id == nid and state.compliance.rule_set_version


def remittance(trace: str, paid_on: date, claims: tuple[ClaimSpec, ...],
               adjustments: tuple[ProviderAdjustmentSpec, ...] = ()) -> bytes:
    return build_835(RemittanceSpec(trace_number=trace, payment_date=paid_on, claims=claims,
                                    provider_adjustments=adjustments)).encode()


async def retried(vendor: Vendor, call: Any, request: Any) -> Any:
    """A settlement command as finance calls it: ABORTED (the settlement moved under the
    command, e.g. a fee posting) is retried with the same request id, as the API documents."""
    for attempt in range(5):
        try:
            return await call(request, metadata=vendor.md("finance"), timeout=30)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.ABORTED or attempt == 4:
                raise
    raise AssertionError("unreachable")


async def imported(vendor: Vendor, content: bytes) -> None:
    request = settlement_pb2.ImportRemittanceRequest(
        request_id=rid(), content=content, file_name=f"{uuid.uuid4().hex[:8]}.835")
    reply = await retried(vendor, vendor.settlement.ImportRemittance, request)
    assert reply.status == settlement_pb2.IMPORT_STATUS_POSTED, reply


async def lines_when(vendor: Vendor, claim_id: str, count: int) -> list[fees_pb2.FeeLine]:
    async def listed() -> list[fees_pb2.FeeLine] | None:
        lines = await vendor.fee_lines_listed(claim_id)
        return lines if len(lines) >= count else None

    return await eventually(listed, timeout=30)  # type: ignore[arg-type]


def icn_of(vendor: Vendor, line: fees_pb2.FeeLine) -> str:
    """The line's ICN, read back from its sealed form (and checked against its keyed hash)."""
    icn = KEYS.unseal(line.payer_claim_control_number_sealed)
    assert line.payer_claim_control_number_index == KEYS.index(
        vendor.tenant, phi.PAYER_CLAIM_NUMBER, icn)
    return icn


async def test_reversal_and_correction_in_one_era_keep_both_lines_and_net_per_era(
        stack, channel):
    stack.require("claims", "negotiation", "settlement", "fees", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    await publish_schedule(vendor)
    claim_id, pcn, nid = await agreed_claim(vendor, bulk=1)
    await agreed_in_open_negotiation(vendor, claim_id, nid)
    await vendor.settlement_of(claim_id)
    first = ClaimSpec(patient_control_number=pcn, charge_cents=249_000, paid_cents=60_000,
                      service_date=date(2026, 10, 3), payer_claim_control_number="ICN-FIRST-1")
    await imported(vendor, remittance("TRN-ERA-1", date(2026, 11, 16), (first,)))
    await vendor.fee_account(claim_id, billed_cents=15_000)
    # The payer takes the payment back and pays the corrected amount in one ERA.
    correction = ClaimSpec(patient_control_number=pcn, charge_cents=249_000, paid_cents=70_000,
                           service_date=date(2026, 10, 3),
                           payer_claim_control_number="ICN-CORR-2")
    await imported(vendor, remittance("TRN-ERA-2", date(2026, 11, 23),
                                      (first.reversed(), correction)))
    await vendor.fee_account(claim_id, billed_cents=17_500)

    lines = await lines_when(vendor, claim_id, 3)
    summary = [(line.cause, line.amount_cents, line.remittance_trn, line.deposit_date,
                icn_of(vendor, line)) for line in lines]
    assert sorted(summary) == sorted([
        (fees_pb2.FEE_CAUSE_PAYMENT, 15_000, "TRN-ERA-1", "2026-11-16", "ICN-FIRST-1"),
        (fees_pb2.FEE_CAUSE_REVERSAL, -15_000, "TRN-ERA-2", "2026-11-23", "ICN-FIRST-1"),
        (fees_pb2.FEE_CAUSE_PAYMENT, 17_500, "TRN-ERA-2", "2026-11-23", "ICN-CORR-2"),
    ])
    for line in lines:
        assert "ICN-" not in line.payer_claim_control_number_index  # never plain
        assert (line.schedule_version, line.fee_base, line.interest_included) == (
            1, "INCREMENTAL", False)
        assert line.resolution_stage == fees_pb2.RESOLUTION_STAGE_OPEN_NEGOTIATION

    closed = await vendor.fees.CloseInvoicePeriod(fees_pb2.CloseInvoicePeriodRequest(
        request_id=rid(), client_id=CLIENT, period_start="2026-11-01",
        period_end="2026-11-30"), metadata=vendor.md("finance"), timeout=15)
    invoice = closed.invoice
    assert len(invoice.lines) == 3 and invoice.total_cents == 17_500
    assert [(e.trace_number, e.deposit_date, e.net_cents, e.line_count)
            for e in invoice.era_totals] == [("TRN-ERA-1", "2026-11-16", 15_000, 1),
                                             ("TRN-ERA-2", "2026-11-23", 2_500, 2)]


async def test_plb_recoupment_and_interest_lines_name_the_era_and_the_plb_reference(
        stack, channel):
    stack.require("claims", "negotiation", "settlement", "fees", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    await publish_schedule(vendor, include_interest=True)
    claim_id, pcn, nid = await agreed_claim(vendor, bulk=1)
    await agreed_in_open_negotiation(vendor, claim_id, nid)
    await vendor.settlement_of(claim_id)
    paid = ClaimSpec(patient_control_number=pcn, charge_cents=249_000, paid_cents=60_000,
                     service_date=date(2026, 10, 3), payer_claim_control_number="ICN-PLB-1")
    await imported(vendor, remittance("TRN-PLB-1", date(2026, 11, 16), (paid,)))
    await vendor.fee_account(claim_id, billed_cents=15_000)
    # A later ERA: a supplemental $200, $100 recouped (WO) and $12.34 interest (L6), both
    # PLBs naming the claim's ICN.
    supplement = ClaimSpec(patient_control_number=pcn, charge_cents=249_000, paid_cents=20_000,
                           service_date=date(2026, 10, 3),
                           payer_claim_control_number="ICN-PLB-1")
    await imported(vendor, remittance(
        "TRN-PLB-2", date(2026, 11, 24), (supplement,),
        (ProviderAdjustmentSpec("WO", 10_000, "ICN-PLB-1"),
         ProviderAdjustmentSpec("L6", -1_234, "ICN-PLB-1"))))
    # 25 % of 60,000 + 20,000 - 10,000 + 1,234 (interest billed) = 17,808.50 -> 17,809.
    await vendor.fee_account(claim_id, billed_cents=17_809)

    lines = await lines_when(vendor, claim_id, 4)
    by_cause = {line.cause: line for line in lines if line.remittance_trn == "TRN-PLB-2"}
    recoupment = by_cause[fees_pb2.FEE_CAUSE_RECOUPMENT]
    interest = by_cause[fees_pb2.FEE_CAUSE_INTEREST]
    assert (recoupment.kind, recoupment.amount_cents) == (fees_pb2.FEE_LINE_KIND_CREDIT_MEMO,
                                                          -2_500)
    assert (interest.kind, interest.amount_cents) == (fees_pb2.FEE_LINE_KIND_INVOICE_LINE, 309)
    assert by_cause[fees_pb2.FEE_CAUSE_PAYMENT].amount_cents == 5_000
    plb_index = KEYS.index(vendor.tenant, phi.PAYER_CLAIM_NUMBER, "ICN-PLB-1")
    for line in (recoupment, interest):
        assert line.deposit_date == "2026-11-24" and line.line_date == "2026-11-24"
        assert line.plb_reference_index == plb_index
        assert KEYS.unseal(line.plb_reference_sealed) == "ICN-PLB-1"
        assert line.interest_included and line.schedule_version == 1
    assert (recoupment.cumulative_recovered_cents, interest.cumulative_recovered_cents) == (
        70_000, 71_234)


async def test_a_manual_reversal_credit_names_the_deposit_of_the_payment_it_reverses(
        stack, channel):
    stack.require("claims", "negotiation", "settlement", "fees")
    vendor = await Vendor.enrol(stack, channel)
    await publish_schedule(vendor)
    claim_id, pcn, _ = await agreed_claim(vendor, bulk=1)
    await vendor.settlement_of(claim_id)
    paid = ClaimSpec(patient_control_number=pcn, charge_cents=249_000, paid_cents=60_000,
                     service_date=date(2026, 10, 3), payer_claim_control_number="ICN-MAN-1")
    await imported(vendor, remittance("TRN-MAN-1", date(2026, 11, 18), (paid,)))
    await vendor.fee_account(claim_id, billed_cents=15_000)

    async def posted() -> str | None:
        settlement = await vendor.settlement_of(claim_id)
        return next((p.payment_id for p in settlement.payments if p.remittance_id), None)

    payment_id = await eventually(posted, timeout=30)  # type: ignore[arg-type]
    # Finance reverses it by hand (no ERA): the credit still ties to the deposit and the ICN.
    await retried(vendor, vendor.settlement.ReversePayment, settlement_pb2.ReversePaymentRequest(
        request_id=rid(), claim_id=claim_id, payment_id=payment_id,
        reason="payer asked for it back"))
    await vendor.fee_account(claim_id, billed_cents=0)
    lines = await lines_when(vendor, claim_id, 2)
    (credit,) = [line for line in lines if line.cause == fees_pb2.FEE_CAUSE_REVERSAL]
    assert (credit.amount_cents, credit.remittance_trn, credit.deposit_date) == (
        -15_000, "TRN-MAN-1", "2026-11-18")
    assert icn_of(vendor, credit) == "ICN-MAN-1"
