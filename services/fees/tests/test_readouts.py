# mypy: disable-error-code="arg-type,var-annotated,return-value"
"""Fee account read-outs (docs/fees.md "Read-outs"): recovered with and without the payer's
interest, and the fee before and after the minimum / cap, through gRPC."""

from __future__ import annotations

import datetime as dt

import pytest

from oonledger.fees.v1 import fees_pb2
from services.fees.tests.conftest import FeesHarness
from services.fees.tests.test_service import account, registered_claim
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_account_shows_recovered_with_and_without_interest_and_fee_limits(
        fees: FeesHarness) -> None:
    tenant = fees.tenant()
    # 10 % of what was recovered, interest included, at least $150, at most $250.
    await fees.publish_schedule(tenant, "client-r", "2026-01-01", fees_pb2.FeeTerms(
        default_tiers=[fees_pb2.Tier(floor_cents=0, rate_bps=1000)], minimum_cents=15_000,
        cap_cents=25_000, include_interest=True))
    claim_id = await registered_claim(fees, tenant, "client-r")
    upstream = fees.upstream(tenant)
    await upstream.settlement_opened(claim_id, 40_000)
    before = await account(fees, tenant, claim_id)
    assert (before.fee_schedule_version, before.fee_before_limits_cents) == (0, 0)
    await upstream.payment_posted(claim_id, 100_000, dt.date(2026, 3, 2), "EFT-R1")
    await upstream.emit("settlement", "InterestPosted", claim_id, {
        "interest_id": "int-1", "amount_cents": 2_000, "posted_on": "2026-03-03",
        "reference": "EFT-R1"})

    async def with_interest() -> fees_pb2.FeeAccount | None:
        state = await account(fees, tenant, claim_id)
        return state if state.interest_cents == 2_000 else None

    state = await eventually(with_interest)
    assert (state.recovered_cents, state.recovered_without_interest_cents,
            state.recovered_with_interest_cents, state.fee_base_cents) == (
        100_000, 100_000, 102_000, 102_000)
    # 10 % of $1,020 = $102 -> the $150 minimum applies.
    assert (state.fee_before_limits_cents, state.fee_after_limits_cents, state.minimum_applied,
            state.cap_applied, state.fee_schedule_version) == (10_200, 15_000, True, False, 1)
    assert state.fee_billed_cents == 15_000

    await upstream.payment_posted(claim_id, 300_000, dt.date(2026, 3, 9), "EFT-R2")

    async def capped() -> fees_pb2.FeeAccount | None:
        current = await account(fees, tenant, claim_id)
        return current if current.paid_cents == 400_000 else None

    state = await eventually(capped)
    # 10 % of $4,020 = $402 -> the $250 cap applies.
    assert (state.recovered_with_interest_cents, state.recovered_without_interest_cents) == (
        402_000, 400_000)
    assert (state.fee_before_limits_cents, state.fee_after_limits_cents, state.minimum_applied,
            state.cap_applied) == (40_200, 25_000, False, True)

    # ROI over March: recovered $4,000 without interest, $4,020 with it.
    request = fees_pb2.GetRoiReportRequest(client_id="client-r", period_start="2026-03-01",
                                           period_end="2026-03-31")

    async def roi() -> fees_pb2.GetRoiReportResponse | None:
        response = await fees.stub.GetRoiReport(request, metadata=fees.md(tenant))
        total = response.total
        return response if total.recovered_cents == 400_000 and total.interest_cents else None

    total = (await eventually(roi)).total
    assert (total.recovered_cents, total.interest_cents, total.recovered_with_interest_cents,
            total.fees_cents) == (400_000, 2_000, 402_000, 25_000)


async def test_preview_shows_the_fee_before_limits(fees: FeesHarness) -> None:
    tenant = fees.tenant()
    await fees.publish_schedule(tenant, "client-p", "2026-01-01", fees_pb2.FeeTerms(
        default_tiers=[fees_pb2.Tier(floor_cents=0, rate_bps=1000)], cap_cents=5_000))
    reply = await fees.stub.PreviewFee(fees_pb2.PreviewFeeRequest(
        client_id="client-p", amount_cents=100_000, posting_date="2026-03-02",
        stage=fees_pb2.RESOLUTION_STAGE_IDR), metadata=fees.md(tenant))
    assert (reply.fee_before_limits_cents, reply.fee_cents, reply.cap_applied) == (
        10_000, 5_000, True)
