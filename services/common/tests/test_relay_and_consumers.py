"""Relay (outbox → JetStream) and consumers (exactly-once effect) against real PostgreSQL + NATS."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import nats
import pytest

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.consumer import Delivery, Subscription
from services.common.context import CommandContext
from services.common.jetstream import ensure_stream, stream_config
from services.common.processors import ProjectionProcessor
from services.common.runtime import Infrastructure, ServiceParts
from services.common.tests.sample import Tally, TallyApp
from services.common.wire import decode_payload
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

# A private upstream stream, so no real service of the test session consumes these envelopes.
UPSTREAM = "fakeupstream"


def ctx(tenant: str) -> CommandContext:
    return CommandContext(tenant_id=tenant, actor="t", now=datetime.now(UTC),
                          request_id=uuid.uuid4().hex)


async def stream_messages(nats_url: str, stream: str) -> list[EventEnvelope]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out: list[EventEnvelope] = []
        if not info.state.messages:
            return out
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            out.append(EventEnvelope.FromString(msg.data))
        return out
    finally:
        await nc.close()


async def test_relay_publishes_every_event_once_across_crash_and_replay(
    service_runner, infra_urls, make_settings
):
    settings = make_settings("relaytest")
    app = TallyApp(settings)
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    for i in range(30):
        tally = Tally.open(ctx(tenant), f"t{i}", "Jane Roe")
        tally.increment(ctx(tenant), i + 1)
        app.save_all(tally)  # 60 events recorded before any relay runs

    def build(infra: Infrastructure) -> ServiceParts:
        return ServiceParts(bindings=[], app=app)

    runtime = await service_runner.start("relaytest", build)
    stream = settings.stream_for("relaytest")

    async def all_published() -> bool:
        return len(await stream_messages(infra_urls.nats_url, stream)) >= 60

    await eventually(all_published)
    await service_runner.stop(runtime)

    # Crash after publishing but before the checkpoint moved: rewind the checkpoint.
    import asyncpg

    conn = await asyncpg.connect(infra_urls.database_url)
    await conn.execute(f'UPDATE "{settings.schema}".relay_checkpoint SET notification_id = 10')
    await conn.close()
    app2 = TallyApp(settings)
    more = Tally.open(ctx(tenant), "after-crash", "Jane Roe")
    app2.save_all(more)

    runtime = await service_runner.start(
        "relaytest", lambda infra: ServiceParts(bindings=[], app=app2)
    )
    await eventually(lambda: runtime.relay and runtime.relay.published_through >= 61)
    messages = await stream_messages(infra_urls.nats_url, stream)
    ids = [m.notification_id for m in messages]
    assert sorted(ids) == list(range(1, 62)), "every event exactly once, none lost"
    assert ids == sorted(ids), "published in notification order"
    opened = next(m for m in messages if m.event_type == "TallyOpened")
    payload = decode_payload(opened)
    assert "patient_name" not in payload and payload["phi_redacted"] == ["patient_name"]
    assert opened.tenant_id == tenant and opened.claim_id == opened.aggregate_id
    assert opened.event_id == f"relaytest:{opened.notification_id}"
    await service_runner.stop(runtime)


async def test_projection_consumer_applies_redelivered_event_once_and_dead_letters_poison(
    service_runner, infra_urls, make_settings
):
    settings = make_settings("consumertest")
    seen: list[str] = []
    applied: list[str] = []  # told once committed: never the duplicate or the rolled-back one

    async def handler(conn, delivery: Delivery) -> None:
        if delivery.payload.get("poison"):
            raise ValueError("cannot handle this one")
        await conn.execute(
            f'INSERT INTO "{settings.schema}".seen (event_id) VALUES ($1)',
            delivery.envelope.event_id,
        )
        seen.append(delivery.envelope.event_id)

    async def migrate(pool) -> None:
        await pool.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.schema}"')
        await pool.execute(
            f'CREATE TABLE IF NOT EXISTS "{settings.schema}".seen (event_id text)'
        )

    def build(infra: Infrastructure) -> ServiceParts:
        processor = ProjectionProcessor(infra.pool, settings.schema, "seen", handler,
                                        on_applied=lambda d: applied.append(d.envelope.event_id))
        return ServiceParts(
            bindings=[],
            migrations=[migrate],
            subscriptions=[
                Subscription(upstream=UPSTREAM, name="seen", processor=processor,
                             max_deliver=2, backoff=(0.1, 0.1))
            ],
        )

    nc = await nats.connect(infra_urls.nats_url)
    js = nc.jetstream()
    await ensure_stream(js, stream_config(settings, UPSTREAM))
    runtime = await service_runner.start("consumertest", build)
    prefix = settings.subject_prefix_for(UPSTREAM)

    def envelope(n: int, poison: bool = False) -> bytes:
        return EventEnvelope(
            event_id=f"{UPSTREAM}:{n}", service=UPSTREAM, notification_id=n, tenant_id="t",
            event_type="ClaimRegistered", aggregate_type="Claim",
            payload=b'{"poison":true}' if poison else b"{}",
        ).SerializeToString()

    base = 1_000_000 + uuid.uuid4().int % 1_000_000
    await js.publish(f"{prefix}.claim.ClaimRegistered", envelope(base))
    # The same event again under another message id (a relay re-publish after the dedupe window).
    await js.publish(f"{prefix}.claim.ClaimRegistered", envelope(base),
                     headers={"Nats-Msg-Id": f"again-{base}"})
    await js.publish(f"{prefix}.claim.ClaimRegistered", envelope(base + 1, poison=True))
    await js.publish(f"{prefix}.claim.ClaimRegistered", envelope(base + 2))

    consumer = runtime.consumers[0]
    await eventually(lambda: consumer.dead_lettered == 1 and consumer.processed == 2)
    assert consumer.duplicates == 1
    rows = await runtime.infra.pool.fetch(f'SELECT event_id FROM "{settings.schema}".seen')
    assert sorted(r["event_id"] for r in rows) == [f"{UPSTREAM}:{base}", f"{UPSTREAM}:{base + 2}"]
    assert sorted(applied) == [f"{UPSTREAM}:{base}", f"{UPSTREAM}:{base + 2}"]

    dead = await js.get_last_msg(settings.dead_letter_stream,
                                 f"{settings.subject_prefix_for('deadletter')}.{consumer.durable}")
    assert "cannot handle this one" in dead.headers["Oon-Dead-Reason"]
    await nc.close()
    await service_runner.stop(runtime)
    await asyncio.sleep(0)
