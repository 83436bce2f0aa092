"""Durable JetStream pull consumers with exactly-once *effect*.

Each delivery is processed by a `Processor` that commits the handler's effects together with a
tracking record of the upstream event (its service and notification id) in ONE transaction, and
only then acks. A redelivered event finds its tracking record and is acked without effect.
Failures are retried with backoff up to `max_deliver`; then the message is copied to the
dead-letter stream with the reason, logged as an error, and terminated — never dropped silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
from eventsourcing.persistence import Tracking
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.aggregate import TenantAggregate
from services.common.cancellation import raise_if_cancelling
from services.common.context import CommandContext
from services.common.errors import DomainError, EventTooLarge
from services.common.eventstore import AlreadyProcessed, ServiceApplication
from services.common.settings import Settings
from services.common.telemetry import consumer_span
from services.common.wire import decode_payload

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One upstream event as a handler sees it."""

    envelope: EventEnvelope
    payload: dict[str, Any]
    received_at: datetime

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
    """An event this one depends on has not been processed yet: retry later (with backoff)."""


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


@dataclass(frozen=True)
class Subscription:
    """What to consume: one upstream service's stream, optionally filtered by event types."""

    upstream: str
    name: str
    processor: Processor
    event_types: tuple[str, ...] = ()
    max_deliver: int = 6
    backoff: tuple[float, ...] = (0.5, 1, 2, 5, 10, 30)
    batch: int = 100
    # 1 = strictly one event in flight for this consumer across all replicas: upstream order is
    # kept even when several replicas pull from the same durable (reactions that need an
    # aggregate's earlier events first). Larger values trade that order for throughput.
    max_ack_pending: int = 1000


class Consumer:
    def __init__(self, js: JetStreamContext, settings: Settings, subscription: Subscription):
        self.js = js
        self.settings = settings
        self.sub = subscription
        self.durable = f"{settings.service}-{subscription.name}"
        self.processed = 0
        self.duplicates = 0
        self.dead_lettered = 0

    def _filter_subjects(self) -> list[str]:
        prefix = self.settings.subject_prefix_for(self.sub.upstream)
        if not self.sub.event_types:
            return [f"{prefix}.>"]
        return [f"{prefix}.*.{event_type}" for event_type in self.sub.event_types]

    async def _subscribe(self) -> Any:
        subjects = self._filter_subjects()
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=self.sub.max_deliver,
            # NATS requires max_deliver > len(backoff).
            backoff=list(self.sub.backoff[: self.sub.max_deliver - 1]),
            ack_wait=self.sub.backoff[0] * 60,
            max_ack_pending=self.sub.max_ack_pending,
            filter_subjects=subjects if len(subjects) > 1 else None,
            filter_subject=subjects[0] if len(subjects) == 1 else None,
        )
        return await self.js.pull_subscribe(
            subjects[0] if len(subjects) == 1 else "",
            durable=self.durable,
            stream=self.settings.stream_for(self.sub.upstream),
            config=config,
        )

    async def run(self) -> None:
        while True:
            try:
                psub = await self._subscribe()
                await self._pull(psub)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: consumer loop failed; reconnecting", self.durable)
                await asyncio.sleep(1)  # back off before re-subscribing after a NATS outage

    async def _pull(self, psub: Any) -> None:
        while True:
            raise_if_cancelling()
            try:
                messages = await psub.fetch(self.sub.batch, timeout=1)
            except TimeoutError:
                continue
            for msg in messages:
                await self._handle(msg)

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
        try:
            with consumer_span(self.durable, envelope):
                applied = await self.sub.processor.process(delivery)
        except PermanentFailure as exc:
            await self._dead_letter(msg, str(exc))
            return
        except Exception as exc:
            delivered = msg.metadata.num_delivered or 1
            if delivered >= self.sub.max_deliver:
                await self._dead_letter(msg, f"failed {delivered} times: {exc!r}")
            else:
                log.warning("%s: %s failed (attempt %d): %r", self.durable,
                            envelope.event_id, delivered, exc)
                await msg.nak(delay=self.sub.backoff[min(delivered, len(self.sub.backoff)) - 1])
            return
        await msg.ack()
        if applied:
            self.processed += 1
        else:
            self.duplicates += 1

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
        self.dead_lettered += 1
        log.error("%s: dead-lettered %s: %s", self.durable, msg.subject, reason)
