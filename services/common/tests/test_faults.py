"""Nothing stalls silently, nothing is skipped: a database fault is retried in place and never
dead-lettered; a message the broker refuses blocks the relay loudly until the cause is gone.
Real PostgreSQL and NATS throughout (the faults are real: a held table lock, a broker with a
small max_payload)."""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import nats
import pytest
from grpc_health.v1 import health_pb2
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from prometheus_client.parser import text_string_to_metric_families

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.consumer import ArrivedEarly, Delivery, Subscription
from services.common.context import CommandContext
from services.common.health import RELAY_PART, consumer_part
from services.common.jetstream import ensure_stream, stream_config
from services.common.localservers import LocalNats
from services.common.processors import ApplicationProcessor, ProjectionProcessor
from services.common.runtime import Infrastructure, ServiceParts, ServiceRuntime
from services.common.tests.sample import Tally, TallyApp
from services.common.tests.test_relay_and_consumers import stream_messages
from tests.support.plugin import eventually, health_of

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
UPSTREAM = "faultupstream"  # a private stream no real service consumes


def ctx(tenant: str) -> CommandContext:
    return CommandContext(tenant_id=tenant, actor="t", now=datetime.now(UTC),
                          request_id=uuid.uuid4().hex)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def http_get(runtime: ServiceRuntime, path: str) -> tuple[int, str]:
    return await asyncio.to_thread(_get, f"http://127.0.0.1:{runtime.metrics_port}{path}")


async def part_status(runtime: ServiceRuntime, part: str) -> dict[str, Any]:
    _, body = await http_get(runtime, "/status")
    return dict(json.loads(body)["parts"][part])


async def metric_samples(runtime: ServiceRuntime) -> list[Any]:
    code, body = await http_get(runtime, "/metrics")
    assert code == 200
    return [s for family in text_string_to_metric_families(body) for s in family.samples]


def sample_value(samples: list[Any], name: str, **labels: str) -> float | None:
    for sample in samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return float(sample.value)
    return None


async def test_a_database_fault_is_retried_in_order_and_never_dead_lettered(
    service_runner, infra_urls, make_settings
):
    settings = make_settings("faulttest")
    table = f'"{settings.schema}".applied'

    async def handler(conn: asyncpg.Connection, delivery: Delivery) -> None:
        # A real fault while the table is locked: PostgreSQL refuses with 55P03.
        await conn.execute("SET LOCAL lock_timeout = '50ms'")
        await conn.execute(f"INSERT INTO {table} (event_id) VALUES ($1)",
                           delivery.envelope.event_id)

    async def migrate(pool: asyncpg.Pool) -> None:
        await pool.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.schema}"')
        await pool.execute(f"CREATE TABLE IF NOT EXISTS {table} "
                           "(position bigserial PRIMARY KEY, event_id text NOT NULL)")

    def build(infra: Infrastructure) -> ServiceParts:
        processor = ProjectionProcessor(infra.pool, settings.schema, "applied", handler)
        return ServiceParts(bindings=[], migrations=[migrate], subscriptions=[
            Subscription(UPSTREAM, "applied", processor, max_deliver=2, backoff=(0.1, 0.1))])

    nc = await nats.connect(infra_urls.nats_url)
    js = nc.jetstream()
    await ensure_stream(js, stream_config(settings, UPSTREAM))
    runtime = await service_runner.start("faulttest", build, stall_seconds=1.0)
    consumer = runtime.consumers[0]
    part = consumer_part(consumer.durable)
    locker = await asyncpg.connect(infra_urls.database_url)
    lock = locker.transaction()
    try:
        assert await health_of(runtime, part) == SERVING
        await lock.start()
        await locker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        base = 1_000_000 + uuid.uuid4().int % 1_000_000
        ids = [f"{UPSTREAM}:{base + i}" for i in range(3)]
        for i in range(3):
            envelope = EventEnvelope(
                event_id=ids[i], service=UPSTREAM, notification_id=base + i, tenant_id="t",
                event_type="TallyOpened", aggregate_type="Tally", payload=b"{}")
            await js.publish(f"{settings.subject_prefix_for(UPSTREAM)}.tally.TallyOpened",
                             envelope.SerializeToString())

        async def reported_blocked() -> bool:
            return (await health_of(runtime, part) == NOT_SERVING
                    and await health_of(runtime) == NOT_SERVING)

        await eventually(reported_blocked, timeout=15)
        status = await part_status(runtime, part)
        assert not status["serving"] and "LockNotAvailable" in status["reason"], status
        assert ids[0] in status["reason"], "the reason names the event it is stuck on"
        # Far beyond max_deliver (2) attempts, and longer than ack_wait (10 s): still nothing
        # dead-lettered, nothing applied, nothing handed out again.
        await eventually(lambda: consumer.fault_retries >= 7, timeout=30)
        assert (consumer.dead_lettered, consumer.processed) == (0, 0)
        samples = await metric_samples(runtime)
        assert sample_value(samples, "oonledger_part_blocked", part=part) == 1
        assert (sample_value(samples, "oonledger_consumer_fault_retries_total",
                             consumer=consumer.durable) or 0) >= 7

        await lock.rollback()  # the fault clears
        await eventually(lambda: consumer.processed == 3, timeout=20)
        rows = await runtime.infra.pool.fetch(f"SELECT event_id FROM {table} ORDER BY position")
        assert [r["event_id"] for r in rows] == ids, "each applied once, in stream order"
        assert consumer.dead_lettered == 0
        assert consumer.duplicates == 0, "held messages were kept, not redelivered"
        with pytest.raises(NotFoundError):
            await js.get_last_msg(settings.dead_letter_stream,
                                  f"{settings.subject_prefix_for('deadletter')}.{consumer.durable}")

        async def serving_again() -> bool:
            return await health_of(runtime, part) == SERVING and await health_of(runtime) == SERVING

        await eventually(serving_again)
    finally:
        if lock._state.name == "STARTED":  # a failed assertion must not leave the lock held
            await lock.rollback()
        await locker.close()
        await nc.close()
        await service_runner.stop(runtime)


async def test_relay_blocked_by_a_refused_message_alarms_then_resumes_without_loss(
    service_runner, make_settings, caplog
):
    store = Path(tempfile.mkdtemp(prefix="oon-nats-small-"))
    server = LocalNats(store, max_payload=4096)
    nats_url = server.start()
    settings = make_settings("bigrelay", nats_url=nats_url)
    app = TallyApp(settings)
    runtime = await service_runner.start(
        "bigrelay", lambda infra: ServiceParts(bindings=[], app=app),
        nats_url=nats_url, stall_seconds=1.0)
    relay = runtime.relay
    assert relay is not None
    stream = settings.stream_for("bigrelay")
    tenant = "t-" + uuid.uuid4().hex[:6]
    caplog.set_level(logging.INFO, logger="services.common.health")

    def alarms() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.levelno == logging.ERROR
                and "oonledger.relay" in r.getMessage() and "bigrelay" in r.getMessage()]

    try:
        app.save_all(Tally.open(ctx(tenant), "before", "P"))
        await eventually(lambda: relay.published_through >= 1)
        before = relay.published_through
        assert await health_of(runtime, RELAY_PART) == SERVING

        # ~20 KB: more than the broker accepts. Then two ordinary events behind it.
        app.save_all(Tally.open(ctx(tenant), uuid.uuid4().hex * 640, "P"))
        app.save_all(Tally.open(ctx(tenant), "after-1", "P"))
        app.save_all(Tally.open(ctx(tenant), "after-2", "P"))
        too_big = before + 1

        async def reported_blocked() -> bool:
            return (await health_of(runtime, RELAY_PART) == NOT_SERVING
                    and await health_of(runtime) == NOT_SERVING)

        await eventually(reported_blocked, timeout=30)
        status = await part_status(runtime, RELAY_PART)
        assert "MaxPayload" in status["reason"] and f"after notification {before}" in status[
            "reason"], status

        async def metrics_say_blocked() -> bool:
            samples = await metric_samples(runtime)
            return (sample_value(samples, "oonledger_part_blocked", service="bigrelay",
                                 part=RELAY_PART) == 1
                    and sample_value(samples, "oonledger_relay_lag", service="bigrelay") == 3)

        await eventually(metrics_say_blocked, timeout=10)
        # It keeps retrying for a while: one ERROR line, not one per retry.
        async def stalled_a_while() -> bool:
            return (await part_status(runtime, RELAY_PART))["stalled_seconds"] >= 4

        await eventually(stalled_a_while, timeout=20)
        assert len(alarms()) == 1, [r.getMessage() for r in alarms()]
        assert "MaxPayload" in alarms()[0].getMessage()
        published = [m.notification_id for m in await stream_messages(nats_url, stream)]
        assert published and max(published) < too_big, "nothing published past the refusal"

        # Remove the cause: the broker again accepts ordinary (1 MiB) messages.
        server.stop()
        server = LocalNats(store, port=server.port)
        server.start()
        await eventually(lambda: relay.published_through >= too_big + 2, timeout=30)
        published = [m.notification_id for m in await stream_messages(nats_url, stream)]
        assert published == list(range(1, too_big + 3)), "every event once, in order"

        async def serving_again() -> bool:
            return (await health_of(runtime, RELAY_PART) == SERVING
                    and await health_of(runtime) == SERVING)

        await eventually(serving_again)
        assert any(r.levelno == logging.INFO and "making progress again" in r.getMessage()
                   for r in caplog.records)
        samples = await metric_samples(runtime)
        assert sample_value(samples, "oonledger_part_blocked", service="bigrelay",
                            part=RELAY_PART) == 0
        assert sample_value(samples, "oonledger_relay_lag", service="bigrelay") == 0
        assert (sample_value(samples, "oonledger_relay_published_total",
                             service="bigrelay") or 0) >= too_big + 2
    finally:
        await service_runner.stop(runtime)
        server.stop()


async def test_an_event_store_fault_in_a_reaction_is_retried_and_never_dead_lettered(
    service_runner, infra_urls, make_settings
):
    """The same through eventsourcing (psycopg): its save times out on a locked events table
    (eventsourcing's OperationalError), the reaction is retried until the lock goes."""
    upstream = f"{UPSTREAM}app"  # its own stream: the other test's events are not for it
    settings = make_settings("faultapp")
    app = TallyApp(settings, {"POSTGRES_LOCK_TIMEOUT": "1"})

    def react(delivery: Delivery) -> list[Tally]:
        return [Tally.open(delivery.context(actor="system:test"), delivery.envelope.event_id,
                           "P")]

    def build(infra: Infrastructure) -> ServiceParts:
        processor = ApplicationProcessor(app, "tallies", react, infra.blocking.executor)
        return ServiceParts(bindings=[], subscriptions=[
            Subscription(upstream, "tallies", processor, max_deliver=2, backoff=(0.1, 0.1))])

    nc = await nats.connect(infra_urls.nats_url)
    js = nc.jetstream()
    await ensure_stream(js, stream_config(settings, upstream))
    runtime = await service_runner.start("faultapp", build, stall_seconds=1.0)
    consumer = runtime.consumers[0]
    part = consumer_part(consumer.durable)
    locker = await asyncpg.connect(infra_urls.database_url)
    events_table = await locker.fetchval(
        "SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables "
        "WHERE table_schema = $1 AND table_name LIKE '%\\_events'", settings.schema)
    lock = locker.transaction()
    try:
        await lock.start()
        await locker.execute(f"LOCK TABLE {events_table} IN ACCESS EXCLUSIVE MODE")
        base = 2_000_000 + uuid.uuid4().int % 1_000_000
        for i in range(3):
            envelope = EventEnvelope(
                event_id=f"{upstream}:{base + i}", service=upstream, notification_id=base + i,
                tenant_id="t", request_id=f"r{base + i}", event_type="TallyOpened",
                aggregate_type="Tally", payload=b"{}")
            await js.publish(f"{settings.subject_prefix_for(upstream)}.tally.TallyOpened",
                             envelope.SerializeToString())

        async def reported_blocked() -> bool:
            return await health_of(runtime, part) == NOT_SERVING

        await eventually(reported_blocked, timeout=15)
        await eventually(lambda: consumer.fault_retries >= 3, timeout=20)
        status = await part_status(runtime, part)
        assert "OperationalError" in status["reason"], status
        assert (consumer.dead_lettered, consumer.processed) == (0, 0)

        await lock.rollback()
        await eventually(lambda: consumer.processed == 3, timeout=30)
        assert consumer.dead_lettered == 0
        stored = await runtime.infra.pool.fetchval(f"SELECT count(*) FROM {events_table}")
        assert stored == 3, "each reaction saved exactly once"

        async def serving_again() -> bool:
            return await health_of(runtime, part) == SERVING and await health_of(runtime) == SERVING

        await eventually(serving_again)
    finally:
        if lock._state.name == "STARTED":
            await lock.rollback()
        await locker.close()
        await nc.close()
        await service_runner.stop(runtime)
        app.close()


async def test_a_durable_left_by_an_older_version_is_updated_to_unlimited_redelivery(
    service_runner, infra_urls, make_settings
):
    """Durables created before this version gave up after 6 deliveries, and JetStream's backoff
    list silently cut their ack_wait to 0.5 s: the consumer updates them at start."""
    upstream = f"{UPSTREAM}old"
    settings = make_settings("faultold")
    nc = await nats.connect(infra_urls.nats_url)
    js = nc.jetstream()
    stream = settings.stream_for(upstream)
    await ensure_stream(js, stream_config(settings, upstream))
    durable = "faultold-rows"
    await js.add_consumer(stream, ConsumerConfig(
        durable_name=durable, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
        max_deliver=6, backoff=[0.5, 1, 2, 5, 10], ack_wait=30,
        filter_subject=f"{settings.subject_prefix_for(upstream)}.>"))

    async def handler(conn: asyncpg.Connection, delivery: Delivery) -> None:
        return None

    async def migrate(pool: asyncpg.Pool) -> None:
        await pool.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.schema}"')

    def build(infra: Infrastructure) -> ServiceParts:
        processor = ProjectionProcessor(infra.pool, settings.schema, "rows", handler)
        return ServiceParts(bindings=[], migrations=[migrate],
                            subscriptions=[Subscription(upstream, "rows", processor)])

    runtime = await service_runner.start("faultold", build)
    try:
        assert runtime.consumers[0].durable == durable

        async def updated() -> bool:
            config = (await js.consumer_info(stream, durable)).config
            return config.max_deliver == -1 and not config.backoff and config.ack_wait == 10

        await eventually(updated)
    finally:
        await service_runner.stop(runtime)
        await nc.close()


async def test_an_event_that_arrived_early_waits_loudly_beyond_max_deliver(
    service_runner, infra_urls, make_settings
):
    """It is not a poison: it outlasts max_deliver, its wait is reported as a stall, and it is
    applied once its predecessor is there; one whose predecessor never comes is dead-lettered
    after early_max_deliver deliveries, with the reason."""
    upstream = f"{UPSTREAM}early"
    settings = make_settings("faultearly")
    predecessor_there = False
    applied: list[str] = []

    async def handler(conn: asyncpg.Connection, delivery: Delivery) -> None:
        orphan = delivery.envelope.event_type == "Orphaned"
        if orphan or not predecessor_there:
            raise ArrivedEarly(f"{delivery.envelope.event_id} before its predecessor")
        applied.append(delivery.envelope.event_id)

    async def migrate(pool: asyncpg.Pool) -> None:
        await pool.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.schema}"')

    def build(infra: Infrastructure) -> ServiceParts:
        processor = ProjectionProcessor(infra.pool, settings.schema, "early", handler)
        return ServiceParts(bindings=[], migrations=[migrate], subscriptions=[Subscription(
            upstream, "early", processor, max_deliver=2, backoff=(0.2,), early_max_deliver=30)])

    nc = await nats.connect(infra_urls.nats_url)
    js = nc.jetstream()
    await ensure_stream(js, stream_config(settings, upstream))
    runtime = await service_runner.start("faultearly", build, stall_seconds=1.0)
    consumer = runtime.consumers[0]
    part = consumer_part(consumer.durable)
    try:
        base = 4_000_000 + uuid.uuid4().int % 1_000_000
        for n, kind in ((base, "Waited"), (base + 1, "Orphaned")):
            envelope = EventEnvelope(event_id=f"{upstream}:{n}", service=upstream,
                                     notification_id=n, tenant_id="t", event_type=kind,
                                     aggregate_type="Thing", payload=b"{}")
            await js.publish(f"{settings.subject_prefix_for(upstream)}.thing.{kind}",
                             envelope.SerializeToString())

        async def waiting_reported() -> bool:
            return await health_of(runtime, part) == NOT_SERVING

        await eventually(waiting_reported, timeout=15)
        assert "before its predecessor" in (await part_status(runtime, part))["reason"]
        assert consumer.dead_lettered == 0, "more than max_deliver deliveries, not a poison"

        predecessor_there = True
        await eventually(lambda: applied == [f"{upstream}:{base}"], timeout=15)
        await eventually(lambda: consumer.dead_lettered == 1, timeout=30)
        dead = await js.get_last_msg(
            settings.dead_letter_stream,
            f"{settings.subject_prefix_for('deadletter')}.{consumer.durable}")
        assert dead.headers is not None
        reason = dead.headers["Oon-Dead-Reason"]
        assert "waited 30 deliveries" in reason and f"{upstream}:{base + 1}" in reason

        async def serving_again() -> bool:
            return await health_of(runtime, part) == SERVING

        await eventually(serving_again)
    finally:
        await nc.close()
        await service_runner.stop(runtime)
