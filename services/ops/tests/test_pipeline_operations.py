"""A service's OperationsService against real PostgreSQL + NATS: its pipeline counts, and dead
letters listed and replayed through the consumer that dead-lettered them (exactly one effect)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc
import pytest

from oonledger.operations.v1 import operations_pb2 as pb
from oonledger.operations.v1.operations_pb2_grpc import OperationsServiceStub
from services.common.consumer import Delivery, PermanentFailure, Subscription
from services.common.context import CommandContext
from services.common.processors import ProjectionProcessor
from services.common.runtime import Infrastructure, ServiceParts, ServiceRuntime
from services.common.tests.sample import Tally, TallyApp
from services.ops.counts import backfill_event_index
from services.ops.deadletters import CONSUMER, ORIGINAL_SUBJECT, REASON
from services.ops.service import PipelineOperations
from tests.support.plugin import call_metadata, channel_to, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVICE = "opstest"  # its own stream: no other service of the session consumes it
DURABLE = f"{SERVICE}-totals"


class Totals:
    """A read model of tally totals whose handler can be made to fail (a poison switch)."""

    def __init__(self, schema: str) -> None:
        self.table = f'"{schema}".tally_totals'
        self.failing: str | None = None

    async def migrate(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            await conn.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (tally_id text PRIMARY "
                               "KEY, tenant_id text NOT NULL, total_cents bigint NOT NULL)")

    async def project(self, conn: asyncpg.Connection, delivery: Delivery) -> None:
        if self.failing:
            raise PermanentFailure(self.failing)
        amount = int(delivery.payload.get("amount_cents") or 0)
        await conn.execute(
            f"INSERT INTO {self.table} VALUES ($1, $2, $3) ON CONFLICT (tally_id) "
            f"DO UPDATE SET total_cents = {self.table}.total_cents + $3",
            delivery.envelope.aggregate_id, delivery.tenant_id, amount)


@pytest.fixture(scope="module")
async def ops_service(service_runner: Any, make_settings: Any) -> Any:
    settings = make_settings(SERVICE)
    app = TallyApp(settings)
    totals = Totals(settings.schema)

    def build(infra: Infrastructure) -> ServiceParts:
        subscriptions = [Subscription(SERVICE, "totals", ProjectionProcessor(
            infra.pool, settings.schema, "totals", totals.project))]
        operations = PipelineOperations(infra, app, subscriptions)
        return ServiceParts(bindings=[operations.binding], app=app, subscriptions=subscriptions,
                            migrations=[totals.migrate])

    runtime = await service_runner.start(SERVICE, build)
    yield runtime, app, totals
    await service_runner.stop(runtime)


def ctx(tenant: str) -> CommandContext:
    return CommandContext(tenant_id=tenant, actor="t", now=datetime.now(UTC),
                          request_id=uuid.uuid4().hex)


def admin(tenant: str) -> tuple[tuple[str, str], ...]:
    return call_metadata(tenant, roles=("admin",))


async def total_of(runtime: ServiceRuntime, tally: Tally) -> int | None:
    assert runtime.infra is not None
    async with runtime.infra.pool.acquire() as conn:
        return await conn.fetchval(
            f'SELECT total_cents FROM "{runtime.settings.schema}".tally_totals '
            "WHERE tally_id = $1", str(tally.id))


async def consumer_gap(stub: OperationsServiceStub, tenant: str) -> int:
    counts = await stub.GetPipelineCounts(pb.GetPipelineCountsRequest(), metadata=admin(tenant))
    (consumer,) = counts.consumers
    return consumer.in_stream - consumer.consumed


async def test_counts_per_tenant_and_consumers(ops_service: Any) -> None:
    runtime, app, _ = ops_service
    stub = OperationsServiceStub(channel_to(runtime))
    tenant, other = (f"tenant-{uuid.uuid4().hex[:6]}" for _ in range(2))
    for owner, count in ((tenant, 3), (other, 1)):
        for i in range(count):
            tally = Tally.open(ctx(owner), f"t{i}", "Jane Roe")
            tally.increment(ctx(owner), 100)
            app.save_all(tally)

    async def drained() -> pb.PipelineCounts | None:
        counts = await stub.GetPipelineCounts(pb.GetPipelineCountsRequest(),
                                              metadata=admin(tenant))
        everything = sum(item.count for item in counts.recorded_by_type)
        (consumer,) = counts.consumers
        done = counts.published == counts.recorded and consumer.consumed == everything
        return counts if done else None

    counts = await eventually(drained, timeout=20)
    assert (counts.service, counts.tenant_id, counts.recorded) == (SERVICE, tenant, 6), counts
    assert {item.event_type for item in counts.recorded_by_type} == {
        "TallyOpened", "TallyIncremented"}
    assert (counts.consumers[0].consumer, counts.consumers[0].upstream) == ("totals", SERVICE)
    assert counts.consumers[0].tracked
    assert counts.consumers[0].in_stream == counts.consumers[0].consumed

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.GetPipelineCounts(pb.GetPipelineCountsRequest(),
                                     metadata=call_metadata(tenant, roles=("negotiator",)))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

    # Events recorded before the index existed are indexed by the backfill (decrypted once).
    async with runtime.infra.pool.acquire() as conn:
        await conn.execute(f'DELETE FROM "{runtime.settings.schema}".event_index '
                           "WHERE tenant_id = $1", tenant)
    emptied = await stub.GetPipelineCounts(pb.GetPipelineCountsRequest(), metadata=admin(tenant))
    assert emptied.recorded == 0
    assert await runtime.infra.blocking(backfill_event_index, app) == 6
    assert await runtime.infra.blocking(backfill_event_index, app) == 0
    again = await stub.GetPipelineCounts(pb.GetPipelineCountsRequest(), metadata=admin(tenant))
    assert (again.recorded, again.published) == (6, 6)
    assert list(again.recorded_by_type) == list(counts.recorded_by_type)


async def test_a_dead_letter_replayed_applies_once_and_a_failing_replay_stays(
    ops_service: Any,
) -> None:
    runtime, app, totals = ops_service
    stub = OperationsServiceStub(channel_to(runtime))
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    totals.failing = "database said no"
    tally = Tally.open(ctx(tenant), "poisoned", "Jane Roe")
    tally.increment(ctx(tenant), 250)
    app.save_all(tally)

    async def dead_letters() -> list[pb.DeadLetter]:
        listed = await stub.ListDeadLetters(pb.ListDeadLettersRequest(), metadata=admin(tenant))
        return list(listed.dead_letters)

    async def both_dead() -> list[pb.DeadLetter] | None:
        letters = await dead_letters()
        return letters if len(letters) == 2 else None

    letters = await eventually(both_dead, timeout=20)
    assert {(d.consumer, d.event_type, d.reason) for d in letters} == {
        (DURABLE, "TallyOpened", "database said no"),
        (DURABLE, "TallyIncremented", "database said no")}
    assert await total_of(runtime, tally) is None
    assert await consumer_gap(stub, tenant) == 2  # in the stream, never processed
    # Another tenant's operator sees none of them.
    other = await stub.ListDeadLetters(pb.ListDeadLettersRequest(),
                                       metadata=admin(f"tenant-{uuid.uuid4().hex[:6]}"))
    assert not other.dead_letters

    # Replayed while the cause is still there: dead-lettered anew, with the new reason.
    totals.failing = "still down"
    first = letters[0]
    again = await stub.ReplayDeadLetters(pb.ReplayDeadLettersRequest(
        request_id=uuid.uuid4().hex, sequences=[first.sequence]), metadata=admin(tenant))
    (outcome,) = again.outcomes
    assert not outcome.applied and "still down" in outcome.failure and outcome.new_sequence
    letters = await dead_letters()
    assert {d.sequence for d in letters} == {letters[0].sequence, letters[1].sequence}
    assert first.sequence not in {d.sequence for d in letters}
    assert any("still down" in d.reason for d in letters)

    # The cause removed: every dead letter replayed, its effect applied once, the list empty.
    totals.failing = None
    replayed = await stub.ReplayDeadLetters(pb.ReplayDeadLettersRequest(
        request_id=uuid.uuid4().hex, consumer=DURABLE, all=True), metadata=admin(tenant))
    assert sorted(o.applied for o in replayed.outcomes) == [True, True]
    assert not any(o.failure for o in replayed.outcomes)
    assert await total_of(runtime, tally) == 250
    assert await dead_letters() == []

    # A copy of an event whose effect is already there (e.g. dead-lettered by one replica while
    # another applied it): replayed without a second effect, and removed.
    assert runtime.infra is not None
    settings = runtime.settings
    subject = f"{settings.subject_prefix_for(SERVICE)}.tally.TallyIncremented"
    original = await runtime.infra.js.get_last_msg(settings.stream_for(SERVICE), subject)
    await runtime.infra.js.publish(
        f"{settings.subject_prefix_for('deadletter')}.{DURABLE}", original.data,
        headers={REASON: "timeout", ORIGINAL_SUBJECT: original.subject or "", CONSUMER: DURABLE})
    assert len(await dead_letters()) == 1
    replayed = await stub.ReplayDeadLetters(pb.ReplayDeadLettersRequest(
        request_id=uuid.uuid4().hex, all=True), metadata=admin(tenant))
    assert [o.applied for o in replayed.outcomes] == [False]
    assert await total_of(runtime, tally) == 250
    assert await dead_letters() == []
    assert await consumer_gap(stub, tenant) == 0


async def test_replay_needs_a_choice_and_a_known_consumer(ops_service: Any) -> None:
    runtime, _, _ = ops_service
    stub = OperationsServiceStub(channel_to(runtime))
    with pytest.raises(grpc.aio.AioRpcError) as unspecified:
        await stub.ReplayDeadLetters(pb.ReplayDeadLettersRequest(request_id="r1"),
                                     metadata=admin("tenant-x"))
    assert unspecified.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.ListDeadLetters(pb.ListDeadLettersRequest(consumer="nobody"),
                                   metadata=admin("tenant-x"))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


async def test_two_operators_replaying_at_once_apply_the_effect_once(ops_service: Any) -> None:
    runtime, app, totals = ops_service
    stub = OperationsServiceStub(channel_to(runtime))
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    totals.failing = "lock timeout"
    tally = Tally.open(ctx(tenant), "twice", "Jane Roe")
    tally.increment(ctx(tenant), 70)
    app.save_all(tally)

    async def both_dead() -> bool:
        listed = await stub.ListDeadLetters(pb.ListDeadLettersRequest(), metadata=admin(tenant))
        return len(listed.dead_letters) == 2

    await eventually(both_dead, timeout=20)
    totals.failing = None
    replays = await asyncio.gather(*(
        stub.ReplayDeadLetters(pb.ReplayDeadLettersRequest(request_id=uuid.uuid4().hex, all=True),
                               metadata=admin(tenant)) for _ in range(2)))
    outcomes = [o for reply in replays for o in reply.outcomes]
    assert not any(o.failure for o in outcomes)
    assert sum(o.applied for o in outcomes) == 2  # each event applied by one of them
    assert await total_of(runtime, tally) == 70
    assert not await both_dead()
