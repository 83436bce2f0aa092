# The shared `eventually` helper is typed so that async probes infer `Never`; see the report.
# mypy: disable-error-code="arg-type,var-annotated,return-value"
"""Settlement events that name no claim (a remittance file received, a remittance imported) are
none of the fees service's business: acked with no effect, never dead-lettered, and billing
goes on around them."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid

import pytest
from nats.js.errors import NotFoundError

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from oonledger.fees.v1 import fees_pb2
from services.common.consumer import Subscription
from services.fees.adapters.batch_consumer import BatchConsumer
from services.fees.tests.conftest import FeesHarness
from services.fees.tests.test_service import TWENTY_FIVE_PERCENT, account, registered_claim
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

FILE_LEVEL = ("RemittanceFileReceived", "RemittanceImported", "RemittanceChunkPosted")


async def publish_file_level_events(fees: FeesHarness, tenant: str) -> set[str]:
    """What the settlement relay publishes for an imported 835: events of the file and of the
    remittance aggregates, whose envelopes carry no claim id."""
    upstream = fees.upstream(tenant)
    file_id, remittance_id = str(uuid.uuid4()), str(uuid.uuid4())
    received = upstream.envelope("settlement", "RemittanceFileReceived", "", {
        "content_sha256": uuid.uuid4().hex, "file_name": "era.835", "size_bytes": 1234})
    received.aggregate_type, received.aggregate_id = "RemittanceFile", file_id
    imported = upstream.envelope("settlement", "RemittanceImported", "", {
        "file_id": file_id, "trace_number": "EFT-FILE", "payer_id": "payer-1",
        "payment_date": "2026-03-02", "total_paid_cents": 60_000, "claim_count": 1,
        "matched_count": 1, "exception_count": 0, "chunk_count": 1})
    imported.aggregate_type, imported.aggregate_id = "RemittanceRecord", remittance_id
    chunk = upstream.envelope("settlement", "RemittanceChunkPosted", "", {
        "remittance_id": remittance_id, "file_id": file_id, "trace_number": "EFT-FILE",
        "number": 1, "first_ordinal": 1, "last_ordinal": 1, "matched_count": 1,
        "exception_count": 0, "journal": [], "warnings": []})
    chunk.aggregate_type, chunk.aggregate_id = "RemittanceChunk", str(uuid.uuid4())
    for envelope in (received, chunk, imported):
        await upstream.publish(envelope)
    return {received.event_id, chunk.event_id, imported.event_id}


async def dead_lettered_event_ids(fees: FeesHarness) -> set[str]:
    assert fees.runtime.infra is not None
    js, settings = fees.runtime.infra.js, fees.runtime.settings
    state = (await js.stream_info(settings.dead_letter_stream)).state
    found = set()
    for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
        with contextlib.suppress(Exception):  # a sequence deleted in between
            message = await js.get_msg(settings.dead_letter_stream, seq)
            assert message.data is not None
            found.add(EventEnvelope.FromString(message.data).event_id)
    return found


async def test_file_level_settlement_events_are_ignored_and_billing_goes_on(
        fees: FeesHarness) -> None:
    tenant = fees.tenant()
    await fees.publish_schedule(tenant, "client-a", "2026-01-01", TWENTY_FIVE_PERCENT)
    claim_id = await registered_claim(fees, tenant, "client-a")
    upstream = fees.upstream(tenant)
    await upstream.settlement_opened(claim_id, 40_000)
    file_events = await publish_file_level_events(fees, tenant)
    posted = await upstream.payment_posted(claim_id, 60_000, dt.date(2026, 3, 2), "EFT-FILE")
    file_events |= await publish_file_level_events(fees, tenant)

    async def billed() -> fees_pb2.FeeAccount | None:
        state = await account(fees, tenant, claim_id)
        return state if state.fee_billed_cents == 15_000 else None

    state = await eventually(billed)
    assert state.paid_cents == 60_000
    assert [line.source_event_id for line in state.lines] == [posted.event_id]

    # A consumer whose broker filter lets the file-level events through (as one created before
    # the filter, or by another deployment, would): each is acked as "nothing to do".
    assert fees.runtime.infra is not None and fees.runtime.parts is not None
    intake = fees.consumer("settlement-payments").batch_processor
    wide = BatchConsumer(fees.runtime.infra.nc, fees.runtime.settings, Subscription(
        "settlement", f"file-level-{uuid.uuid4().hex[:8]}", intake, event_types=FILE_LEVEL,
        max_deliver=8, batch=100), intake)
    js, stream = fees.runtime.infra.js, fees.runtime.settings.stream_for("settlement")
    task = asyncio.create_task(wide.run())
    try:
        async def all_acked() -> bool:
            try:
                info = await js.consumer_info(stream, wide.durable)
            except NotFoundError:  # not created yet
                return False
            return (wide.duplicates >= len(file_events) and info.num_pending == 0
                    and info.num_ack_pending == 0)

        await eventually(all_acked)
        assert (wide.processed, wide.dead_lettered) == (0, 0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(stream, wide.durable)

    assert not file_events & await dead_lettered_event_ids(fees)
    after = await account(fees, tenant, claim_id)
    assert (after.paid_cents, after.fee_billed_cents, len(after.lines)) == (60_000, 15_000, 1)
