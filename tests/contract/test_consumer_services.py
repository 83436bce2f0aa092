# The shared `eventually` helper is typed so that async probes infer `Never`.
# mypy: disable-error-code="arg-type,var-annotated,return-value"
"""Consumers end to end on real PostgreSQL and NATS: golden events in, the expected effect out.

fees bills the right fee from the golden PaymentPosted; settlement opens the settlement with the
due date negotiation stated and posts the fee from the golden FeeAssessed; an event of an
unknown version is dead-lettered with the reason.
"""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest

from oonledger.fees.v1 import fees_pb2, fees_pb2_grpc
from oonledger.settlement.v1 import settlement_pb2 as spb
from oonledger.settlement.v1 import settlement_pb2_grpc
from services.common.settings import Settings
from services.common.wire import subject_for
from services.fees.main import build as build_fees
from services.settlement.main import build as build_settlement
from services.settlement.tests.conftest import claim_refs_count
from tests.support.plugin import call_metadata, channel_to, eventually

from . import golden
from .producers import CLAIM_ID

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def publish(runtime: Any, *envelopes: Any) -> None:
    settings: Settings = runtime.settings
    js = runtime.infra.js
    for envelope in envelopes:
        prefix = settings.subject_prefix_for(envelope.service)
        await js.publish(subject_for(prefix, envelope), envelope.SerializeToString(),
                         headers={"Nats-Msg-Id": envelope.event_id})


async def answer(call: Any) -> Any:
    try:
        return await call()
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise


@pytest.fixture(scope="module")
async def fees(service_runner: Any) -> Any:
    runtime = await service_runner.start("fees", build_fees)
    yield runtime
    runtime.infra.nc.options["drain_timeout"] = 2
    await service_runner.stop(runtime)


@pytest.fixture(scope="module")
async def settlement(service_runner: Any) -> Any:
    runtime = await service_runner.start("settlement", build_settlement)
    yield runtime
    await service_runner.stop(runtime)


async def test_fees_bills_the_right_fee_from_the_golden_payment(fees: Any) -> None:
    tenant = "golden-" + uuid.uuid4().hex[:8]
    md = call_metadata(tenant)
    stub = fees_pb2_grpc.FeesServiceStub(channel_to(fees))
    await stub.PublishFeeSchedule(fees_pb2.PublishFeeScheduleRequest(
        request_id=uuid.uuid4().hex, client_id="client-acme-er", effective_from="2026-01-01",
        terms=fees_pb2.FeeTerms(default_tiers=[fees_pb2.Tier(floor_cents=0, rate_bps=2500)])),
        metadata=md)
    await publish(fees, *(golden.envelope(service, event_type, tenant_id=tenant)
                          for service, event_type in (
                              ("claims", "ClaimRegistered"), ("claims", "AdjudicationRecorded"),
                              ("settlement", "SettlementOpened"),
                              ("settlement", "PaymentPosted"))))

    async def billed() -> Any:
        response = await answer(lambda: stub.GetFeeAccount(
            fees_pb2.GetFeeAccountRequest(claim_id=CLAIM_ID), metadata=md))
        return response and response.account.lines and response.account

    account = await eventually(billed, timeout=30)
    assert account.client_id == "client-acme-er"
    assert account.initial_payment_cents == 45_000
    # 25 % of the 1,000.00 the golden payment recovered: never a fee of 0.
    assert [(line.amount_cents, line.remittance_trn) for line in account.lines] == [
        (25_000, "EFT-991")]


async def test_an_event_of_an_unknown_version_is_dead_lettered_with_the_reason(
        fees: Any) -> None:
    tenant = "golden-" + uuid.uuid4().hex[:8]
    newer = golden.envelope("settlement", "PaymentPosted", tenant_id=tenant)
    newer.schema_version = 2
    await publish(fees, newer)
    settings: Settings = fees.settings
    subject = f"{settings.subject_prefix_for('deadletter')}.fees-settlement-payments"

    async def dead_lettered() -> Any:
        try:
            msg = await fees.infra.js.get_last_msg(settings.dead_letter_stream, subject)
        except Exception:
            return None
        return msg if msg.data == newer.SerializeToString() else None

    msg = await eventually(dead_lettered, timeout=30)
    assert "unknown schema version" in msg.headers["Oon-Dead-Reason"]
    assert "PaymentPosted v2" in msg.headers["Oon-Dead-Reason"]


async def test_settlement_opens_on_negotiations_facts_and_posts_the_golden_fee(
        settlement: Any) -> None:
    tenant = "golden-" + uuid.uuid4().hex[:8]
    md = call_metadata(tenant)
    stub = settlement_pb2_grpc.SettlementServiceStub(channel_to(settlement))
    await publish(settlement, golden.envelope("claims", "ClaimRegistered", tenant_id=tenant),
                  golden.envelope("claims", "AdjudicationRecorded", tenant_id=tenant),
                  golden.envelope("claims", "ClaimTriaged", tenant_id=tenant))
    # The golden claim facts (number, ICN, NSA protection) are in settlement's read model.
    assert await eventually(lambda: claim_refs_count(settlement, tenant), timeout=30) == 1
    await publish(settlement,
                  golden.envelope("negotiation", "SettlementAgreed", tenant_id=tenant))

    async def opened() -> Any:
        response = await answer(lambda: stub.GetSettlement(
            spb.GetSettlementRequest(claim_id=CLAIM_ID), metadata=md))
        return response and response.settlement

    s = await eventually(opened, timeout=30)
    assert (s.decided_on, s.due_date) == ("2026-10-01", "2026-10-31")  # as negotiation said
    assert (s.agreed_total_cents, s.patient_cost_sharing_cents, s.already_paid_cents,
            s.amount_owed_cents) == (120_000, 15_000, 45_000, 60_000)
    assert s.payer_id == "87726" and s.nsa_protected  # from the golden claim and triage

    await publish(settlement, golden.envelope("fees", "FeeAssessed", tenant_id=tenant))

    async def fee_posted() -> Any:
        response = await stub.ListPostings(spb.ListPostingsRequest(claim_id=CLAIM_ID),
                                           metadata=md)
        return [p.amount_cents for tx in response.transactions for p in tx.postings
                if p.account == "fee_expense"]

    assert await eventually(fee_posted, timeout=30) == [25_000]
