"""A batch that waits for PostgreSQL keeps its messages: JetStream does not hand them out again."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from nats.js.api import ConsumerInfo

from services.ledger.tests.factories import negotiated_claim
from services.ledger.tests.ledger_harness import start_ledger
from tests.support.plugin import InfraUrls, ServiceRunner, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

ACK_WAIT_SECONDS = 1.0


async def test_events_held_up_by_a_locked_table_are_not_redelivered(
    service_runner: ServiceRunner,
    infra_urls: InfraUrls,
    tmp_path_factory: pytest.TempPathFactory,
    namespace: str,
) -> None:
    own = f"{namespace}ka"
    tenant, claim = f"tenant-{uuid.uuid4().hex[:8]}", f"claim-{uuid.uuid4().hex[:8]}"
    events = negotiated_claim(tenant, claim)
    ledger = await start_ledger(
        service_runner,
        tmp_path_factory.mktemp("keepalive-keys"),
        namespace=own,
        extra_env={"LEDGER_ACK_WAIT_SECONDS": str(ACK_WAIT_SECONDS)},
    )
    blocker = await asyncpg.connect(infra_urls.database_url)
    try:
        # Another session holds the table: the appender's COPY waits behind the lock for
        # three times the ack wait.
        locked = blocker.transaction()
        await locked.start()
        await blocker.execute(f'LOCK TABLE "{ledger.schema}".audit_entries IN EXCLUSIVE MODE')
        await ledger.publish(events)
        await asyncio.sleep(3 * ACK_WAIT_SECONDS)
        await locked.rollback()

        entries = await ledger.wait_for(tenant, claim, len(events))
        assert sorted(e.event_id for e in entries) == sorted(f.event_id for f in events)

        streams = [
            service_runner.make_settings("ledger", namespace=own).stream_for(service)
            for service in ("claims", "negotiation", "settlement", "fees")
        ]

        async def consumers() -> list[ConsumerInfo]:
            return [await ledger.js.consumer_info(s, "ledger-audit") for s in streams]

        async def all_acked() -> bool:
            return all(c.num_ack_pending == c.num_pending == 0 for c in await consumers())

        await eventually(all_acked, timeout=10)
        infos = await consumers()
        assert {c.config.ack_wait for c in infos} == {ACK_WAIT_SECONDS}
        # Every delivery was the first one of its message: a redelivery would have advanced
        # the consumer sequence past the stream sequence.
        delivered = [c.delivered for c in infos if c.delivered is not None]
        assert [d.consumer_seq - d.stream_seq for d in delivered] == [0, 0, 0, 0]
    finally:
        await blocker.close()
        await ledger.close(service_runner)

