"""The batch consumer follows the shared fault rules: a batch that fails on a database fault
falls back to one message at a time, retried in place until the fault clears, in order, and
never dead-lettered."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
import nats
import pytest
from grpc_health.v1 import health_pb2

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.consumer import Delivery, Subscription
from services.common.health import consumer_part
from services.common.jetstream import ensure_stream, stream_config
from services.common.runtime import Infrastructure, ServiceParts
from services.fees.adapters.batch_consumer import BatchConsumer
from tests.support.plugin import eventually, health_of

pytestmark = pytest.mark.asyncio(loop_scope="session")

UPSTREAM = "batchfaultupstream"  # a private stream no real service consumes


class Rows:
    """A batch processor writing one row per event; 55P03 while its table is locked."""

    def __init__(self, pool: asyncpg.Pool, table: str) -> None:
        self.pool = pool
        self.table = table

    async def _insert(self, deliveries: Sequence[Delivery]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL lock_timeout = '50ms'")
            for delivery in deliveries:
                await conn.execute(f"INSERT INTO {self.table} (event_id) VALUES ($1)",
                                   delivery.envelope.event_id)

    async def process_batch(self, deliveries: Sequence[Delivery]) -> list[bool | Exception]:
        await self._insert(deliveries)
        return [True] * len(deliveries)

    async def process(self, delivery: Delivery) -> bool:
        await self._insert([delivery])
        return True


async def test_a_failing_batch_is_retried_in_place_in_order_and_never_dead_lettered(
    service_runner, infra_urls, make_settings
):
    settings = make_settings("batchfault")
    table = f'"{settings.schema}".rows'
    consumers: list[BatchConsumer] = []

    async def migrate(pool: asyncpg.Pool) -> None:
        await pool.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.schema}"')
        await pool.execute(f"CREATE TABLE IF NOT EXISTS {table} "
                           "(position bigserial PRIMARY KEY, event_id text NOT NULL)")

    def build(infra: Infrastructure) -> ServiceParts:
        rows = Rows(infra.pool, table)
        consumer = BatchConsumer(infra.nc, infra.settings, Subscription(
            UPSTREAM, "rows", rows, max_deliver=2, backoff=(0.1, 0.1)), rows, infra.monitor)
        consumers.append(consumer)
        return ServiceParts(bindings=[], migrations=[migrate], background=[consumer.run])

    nc = await nats.connect(infra_urls.nats_url)
    js = nc.jetstream()
    await ensure_stream(js, stream_config(settings, UPSTREAM))
    runtime = await service_runner.start("batchfault", build, stall_seconds=1.0)
    consumer = consumers[0]
    part = consumer_part(consumer.durable)
    locker = await asyncpg.connect(infra_urls.database_url)
    lock = locker.transaction()
    try:
        assert await health_of(runtime, part) == health_pb2.HealthCheckResponse.SERVING
        await lock.start()
        await locker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        base = 3_000_000 + uuid.uuid4().int % 1_000_000
        ids = [f"{UPSTREAM}:{base + i}" for i in range(5)]
        for i, event_id in enumerate(ids):
            envelope = EventEnvelope(
                event_id=event_id, service=UPSTREAM, notification_id=base + i, tenant_id="t",
                event_type="Counted", aggregate_type="Count", payload=b"{}")
            await js.publish(f"{settings.subject_prefix_for(UPSTREAM)}.count.Counted",
                             envelope.SerializeToString())

        async def blocked() -> bool:
            return (await health_of(runtime, part) == health_pb2.HealthCheckResponse.NOT_SERVING
                    and consumer.fault_retries >= 5)

        await eventually(blocked, timeout=20)
        assert (consumer.dead_lettered, consumer.processed) == (0, 0)
        assert "LockNotAvailable" in runtime.monitor.status()["parts"][part]["reason"]

        await lock.rollback()
        await eventually(lambda: consumer.processed == 5, timeout=20)
        stored = await runtime.infra.pool.fetch(f"SELECT event_id FROM {table} ORDER BY position")
        assert [r["event_id"] for r in stored] == ids, "each once, in stream order"
        assert (consumer.dead_lettered, consumer.duplicates) == (0, 0)

        async def serving_again() -> bool:
            return await health_of(runtime, part) == health_pb2.HealthCheckResponse.SERVING

        await eventually(serving_again)
    finally:
        if lock._state.name == "STARTED":
            await lock.rollback()
        await locker.close()
        await nc.close()
        await service_runner.stop(runtime)
