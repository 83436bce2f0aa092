"""Durable JetStream pull consumers with exactly-once *effect*.

Each delivery is processed by a `Processor` that commits the handler's effects together with a
tracking record of the upstream event (its service and notification id) in ONE transaction, and
only then acks. A redelivered event finds its tracking record and is acked without effect.

Fault or poison (services/common/faults.py; docs/decisions.md §14): an infrastructure fault
is retried in place, with capped backoff, for as long as it takes (the ack deadlines of the
messages held are extended meanwhile; later messages wait behind it), and is never
dead-lettered. An `ArrivedEarly` waits for its predecessor (about an hour at most). Any other
failure is retried with backoff up to `max_deliver` deliveries; then the message is copied to
the dead-letter stream with the reason, logged as an error, and terminated. The consumer
reports its progress to the service's ProgressMonitor (services/common/health.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import asyncpg
import nats.errors
from eventsourcing.persistence import Tracking
from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError
from opentelemetry import metrics

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common import contracts
from services.common.aggregate import TenantAggregate
from services.common.cancellation import raise_if_cancelling
from services.common.context import CommandContext
from services.common.errors import DomainError, EventTooLarge
from services.common.eventstore import AlreadyProcessed, ServiceApplication
from services.common.faults import describe, is_fault, retry_delay
from services.common.health import Part, ProgressMonitor, consumer_part
from services.common.settings import Settings
from services.common.telemetry import consumer_span
from services.common.wire import decode_payload

log = logging.getLogger(__name__)
M = TypeVar("M", bound=Message)

# After a short batch, a consumer that applies batches lets this long pass before its next
# fetch, so that under a steady trickle it applies a few events per transaction instead of one
# (at most this much more latency).
GATHER_SECONDS = 0.01

# How long JetStream waits for an ack before redelivering (a crashed replica's messages go
# to another after this); a message retried in place for a fault is kept with in_progress().
ACK_WAIT_SECONDS = 10.0

_meter = metrics.get_meter("oonledger")
_processed = _meter.create_counter(
    "oonledger.consumer.processed", description="Events applied, per consumer")
_duplicates = _meter.create_counter(
    "oonledger.consumer.duplicates",
    description="Redelivered events found already applied (acked without effect)")
_dead_lettered = _meter.create_counter(
    "oonledger.consumer.dead_lettered",
    description="Events copied to the dead-letter stream (poison), per consumer")
_fault_retries = _meter.create_counter(
    "oonledger.consumer.fault_retries",
    description="Retries of an event after an infrastructure fault (never dead-lettered)")


@dataclass(frozen=True)
class Delivery:
    """One upstream event as a handler sees it.

    `message` is the typed contract message of an integration event (read another service's
    events through it); `payload` is the dict view (a service's projections of its own events).
    """

    envelope: EventEnvelope
    payload: dict[str, Any]
    received_at: datetime

    @functools.cached_property
    def message(self) -> Message:
        """The event's contract message, checked: a broken contract is a PermanentFailure."""
        try:
            return contracts.decode(self.envelope)
        except contracts.ContractViolation as exc:
            raise PermanentFailure(f"{self.envelope.event_id}: {exc}") from exc

    def message_as(self, cls: type[M]) -> M:
        """The contract message, which must be a `cls` (the consumer's filter promised it)."""
        message = self.message
        if not isinstance(message, cls):
            raise PermanentFailure(f"{self.envelope.event_id}: expected a "
                                   f"{cls.DESCRIPTOR.full_name}, got {self.event_type}")
        return message

    @property
    def event_type(self) -> str:
        return self.envelope.event_type

    @property
    def tenant_id(self) -> str:
        return self.envelope.tenant_id

    def context(self, actor: str) -> CommandContext:
        """A command context for the reaction: same correlation, caused by this event."""
        env = self.envelope
        return CommandContext.from_event_meta(
            env.tenant_id,
            {
                "correlation_id": env.correlation_id,
                "request_id": env.request_id,
                "traceparent": env.traceparent,
                "tracestate": env.tracestate,
            },
            actor=actor,
            now=self.received_at,
            event_id=env.event_id,
        )


class Processor(Protocol):
    async def process(self, delivery: Delivery) -> bool:
        """Apply the delivery exactly once; False when it had already been applied."""


class PermanentFailure(Exception):
    """The event can never be processed (e.g. malformed); dead-letter it at once."""


class ArrivedEarly(Exception):
    """An event this one depends on has not been processed yet: retry later (with backoff),
    up to `Subscription.early_max_deliver` deliveries (about an hour); a wait longer than the
    stall threshold is reported by the service's health."""


Reaction = Callable[[Delivery], Sequence[TenantAggregate | None] | None]


class ApplicationProcessor:
    """Runs a synchronous reaction against an eventsourcing application in a worker thread."""

    def __init__(
        self, app: ServiceApplication, name: str, reaction: Reaction, executor: Any
    ) -> None:
        self.app = app
        self.name = name
        self.reaction = reaction
        self.executor = executor

    def _process_sync(self, delivery: Delivery) -> bool:
        tracking = Tracking(
            application_name=f"{delivery.envelope.service}/{self.name}",
            notification_id=delivery.envelope.notification_id,
        )
        if self.app.is_processed(tracking):
            return False
        try:
            aggregates = self.reaction(delivery) or ()
        except DomainError as exc:
            # A business rule refused the reaction: record that we saw it, and say why.
            log.warning("%s: %s refused: %s", self.name, delivery.envelope.event_id, exc)
            aggregates = ()
        try:
            self.app.save_tracked(tracking, *aggregates)
        except AlreadyProcessed:
            return False
        except EventTooLarge as exc:  # no retry can make it fit: dead-letter with the reason
            raise PermanentFailure(f"{delivery.envelope.event_id}: {exc}") from exc
        return True

    async def process(self, delivery: Delivery) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._process_sync, delivery)

    async def process_batch(self, deliveries: Sequence[Delivery]) -> list[bool | Exception]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._process_batch_sync, deliveries)

    def _process_batch_sync(self, deliveries: Sequence[Delivery]) -> list[bool | Exception]:
        """Apply many deliveries, in order, with as few transactions as their reactions allow.

        The reactions run one after another against the batch's own copies of the aggregates
        (`ServiceApplication.reacting_in_batch`: a reaction sees what the earlier ones of the
        batch changed), and their events commit with every tracking record in one
        transaction. A delivery whose reaction raises, or leaves changes it does not return
        (which the one-at-a-time path would drop), ends the run: what came before it commits,
        it is applied alone by the one-at-a-time path (`_process_sync`, the reference
        semantics), and a new run starts after it. If a run's commit fails, its deliveries go
        one at a time. An outcome that is an exception is handed back to the consumer, which
        handles that delivery alone (fault retries, backoff, dead letter); after an
        infrastructure fault nothing later in the batch is attempted (order is kept).
        """
        outcomes: list[bool | Exception | None] = [None] * len(deliveries)
        processed: set[tuple[str, int]] = set()
        for upstream in {d.envelope.service for d in deliveries}:
            ids = [d.envelope.notification_id for d in deliveries if d.envelope.service == upstream]
            tracked = self.app.processed_among(f"{upstream}/{self.name}", ids)
            processed.update((upstream, n) for n in tracked)
        position = 0
        while position < len(deliveries):
            position = self._run(deliveries, position, processed, outcomes)
        return [False if outcome is None else outcome for outcome in outcomes]

    def _run(self, deliveries: Sequence[Delivery], start: int, processed: set[tuple[str, int]],
             outcomes: list[bool | Exception | None]) -> int:
        """One run of the batch from `start`; returns where the next run starts."""
        trackings: list[Tracking] = []
        events: list[Any] = []
        members: list[int] = []  # indexes of the deliveries this run applies
        stopped_at: int | None = None
        with self.app.reacting_in_batch() as overlay:
            for index in range(start, len(deliveries)):
                delivery = deliveries[index]
                key = (delivery.envelope.service, delivery.envelope.notification_id)
                if key in processed:
                    outcomes[index] = False
                    continue
                try:
                    returned = [a for a in (self.reaction(delivery) or ()) if a is not None]
                except Exception:
                    stopped_at = index
                    break
                mark = len(events)
                for aggregate in returned:
                    events.extend(aggregate.collect_events())
                    overlay[aggregate.id] = aggregate
                if any(getattr(a, "_pending_events", None) for a in overlay.values()):
                    del events[mark:]  # changes it did not return: not ours to save
                    stopped_at = index
                    break
                processed.add(key)
                members.append(index)
                trackings.append(Tracking(
                    application_name=f"{delivery.envelope.service}/{self.name}",
                    notification_id=delivery.envelope.notification_id))
            # After a stop the batch's copies may hold the stopping reaction's changes: then
            # nothing of them is cached.
            saved = list(overlay.values()) if stopped_at is None else []
        if trackings:
            try:
                self.app.save_tracked_batch(trackings, events, saved)
            except Exception as exc:
                for index in members:
                    processed.discard((deliveries[index].envelope.service,
                                       deliveries[index].envelope.notification_id))
                if is_fault(exc):  # the consumer retries them in place, in order
                    for index in range(members[0], len(deliveries)):
                        outcomes[index] = exc
                    return len(deliveries)
                log.info("%s: a run of %d failed (%r); applying it one at a time", self.name,
                         len(members), exc)
                return self._one_at_a_time(deliveries, members[0], stopped_at, outcomes)
            for index in members:
                outcomes[index] = True
        if stopped_at is None:
            return len(deliveries)
        return self._one_at_a_time(deliveries, stopped_at, stopped_at + 1, outcomes)

    def _one_at_a_time(self, deliveries: Sequence[Delivery], start: int, stop: int | None,
                       outcomes: list[bool | Exception | None]) -> int:
        end = len(deliveries) if stop is None else stop
        for index in range(start, end):
            try:
                outcomes[index] = self._process_sync(deliveries[index])
            except Exception as exc:
                outcomes[index] = exc
                if is_fault(exc) and not isinstance(exc, PermanentFailure):
                    # Keep order behind a fault: the consumer retries this one in place and
                    # handles the rest after it.
                    for later in range(index + 1, len(deliveries)):
                        outcomes[later] = exc
                    return len(deliveries)
        return end


ProjectionHandler = Callable[[asyncpg.Connection, Delivery], Awaitable[None]]


class ProjectionProcessor:
    """Updates an asyncpg read model; rows and tracking commit in one transaction."""

    def __init__(self, pool: asyncpg.Pool, schema: str, name: str, handler: ProjectionHandler):
        self.pool = pool
        self.schema = schema
        self.name = name
        self.handler = handler
        table = f'"{schema}".projection_tracking'  # schema name validated in Settings
        self._create_sql = (
            f"CREATE TABLE IF NOT EXISTS {table} (consumer text NOT NULL, upstream text NOT NULL,"
            " notification_id bigint NOT NULL, PRIMARY KEY (consumer, upstream, notification_id))"
        )
        self._track_sql = (
            f"INSERT INTO {table} VALUES ($1, $2, $3) "  # noqa: S608
            "ON CONFLICT DO NOTHING RETURNING 1"
        )
        self._track_many_sql = (
            f"INSERT INTO {table} SELECT $1, u.upstream, u.nid "  # noqa: S608
            "FROM unnest($2::text[], $3::bigint[]) AS u(upstream, nid) "
            "ON CONFLICT DO NOTHING RETURNING upstream, notification_id"
        )

    async def migrate(self) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(self._create_sql)

    async def process(self, delivery: Delivery) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                self._track_sql,
                self.name,
                delivery.envelope.service,
                delivery.envelope.notification_id,
            )
            if not inserted:
                return False
            await self.handler(conn, delivery)
        return True

    async def process_batch(self, deliveries: Sequence[Delivery]) -> list[bool | Exception]:
        """Apply many deliveries in one transaction, tracking records included; any failure
        rolls all of it back (raised: the consumer then applies them one at a time)."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                self._track_many_sql, self.name,
                [d.envelope.service for d in deliveries],
                [d.envelope.notification_id for d in deliveries])
            new = {(row[0], row[1]) for row in rows}
            outcomes: list[bool | Exception] = []
            for delivery in deliveries:
                key = (delivery.envelope.service, delivery.envelope.notification_id)
                if key in new:
                    new.discard(key)  # a repeat within the batch is a duplicate
                    await self.handler(conn, delivery)
                    outcomes.append(True)
                else:
                    outcomes.append(False)
        return outcomes


@dataclass(frozen=True)
class Subscription:
    """What to consume: one upstream service's stream, optionally filtered by event types."""

    upstream: str
    name: str
    processor: Processor
    event_types: tuple[str, ...] = ()
    # Deliveries of a message that keeps failing for a reason other than an infrastructure
    # fault or ArrivedEarly (i.e. a poison) before it is dead-lettered. JetStream's own
    # max_deliver is unlimited.
    max_deliver: int = 6
    # The delay before each redelivery of such a message or of one that arrived early (the
    # last one repeats).
    backoff: tuple[float, ...] = (0.5, 1, 2, 5, 10, 30)
    # Deliveries an event that arrived early (`ArrivedEarly`) waits for its predecessor before
    # it is dead-lettered: about an hour with the default backoff, far longer than a replica
    # holds a message; a wait past OON_STALL_SECONDS is reported (health, metric) meanwhile.
    early_max_deliver: int = 125
    batch: int = 100
    # 1 = strictly one event in flight for this consumer across all replicas: upstream order is
    # kept even when several replicas pull from the same durable (reactions that need an
    # aggregate's earlier events first). Larger values trade that order for throughput.
    max_ack_pending: int = 1000


class Consumer:
    def __init__(self, js: JetStreamContext, settings: Settings, subscription: Subscription,
                 monitor: ProgressMonitor | None = None) -> None:
        self.js = js
        self.settings = settings
        self.sub = subscription
        self.durable = f"{settings.service}-{subscription.name}"
        part_name = consumer_part(self.durable)
        self.progress: Part = monitor.part(part_name) if monitor else Part(part_name)
        self._labels = {"service": settings.service, "consumer": self.durable}
        self.processed = 0
        self.duplicates = 0
        self.dead_lettered = 0
        self.fault_retries = 0
        self._batch: Sequence[Msg] = ()  # the fetched messages being handled, in order

    def _filter_subjects(self) -> list[str]:
        prefix = self.settings.subject_prefix_for(self.sub.upstream)
        if not self.sub.event_types:
            return [f"{prefix}.>"]
        return [f"{prefix}.*.{event_type}" for event_type in self.sub.event_types]

    def consumer_config(self) -> ConsumerConfig:
        subjects = self._filter_subjects()
        return ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            # Unlimited: JetStream must never stop redelivering an event we have not applied
            # (a fault is retried in place; a poison is dead-lettered by us after
            # `Subscription.max_deliver` deliveries, with the reason). No JetStream backoff
            # list either: it would also replace ack_wait by its first step.
            max_deliver=-1,
            ack_wait=ACK_WAIT_SECONDS,
            max_ack_pending=self.sub.max_ack_pending,
            filter_subjects=subjects if len(subjects) > 1 else None,
            filter_subject=subjects[0] if len(subjects) == 1 else None,
        )

    async def _subscribe(self) -> Any:
        subjects = self._filter_subjects()
        stream = self.settings.stream_for(self.sub.upstream)
        # Create, or update a durable left by an older version (e.g. one with a finite
        # max_deliver, which would silently stop redelivering).
        try:
            await self.js.add_consumer(stream, self.consumer_config())
        except BadRequestError as exc:
            log.warning("%s: could not update the durable consumer's settings (%s); using it "
                        "as it is", self.durable, exc.description)
        return await self.js.pull_subscribe(
            subjects[0] if len(subjects) == 1 else "",
            durable=self.durable,
            stream=stream,
        )

    async def run(self) -> None:
        while True:
            try:
                psub = await self._subscribe()
                await self._pull(psub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.progress.blocked(f"consumer loop failed: {describe(exc)}")
                log.exception("%s: consumer loop failed; reconnecting", self.durable)
                await asyncio.sleep(1)  # back off before re-subscribing after a NATS outage

    async def _pull(self, psub: Any) -> None:
        while True:
            raise_if_cancelling()
            try:
                messages = await psub.fetch(self.sub.batch, timeout=1)
            except TimeoutError:
                self.progress.progressed()  # nothing to do is not a stall
                continue
            self._batch = messages
            try:
                async with self._kept():
                    if len(messages) > 1 and hasattr(self.sub.processor, "process_batch"):
                        await self._handle_batch(messages)
                    else:
                        for msg in messages:
                            await self._handle(msg)
            finally:
                await self._release(self._held())
                self._batch = ()
            if len(messages) < self.sub.batch and hasattr(self.sub.processor, "process_batch"):
                await asyncio.sleep(GATHER_SECONDS)

    def _held(self) -> Sequence[Msg]:
        """Messages delivered to this consumer and not yet handled (kept while we retry)."""
        return self._batch

    async def _handle(self, msg: Msg) -> None:
        try:
            envelope = EventEnvelope.FromString(msg.data)
            delivery = Delivery(envelope, decode_payload(envelope), datetime.now(UTC))
        except Exception as exc:
            await self._dead_letter(msg, f"undecodable message: {exc}")
            return
        if self.sub.event_types and envelope.event_type not in self.sub.event_types:
            await msg.ack()  # outside the filter (a consumer created by an older version)
            return
        self.progress.busy(f"{envelope.event_id} ({envelope.event_type})")
        try:
            applied = await self._process_through_faults(delivery)
        except PermanentFailure as exc:
            await self._dead_letter(msg, str(exc))
            return
        except ArrivedEarly as exc:
            # Waits for its predecessor (held up maybe by a fault elsewhere), reported as a
            # stall if it lasts; dead-lettered only when it never came (it was itself
            # dead-lettered, say): then both wait there for the operator.
            delivered = msg.metadata.num_delivered or 1
            if delivered >= self.sub.early_max_deliver:
                await self._dead_letter(
                    msg, f"waited {delivered} deliveries for an earlier event: {exc}")
                return
            self.progress.waiting(msg.metadata.sequence.stream,
                                  f"{envelope.event_id} waits for an earlier event: {exc}")
            if delivered == 1:
                log.info("%s: %s arrived early (%s); retrying later", self.durable,
                         envelope.event_id, exc)
            await msg.nak(delay=self.sub.backoff[min(delivered, len(self.sub.backoff)) - 1])
            return
        except Exception as exc:
            delivered = msg.metadata.num_delivered or 1
            if delivered >= self.sub.max_deliver:
                await self._dead_letter(msg, f"failed {delivered} times: {exc!r}")
            else:
                log.warning("%s: %s failed (attempt %d): %r", self.durable,
                            envelope.event_id, delivered, exc)
                self.progress.blocked(f"failed {delivered} time(s): {describe(exc)}")
                await msg.nak(delay=self.sub.backoff[min(delivered, len(self.sub.backoff)) - 1])
            return
        await msg.ack()
        self.progress.resolved(msg.metadata.sequence.stream)
        self._count(processed=int(applied), duplicates=int(not applied))

    async def _handle_batch(self, messages: list[Msg]) -> None:
        """Hand the fetched messages to the processor's `process_batch` (one transaction for
        many, where the processor can); acks after its commit. What the batch could not apply
        (an outcome that is an exception, or the whole batch raising) goes through `_handle`,
        one at a time, in order: the same fault, early and poison rules as ever."""
        decoded: list[tuple[Msg, Delivery]] = []
        for msg in messages:
            try:
                envelope = EventEnvelope.FromString(msg.data)
                delivery = Delivery(envelope, decode_payload(envelope), datetime.now(UTC))
            except Exception as exc:
                await self._dead_letter(msg, f"undecodable message: {exc}")
                continue
            if self.sub.event_types and envelope.event_type not in self.sub.event_types:
                await msg.ack()  # outside the filter (a consumer created by an older version)
                continue
            decoded.append((msg, delivery))
        if not decoded:
            return
        self.progress.busy(f"a batch of {len(decoded)} from {decoded[0][1].envelope.event_id}")
        processor: Any = self.sub.processor
        try:
            outcomes = await processor.process_batch([d for _, d in decoded])
        except Exception as exc:
            log.info("%s: batch of %d failed (%r); applying it one at a time", self.durable,
                     len(decoded), exc)
            for msg, _ in decoded:
                await self._handle(msg)
            return
        acks: list[Awaitable[None]] = []
        applied = 0
        for (msg, _), outcome in zip(decoded, outcomes, strict=True):
            if isinstance(outcome, Exception):
                await asyncio.gather(*acks)
                acks = []
                await self._handle(msg)
                continue
            acks.append(msg.ack())
            self.progress.resolved(msg.metadata.sequence.stream)
            applied += bool(outcome)
        await asyncio.gather(*acks)
        self._count(processed=applied, duplicates=sum(
            1 for outcome in outcomes if outcome is False))

    async def _process_through_faults(self, delivery: Delivery) -> bool:
        """Process `delivery`, retrying infrastructure faults in place until they clear.

        In place, not nak'ed: nothing behind this message overtakes it, and a fault never
        counts as a delivery toward the dead letter."""
        attempt = 0
        while True:
            raise_if_cancelling()
            try:
                with consumer_span(self.durable, delivery.envelope):
                    return await self.sub.processor.process(delivery)
            except Exception as exc:
                if isinstance(exc, PermanentFailure) or not is_fault(exc):
                    raise
                attempt += 1
                self.fault_retries += 1
                _fault_retries.add(1, self._labels)
                delay = retry_delay(attempt)
                reason = describe(exc)
                self.progress.blocked(f"infrastructure fault (attempt {attempt}): {reason}")
                if attempt == 1:  # the stall alarm (health.py) speaks if it lasts
                    log.warning("%s: %s hit an infrastructure fault, retrying until it "
                                "clears: %s", self.durable, delivery.envelope.event_id, reason)
                await asyncio.sleep(delay)  # capped exponential backoff while the fault lasts

    @contextlib.asynccontextmanager
    async def _kept(self) -> AsyncIterator[None]:
        """While the fetched messages are handled (a fault retried in place, a slow or
        locked database), extend the ack deadline of those not yet handled every ack_wait/3,
        so JetStream does not hand them to another replica, or back to us, meanwhile."""

        async def keep_alive() -> None:
            while True:
                await asyncio.sleep(ACK_WAIT_SECONDS / 3)
                for held in self._held():
                    if not held.is_acked:
                        with contextlib.suppress(nats.errors.Error):  # redelivery: fallback
                            await held.in_progress()

        task = asyncio.create_task(keep_alive())
        try:
            yield
        finally:
            task.cancel()  # not awaited: suppressing its CancelledError could swallow ours

    @staticmethod
    async def _release(messages: Sequence[Msg]) -> None:
        """Hand back what we hold unhandled (stopping, or the loop failed): redelivered now,
        in order, instead of after ack_wait."""
        for held in messages:
            if not held.is_acked:
                with contextlib.suppress(Exception):  # best effort; ack_wait is the fallback
                    await held.nak()

    def _count(self, processed: int = 0, duplicates: int = 0) -> None:
        """Events applied and redeliveries found already applied (once per batch)."""
        if processed:
            self.processed += processed
            _processed.add(processed, self._labels)
        if duplicates:
            self.duplicates += duplicates
            _duplicates.add(duplicates, self._labels)
        self.progress.progressed()

    async def _dead_letter(self, msg: Msg, reason: str) -> None:
        subject = f"{self.settings.subject_prefix_for('deadletter')}.{self.durable}"
        headers = {
            "Oon-Dead-Reason": reason[:1000],
            "Oon-Original-Subject": msg.subject,
            "Oon-Consumer": self.durable,
            "Nats-Msg-Id": f"dl:{self.durable}:{msg.metadata.sequence.stream}",
        }
        await self.js.publish(subject, msg.data, headers=headers)
        await msg.term()
        self.progress.resolved(msg.metadata.sequence.stream)
        self.dead_lettered += 1
        _dead_lettered.add(1, self._labels)
        self.progress.progressed()  # moved past it, loudly
        log.error("%s: dead-lettered %s: %s", self.durable, msg.subject, reason)
