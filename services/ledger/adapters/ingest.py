"""JetStream → audit log: every event of every service, appended in batches, exactly once.

The ledger does not use the shared per-message consumer: it must append in large batches
(one transaction per batch, ≥10k events/s), keep each stream's order (a failed batch is
retried in place, never nak'ed behind later messages) and never drop an event after N
attempts. Only messages that are not envelopes at all are refused: recorded in
`rejected_messages`, copied to the dead-letter stream and terminated. An append that fails is
retried in place with capped backoff (an infrastructure fault until it clears; any other error
too, since an audit log never skips, but with an ERROR line) and each stream's loop reports its
progress, so a lasting block turns its health NOT_SERVING (services/common/health.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.common.cancellation import raise_if_cancelling
from services.common.faults import describe, is_fault, retry_delay
from services.common.health import Part, ProgressMonitor, consumer_part
from services.common.puller import BatchPuller
from services.ledger.adapters.appender import Appender
from services.ledger.adapters.mapping import MalformedEnvelope, facts_from_wire
from services.ledger.domain.entry import EventFacts

log = logging.getLogger(__name__)

RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)
HELD_REDELIVERY_SECONDS = 10.0
"""How soon an event of a chain halted by a forgery is offered again (it is never dropped)."""


@dataclass
class IngestStats:
    appended: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    failures: int = 0  # appends that PostgreSQL refused (retried)
    nats_errors: int = 0  # pull loops restarted after a NATS error (retried)
    held: int = 0  # events of chains halted by a forgery (redelivered, never dropped)
    by_stream: dict[str, int] = field(default_factory=dict)


class StreamIngest:
    def __init__(
        self,
        nc: NATS,
        appender: Appender,
        pool: asyncpg.Pool,
        *,
        durable: str,
        batch_size: int,
        ack_wait_seconds: float = 10.0,
        dead_letter_subject: str,
        clock: Callable[[], datetime],
        monitor: ProgressMonitor | None = None,
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.appender = appender
        self.pool = pool
        self.durable = durable
        self.batch_size = batch_size
        self.ack_wait_seconds = ack_wait_seconds
        self.dead_letter_subject = dead_letter_subject
        self.clock = clock
        self.stats = IngestStats()
        self.monitor = monitor
        self._parts: dict[str, Part] = {}

    def part(self, stream: str) -> Part:
        """One stream's progress (health name oonledger.consumer.<durable>.<stream>)."""
        if stream not in self._parts:
            name = consumer_part(f"{self.durable}.{stream}")
            self._parts[stream] = self.monitor.part(name) if self.monitor else Part(name)
        return self._parts[stream]

    async def ensure_consumer(self, stream: str) -> None:
        """Create the durable pull consumer (idempotent for an unchanged configuration)."""
        config = ConsumerConfig(
            durable_name=self.durable,
            # Explicit, not ALL: after a crash a later batch must never ack earlier messages
            # that were delivered but not yet stored.
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=-1,  # an audit trail never gives up on an event
            # Short, so a dead appender's in-flight events return quickly; a batch that waits
            # for PostgreSQL keeps its messages with in_progress() instead.
            ack_wait=self.ack_wait_seconds,
            max_ack_pending=max(4 * self.batch_size, 1000),
        )
        await self.js.add_consumer(stream, config)

    async def run(self, stream: str) -> None:
        """Pull `stream` into the log until cancelled.

        NATS trouble on this stream (no leader during an election, a lost connection) is
        retried here, with backoff, and never stops the ingest of the other streams: run as
        siblings in one TaskGroup, a stream that raised would cancel them all, and a sibling
        whose cancellation a library swallowed would then keep the group, and the error,
        waiting forever (the stall the cluster test found; docs/decisions.md §10).
        """
        attempt = 0
        while True:
            try:
                puller = await self.puller(stream)
                attempt = 0
                try:
                    await self._pull(stream, puller)
                finally:
                    with contextlib.suppress(nats.errors.Error):
                        await puller.stop()  # the connection may be closed already
            except nats.errors.Error as exc:
                self.stats.nats_errors += 1
                self.part(stream).blocked(f"pulling failed: {describe(exc)}")
                delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
                log.warning("ledger: pulling %s failed (%r); retry in %.1fs", stream, exc, delay)
                attempt += 1
                await asyncio.sleep(delay)

    async def _pull(self, stream: str, puller: BatchPuller) -> None:
        while True:
            raise_if_cancelling()
            messages = await puller.fetch(self.batch_size)
            if not messages:
                self.part(stream).progressed()  # nothing to do is not a stall
                continue
            async with self._kept(messages, puller):
                await self.handle(stream, messages)
            self.part(stream).progressed()

    async def puller(self, stream: str) -> BatchPuller:
        await self.ensure_consumer(stream)
        puller = BatchPuller(self.nc, stream, self.durable)
        await puller.start()
        return puller

    async def handle(self, stream: str, messages: Sequence[Msg]) -> None:
        batch: list[EventFacts] = []
        event_ids: dict[int, str] = {}
        for msg in messages:
            try:
                facts = facts_from_wire(msg.data)
            except MalformedEnvelope as exc:
                await self._reject(stream, msg, str(exc))
                continue
            batch.append(facts)
            event_ids[id(msg)] = facts.event_id
        held: frozenset[str] = frozenset()
        if batch:
            held = await self._append_until_stored(stream, batch)
        for msg in messages:
            if msg.is_acked:
                continue
            if event_ids.get(id(msg)) in held:
                # Its chain is halted by a forgery (services/ledger/domain/appending.py): never
                # acknowledged, offered again until an operator has dealt with the forgery.
                await msg.nak(delay=HELD_REDELIVERY_SECONDS)
            else:
                await msg.ack()

    @contextlib.asynccontextmanager
    async def _kept(self, messages: Sequence[Msg], puller: BatchPuller) -> AsyncIterator[None]:
        """While a batch is being stored (PostgreSQL slow, locked or down), tell JetStream
        every third of `ack_wait` that it and the messages waiting in the puller's buffer are
        still in progress, so they are not handed out again meanwhile (a second copy would be
        deduplicated, but it costs a pass and arrives late)."""

        async def keep_alive() -> None:
            while True:
                await asyncio.sleep(self.ack_wait_seconds / 3)
                with contextlib.suppress(nats.errors.Error):  # redelivery is the fallback
                    for msg in [*messages, *puller.buffered]:
                        if not msg.is_acked:
                            await msg.in_progress()

        task = asyncio.create_task(keep_alive())
        try:
            yield
        finally:
            task.cancel()  # not awaited: suppressing its CancelledError could swallow ours

    async def _append_until_stored(self, stream: str, batch: list[EventFacts]) -> frozenset[str]:
        """Append until PostgreSQL takes the batch; the ids of the events it held back."""
        part = self.part(stream)
        part.busy(f"appending {len(batch)} events from {stream}")
        attempt = 0
        while True:
            raise_if_cancelling()
            try:
                result = await self.appender.append(batch)
                break
            except Exception as exc:
                self.stats.failures += 1
                attempt += 1
                fault = is_fault(exc)
                kind = "infrastructure fault" if fault else "error"
                part.blocked(f"{kind} (attempt {attempt}): {describe(exc)}")
                if attempt == 1:
                    # Not a fault: a batch cannot be split blindly and an audit log never
                    # skips, so it is retried in place too, and said loudly.
                    level = logging.WARNING if fault else logging.ERROR
                    log.log(level, "ledger: append of %d events from %s failed (%r); "
                            "retrying in place", len(batch), stream, exc)
                await asyncio.sleep(retry_delay(attempt))  # capped backoff, in place
        self.stats.batches += 1
        self.stats.appended += len(result.appended)
        self.stats.duplicates += result.duplicates
        self.stats.by_stream[stream] = self.stats.by_stream.get(stream, 0) + len(result.appended)
        self.stats.held += len(result.held)
        return result.held

    async def _reject(self, stream: str, msg: Msg, reason: str) -> None:
        seq = msg.metadata.sequence.stream
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO rejected_messages VALUES ($1, $2, $3, $4, $5, $6) "
                "ON CONFLICT DO NOTHING",
                stream,
                seq,
                msg.subject,
                reason,
                msg.data,
                self.clock(),
            )
        headers = {
            "Oon-Dead-Reason": reason[:1000],
            "Oon-Original-Subject": msg.subject,
            "Oon-Consumer": self.durable,
            "Nats-Msg-Id": f"dl:{self.durable}:{stream}:{seq}",
        }
        await self.js.publish(self.dead_letter_subject, msg.data, headers=headers)
        await msg.term()
        self.stats.rejected += 1
        log.error("ledger: rejected message %s#%d from %s: %s", stream, seq, msg.subject, reason)
