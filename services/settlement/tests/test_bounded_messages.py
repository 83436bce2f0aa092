"""Against a broker whose max_payload is lowered: a remittance whose old single event would be
refused is recorded in messages that all fit, every one reaches JetStream, and what settlement
records afterwards flows too. A command whose one event cannot fit the budget is refused with
FAILED_PRECONDITION and nothing is stored."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import grpc
import pytest

from oonledger.settlement.v1 import settlement_pb2 as pb
from oonledger.settlement.v1 import settlement_pb2_grpc
from services.common.localservers import LocalNats
from services.common.runtime import ServiceRuntime
from services.common.wire import canonical_json
from services.settlement.main import build
from services.x12.writer_835 import RemittanceSpec, build_835, bulk_claims
from tests.support.plugin import call_metadata, channel_to, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

MAX_PAYLOAD = 96 * 1024  # the broker's limit in this test (NATS default: 1 MiB)
BUDGET = 80 * 1024  # OON_MAX_EVENT_BYTES, under it
CLAIMS = 1_000  # none matches a claim: each leaves an unapplied-cash journal entry


@pytest.fixture(scope="module")
def small_nats() -> Iterator[str]:
    base = Path(tempfile.mkdtemp(prefix="oonledger-small-nats-"))
    server = LocalNats(base / "nats", max_payload=MAX_PAYLOAD)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
async def settlement_on_small_broker(
    service_runner: Any, namespace: str, small_nats: str
) -> ServiceRuntime:
    return await service_runner.start(  # type: ignore[no-any-return]
        "settlement", build, namespace=f"{namespace}_mp", nats_url=small_nats,
        max_event_bytes=BUDGET)


def era(claims: Any, trace: str) -> bytes:
    return build_835(RemittanceSpec(trace, date(2026, 11, 2), claims)).encode()


async def import_file(runtime: ServiceRuntime, tenant: str, content: bytes) -> Any:
    stub = settlement_pb2_grpc.SettlementServiceStub(channel_to(runtime))
    return await stub.ImportRemittance(
        pb.ImportRemittanceRequest(content=content, file_name="big.835",
                                   request_id=uuid.uuid4().hex),
        metadata=call_metadata(tenant), timeout=120)


async def stored_events(runtime: ServiceRuntime) -> tuple[int, int]:
    """(how many events settlement stored, the highest notification id)."""
    assert runtime.infra is not None and runtime.parts is not None
    table = runtime.parts.app.recorder.events_table_name  # type: ignore[union-attr]
    async with runtime.infra.pool.acquire() as conn:
        row = await conn.fetchrow(
            f'SELECT count(*), max(notification_id) FROM "{runtime.settings.schema}".{table}')
    return int(row[0]), int(row[1] or 0)


async def everything_published(runtime: ServiceRuntime) -> bool:
    assert runtime.relay is not None and runtime.infra is not None
    count, last = await stored_events(runtime)
    if runtime.relay.published_through < last:
        return False
    info = await runtime.infra.js.stream_info(runtime.settings.stream_for("settlement"))
    assert info.state.messages == count  # one message per stored event, none refused
    return True


async def test_every_event_of_a_large_remittance_reaches_a_broker_with_a_small_max_payload(
    settlement_on_small_broker: ServiceRuntime,
) -> None:
    runtime = settlement_on_small_broker
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    claims = bulk_claims(CLAIMS, service_date=date(2026, 9, 1), prefix="NOMATCH")
    response = await import_file(runtime, tenant, era(claims, f"BIG{uuid.uuid4().hex[:8]}"))
    assert response.status == pb.IMPORT_STATUS_POSTED
    (remittance,) = response.remittances
    assert (remittance.claim_count, remittance.exception_count) == (CLAIMS, CLAIMS)

    assert runtime.parts is not None and runtime.parts.app is not None
    app = runtime.parts.app
    events: list[Any] = [app.mapper.to_domain_event(n)
                         for n in app.recorder.select_notifications(start=1, limit=100_000)]
    chunk_journals = [e.journal for e in events if type(e).__name__ == "RemittanceChunkPosted"]
    # The old shape (the whole journal on RemittanceImported) would not fit this broker.
    assert len(canonical_json([t for j in chunk_journals for t in j])) > MAX_PAYLOAD
    assert sum(len(j) for j in chunk_journals) == CLAIMS

    await eventually(lambda: everything_published(runtime), timeout=60)

    # A later command's events flow too (the relay is not stuck behind the large file).
    later = await import_file(runtime, tenant, era(claims[:2], f"LATER{uuid.uuid4().hex[:8]}"))
    assert later.status == pb.IMPORT_STATUS_POSTED
    _, last = await stored_events(runtime)
    await eventually(lambda: everything_published(runtime), timeout=30)
    assert runtime.relay is not None and runtime.relay.published_through == last


async def test_a_command_whose_event_cannot_fit_is_refused_and_nothing_is_stored(
    service_runner: Any, namespace: str
) -> None:
    runtime = await service_runner.start(
        "settlement", build, namespace=f"{namespace}_tb", max_event_bytes=16 * 1024)
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    before = await stored_events(runtime)
    claims = bulk_claims(150, service_date=date(2026, 9, 1), prefix="NOFIT")  # one chunk
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await import_file(runtime, tenant, era(claims, f"NOFIT{uuid.uuid4().hex[:8]}"))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    details = refused.value.details() or ""
    assert "the RemittanceChunkPosted event would be about" in details, details
    assert "over the 16 KiB message budget (OON_MAX_EVENT_BYTES)" in details, details
    assert await stored_events(runtime) == before
