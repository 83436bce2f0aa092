"""Through the gateway only: the federal IDR path (won and lost, the award paid in parts), a
clawback that produces a credit memo, and a second vendor that sees none of it."""

from __future__ import annotations

from datetime import date

import grpc
import pytest

from oonledger.claims.v1 import claims_pb2
from oonledger.fees.v1 import fees_pb2
from oonledger.negotiation.v1 import negotiation_pb2 as npb
from oonledger.settlement.v1 import settlement_pb2
from tests.e2e.journey import Vendor, rid
from tests.e2e.test_journey import agreed_claim
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The IDR claims: served mid-September, initially paid October 1st, open-negotiation notice
# October 5th; IDR from the first day the NSA allows (mid-November), so the award is not yet
# overdue on the machine's calendar (late November 2026).
IDR_SERVICE_DATE = "2026-09-15"
INITIAL_PAYMENT = "2026-10-01"
NOTICE = "2026-10-05"


async def idr_claim(vendor: Vendor) -> tuple[str, str]:
    claim_id, pcn = (await vendor.import_claims(3, service_date=IDR_SERVICE_DATE))[0]
    triage = await vendor.adjudicate_and_triage(claim_id, received=INITIAL_PAYMENT)
    assert triage.route == claims_pb2.ROUTE_FEDERAL_IDR, triage
    return claim_id, pcn


async def paid_in_full(vendor: Vendor, claim_id: str) -> settlement_pb2.Settlement:
    async def paid() -> settlement_pb2.Settlement | None:
        current = await vendor.settlement_of(claim_id)
        return current if current.status == settlement_pb2.SETTLEMENT_STATUS_PAID else None

    return await eventually(paid, timeout=30)  # type: ignore[arg-type]


async def test_idr_won_award_paid_in_two_parts(stack, channel):
    stack.require("claims", "negotiation", "settlement", "fees", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    await vendor.publish_fee_schedule(rate_bps=2000)
    claim_id, pcn = await idr_claim(vendor)
    determined = await vendor.idr_determined(claim_id, npb.PARTY_PROVIDER, 160_000, 70_000,
                                             NOTICE)
    assert determined.status == "determined" and determined.award_total_cents == 160_000

    settlement = await vendor.settlement_of(claim_id)
    assert settlement.source == "idr_determination"
    owed = settlement.amount_owed_cents
    assert owed == 160_000 - 15_000 - 45_000
    # Part one by 835, part two by a manual check.
    paid_on = date.fromisoformat(settlement.decided_on)
    first, _ = await vendor.remit_835(pcn, 40_000, paid_on,
                                      service_date=date.fromisoformat(IDR_SERVICE_DATE))
    assert first.status == settlement_pb2.IMPORT_STATUS_POSTED, first

    async def partly_paid() -> bool:
        current = await vendor.settlement_of(claim_id)
        assert current.outstanding_cents == owed - 40_000, current
        return current.status == settlement_pb2.SETTLEMENT_STATUS_PARTLY_PAID

    await eventually(partly_paid, timeout=30)  # type: ignore[arg-type]
    await vendor.post_payment(settlement_pb2.PostPaymentRequest(
        request_id=rid(), claim_id=claim_id, amount_cents=owed - 40_000,
        method=settlement_pb2.PAYMENT_METHOD_CHECK, reference="CHK-1001",
        paid_on=paid_on.isoformat()))
    done = await paid_in_full(vendor, claim_id)
    assert done.outstanding_cents == 0
    # 20 % of the recovery above the initial payment.
    account = await vendor.fee_account(claim_id, billed_cents=owed * 20 // 100)
    assert account.stage == fees_pb2.RESOLUTION_STAGE_IDR


async def test_idr_lost_the_payers_offer_becomes_the_award(stack, channel):
    stack.require("claims", "negotiation", "settlement")
    vendor = await Vendor.enrol(stack, channel)
    claim_id, _ = await idr_claim(vendor)
    determined = await vendor.idr_determined(claim_id, npb.PARTY_PAYER, 160_000, 70_000, NOTICE)
    assert determined.award_total_cents == 70_000
    settlement = await vendor.settlement_of(claim_id)
    assert settlement.amount_owed_cents == 70_000 - 15_000 - 45_000


async def test_clawback_reverses_the_fee_with_a_credit_memo(stack, channel):
    stack.require("claims", "negotiation", "settlement", "fees")
    vendor = await Vendor.enrol(stack, channel)
    await vendor.publish_fee_schedule(rate_bps=2500)
    claim_id, pcn, _ = await agreed_claim(vendor, bulk=2)
    await vendor.settlement_of(claim_id)
    paid, _ = await vendor.remit_835(pcn, 60_000, date(2026, 11, 20))
    assert paid.status == settlement_pb2.IMPORT_STATUS_POSTED, paid
    await vendor.fee_account(claim_id, billed_cents=15_000)
    # The payer takes the payment back: finance reverses it.
    settlement = await paid_in_full(vendor, claim_id)
    payment = next(p for p in settlement.payments if p.remittance_id)
    await vendor.settlement.ReversePayment(settlement_pb2.ReversePaymentRequest(
        request_id=rid(), claim_id=claim_id, payment_id=payment.payment_id,
        reason="payer recoupment (WO)"), metadata=vendor.md("finance"), timeout=15)
    account = await vendor.fee_account(claim_id, billed_cents=0)
    kinds = [line.kind for line in account.lines]
    assert fees_pb2.FEE_LINE_KIND_CREDIT_MEMO in kinds
    credit = [line for line in account.lines if line.kind == fees_pb2.FEE_LINE_KIND_CREDIT_MEMO]
    assert sum(line.amount_cents for line in credit) == -15_000


async def test_another_vendor_sees_none_of_it(stack, channel):
    stack.require("claims", "negotiation", "settlement", "fees", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    await vendor.publish_fee_schedule()
    claim_id, _, nid = await agreed_claim(vendor, bulk=1)
    await vendor.settlement_of(claim_id)
    other = await Vendor.enrol(stack, channel)
    calls = [
        (other.claims.GetClaim, claims_pb2.GetClaimRequest(claim_id=claim_id), "negotiator"),
        (other.negotiation.GetNegotiation, npb.GetNegotiationRequest(negotiation_id=nid),
         "negotiator"),
        (other.settlement.GetSettlement,
         settlement_pb2.GetSettlementRequest(claim_id=claim_id), "finance"),
        (other.fees.GetFeeAccount, fees_pb2.GetFeeAccountRequest(claim_id=claim_id), "finance"),
    ]
    for call, request, role in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request, metadata=other.md(role), timeout=15)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND, call
    # The auditor of the other vendor replays nothing of it.
    replay = await other.json("auditor", "/v1/audit/ReplayClaim", {"claimId": claim_id})
    assert replay.status == 404 and replay.json()["error"]["status"] == "NOT_FOUND"
    # And its negotiator cannot even reach the claim by spoofing the tenant header.
    spoofed = (*other.md("negotiator"), ("x-tenant-id", vendor.tenant))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await other.claims.GetClaim(claims_pb2.GetClaimRequest(claim_id=claim_id),
                                    metadata=spoofed, timeout=15)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
