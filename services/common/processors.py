"""The two processors a subscription hands its deliveries to (services/common/consumer.py):

- `ApplicationProcessor`: a reaction against the service's eventsourcing application, its new
  events and the upstream event's tracking record saved in one transaction (in batches when the
  consumer fetched several: docs/decisions.md §19);
- `ProjectionProcessor`: an asyncpg read model, rows and tracking in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Tracking

from services.common.aggregate import TenantAggregate
from services.common.bulk_loading import load_many
from services.common.consumer import (
    Delivery,
    PermanentFailure,
)
from services.common.errors import DomainError, EventTooLarge
from services.common.eventstore import AlreadyProcessed, ServiceApplication
from services.common.faults import is_fault

log = logging.getLogger(__name__)

Reaction = Callable[[Delivery], Sequence[TenantAggregate | None] | None]
# What a batch's reactions will load, read beforehand in one query per tenant and kind (the
# batch's copies, services/common/bulk_loading.py) instead of one query per aggregate.
Prefetch = Callable[[Sequence[Delivery]], Iterable[tuple[str, type[TenantAggregate], UUID]]]


class ApplicationProcessor:
    """Runs a synchronous reaction against an eventsourcing application in a worker thread."""

    def __init__(
        self, app: ServiceApplication, name: str, reaction: Reaction, executor: Any,
        prefetch: Prefetch | None = None,
    ) -> None:
        self.app = app
        self.name = name
        self.reaction = reaction
        self.executor = executor
        self.prefetch = prefetch

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
            if self.prefetch is not None:
                self._prefetch(deliveries[start:], overlay)
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

    def _prefetch(self, deliveries: Sequence[Delivery], overlay: dict[UUID, Any]) -> None:
        """The committed state of what the run's reactions will load, as the batch's copies
        (what `load` would give them, read with one query per tenant and kind); what does not
        exist is known absent for the run (`find` gives None without another query)."""
        assert self.prefetch is not None
        wanted: dict[tuple[str, type[TenantAggregate]], set[UUID]] = {}
        for tenant_id, kind, aggregate_id in self.prefetch(deliveries):
            wanted.setdefault((tenant_id, kind), set()).add(aggregate_id)
        for (tenant_id, kind), ids in wanted.items():
            found = load_many(self.app, ids, tenant_id, kind)
            for aggregate_id, aggregate in found.items():
                overlay.setdefault(aggregate_id, aggregate)
            self.app.absent_in_batch(ids - found.keys())  # asked once, for the whole batch

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
BatchProjectionHandler = Callable[[asyncpg.Connection, Sequence[Delivery]], Awaitable[None]]


class ProjectionProcessor:
    """Updates an asyncpg read model; rows and tracking commit in one transaction."""

    def __init__(self, pool: asyncpg.Pool, schema: str, name: str, handler: ProjectionHandler,
                 batch_handler: BatchProjectionHandler | None = None,
                 on_applied: Callable[[Delivery], None] | None = None):
        self.pool = pool
        self.schema = schema
        self.name = name
        self.handler = handler
        # Told of each delivery once its rows committed, and never of a duplicate or of a
        # rolled-back batch: where an event is counted exactly once (a metric).
        self.on_applied = on_applied
        # Applies a batch's new deliveries (in order) at once, where one statement for many
        # rows pays; without it each goes through `handler`.
        self.batch_handler = batch_handler
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
        self._applied((delivery,))
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
            applied: list[Delivery] = []
            for delivery in deliveries:
                key = (delivery.envelope.service, delivery.envelope.notification_id)
                if key in new:
                    new.discard(key)  # a repeat within the batch is a duplicate
                    if self.batch_handler is None:
                        await self.handler(conn, delivery)
                    applied.append(delivery)
                    outcomes.append(True)
                else:
                    outcomes.append(False)
            if applied and self.batch_handler is not None:
                await self.batch_handler(conn, applied)
        self._applied(applied)
        return outcomes

    def _applied(self, deliveries: Sequence[Delivery]) -> None:
        if self.on_applied is None:
            return
        for delivery in deliveries:
            try:
                self.on_applied(delivery)
            except Exception:  # committed: a failing observer must not make it look failed
                log.exception("%s: on_applied failed for %s", self.name,
                              delivery.envelope.event_id)


