"""What one service can say about its own pipeline: events recorded, published, consumed.

Counted without decrypting anything: the recorder keeps `event_index` (notification id →
tenant, event type) in the transaction that stores the events, the relay's checkpoint is a
notification id, and each consumer's tracking records are rows of the service's own schema.
Tracking records carry no tenant, so consumption is counted over all tenants.
"""
# The only interpolated SQL text is the schema and table names (validated settings, library
# table names); values are bound.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from nats.js import JetStreamContext
from psycopg.sql import SQL, Identifier

from oonledger.operations.v1 import operations_pb2 as pb
from services.common.consumer import Subscription
from services.common.eventstore import ServiceApplication
from services.common.processors import ApplicationProcessor, ProjectionProcessor
from services.common.recorder import EVENT_INDEX_TABLE
from services.common.settings import Settings


class PipelineFacts(Protocol):
    """Service-specific facts added to the counts (e.g. the ledger's appended events)."""

    async def add_to(self, conn: asyncpg.Connection, tenant_id: str | None,
                     counts: pb.PipelineCounts) -> None:
        """`tenant_id` None: over all tenants (the metrics)."""


@dataclass(frozen=True)
class ConsumerTracking:
    """Where a subscription's exactly-once records are, if in a table."""

    subscription: Subscription
    sql: str | None  # SELECT count(*) ..., with its arguments below
    args: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.subscription.name


def consumer_tracking(settings: Settings, app: ServiceApplication | None,
                      subscription: Subscription) -> ConsumerTracking:
    schema = f'"{settings.schema}"'
    processor = subscription.processor
    if isinstance(processor, ApplicationProcessor) and app is not None:
        table = f'{schema}."{app.recorder.tracking_table_name}"'  # type: ignore[attr-defined]
        return ConsumerTracking(
            subscription, f"SELECT count(*) FROM {table} WHERE application_name = $1",
            (f"{subscription.upstream}/{processor.name}",))
    # Projections (the shared ProjectionProcessor, and batch projectors with a `consumer`).
    consumer = (processor.name if isinstance(processor, ProjectionProcessor)
                else getattr(processor, "consumer", None))
    if isinstance(consumer, str):
        return ConsumerTracking(
            subscription,
            f"SELECT count(*) FROM {schema}.projection_tracking "
            "WHERE consumer = $1 AND upstream = $2", (consumer, subscription.upstream))
    return ConsumerTracking(subscription, None)


class PipelineCounter:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, js: JetStreamContext,
                 app: ServiceApplication | None, subscriptions: Sequence[Subscription] = (),
                 facts: Sequence[PipelineFacts] = ()) -> None:
        self.settings = settings
        self.pool = pool
        self.js = js
        self.app = app
        self.consumers = [consumer_tracking(settings, app, sub) for sub in subscriptions]
        self.facts = list(facts)
        schema = f'"{settings.schema}"'
        self._index = f"{schema}.{EVENT_INDEX_TABLE}"
        self._checkpoint = (f"SELECT coalesce(max(notification_id), 0) FROM "
                            f"{schema}.relay_checkpoint WHERE stream = $1")

    async def counts(self, tenant_id: str | None) -> pb.PipelineCounts:
        """The tenant's recorded/published events (None: all tenants); consumers and per-type
        totals over all tenants."""
        counts = pb.PipelineCounts(service=self.settings.service, tenant_id=tenant_id or "",
                                   has_event_store=self.app is not None)
        in_streams: dict[str, dict[str, int]] = {}
        for upstream in sorted({c.subscription.upstream for c in self.consumers}):
            in_streams[upstream] = await self._subjects(upstream)
        async with self.pool.acquire() as conn:
            if self.app is not None:
                checkpoint = await self._relay_checkpoint(conn)
                tenant_filter = "tenant_id = $2" if tenant_id is not None else "$2::text IS NULL"
                row = await conn.fetchrow(
                    f"SELECT count(*) AS recorded, "
                    f"count(*) FILTER (WHERE notification_id <= $1) AS published "
                    f"FROM {self._index} WHERE {tenant_filter}", checkpoint, tenant_id)
                counts.recorded, counts.published = row["recorded"], row["published"]
                for event_type, count in await conn.fetch(
                        f"SELECT event_type, count(*) FROM {self._index} "
                        "GROUP BY event_type ORDER BY event_type"):
                    counts.recorded_by_type.add(event_type=event_type, count=count)
            for consumer in self.consumers:
                sub = consumer.subscription
                types = set(sub.event_types)
                item = counts.consumers.add(
                    consumer=sub.name, upstream=sub.upstream, event_types=list(sub.event_types),
                    tracked=consumer.sql is not None,
                    in_stream=sum(count for subject, count in in_streams[sub.upstream].items()
                                  if not types or subject.rsplit(".", 1)[-1] in types))
                if consumer.sql is not None:
                    item.consumed = await _count(conn, consumer.sql, *consumer.args)
            for facts in self.facts:
                await facts.add_to(conn, tenant_id, counts)
        return counts

    async def _subjects(self, upstream: str) -> dict[str, int]:
        """Messages per subject (`<prefix>.<aggregate>.<EventType>`) in an upstream's stream."""
        info = await self.js.stream_info(self.settings.stream_for(upstream),
                                         subjects_filter=">")
        return dict(info.state.subjects or {})

    async def _relay_checkpoint(self, conn: asyncpg.Connection) -> int:
        try:
            return int(await conn.fetchval(self._checkpoint,
                                           self.settings.stream_for(self.settings.service)))
        except asyncpg.UndefinedTableError:  # the relay has not started yet
            return 0


async def _count(conn: asyncpg.Connection, sql: str, *args: str) -> int:
    try:
        return int(await conn.fetchval(sql, *args))
    except asyncpg.UndefinedTableError:  # nothing tracked yet
        return 0


def backfill_event_index(app: ServiceApplication, batch: int = 1000) -> int:
    """Index the events recorded before `event_index` existed (decrypting only those); a no-op
    once every event is indexed. Returns how many were added."""
    recorder: Any = app.recorder
    schema = Identifier(recorder.datastore.schema)
    missing = SQL(
        "SELECT e.notification_id FROM {}.{} e LEFT JOIN {}.{} i USING (notification_id) "
        "WHERE i.notification_id IS NULL ORDER BY 1 LIMIT %s"
    ).format(schema, Identifier(recorder.events_table_name), schema, Identifier(EVENT_INDEX_TABLE))
    insert = SQL("INSERT INTO {}.{} SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[]) "
                 "ON CONFLICT DO NOTHING").format(schema, Identifier(EVENT_INDEX_TABLE))
    added = 0
    while True:
        with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(missing, (batch,))
            wanted = {row["notification_id"] for row in cursor.fetchall()}
        if not wanted:
            return added
        first, last = min(wanted), max(wanted)
        rows = []
        for notification in recorder.select_notifications(start=first, stop=last,
                                                          limit=last - first + 1):
            if notification.id in wanted:
                event = app.mapper.to_domain_event(notification)
                rows.append((notification.id, getattr(event, "meta", {}).get("tenant_id", ""),
                             type(event).__name__))
        with recorder.datastore.get_connection() as conn, conn.transaction(), \
                conn.cursor() as cursor:
            ids, tenants, types = zip(*rows, strict=True)
            cursor.execute(insert, (list(ids), list(tenants), list(types)))
        added += len(rows)
