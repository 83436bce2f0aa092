"""The outbox relay: the service's notification log → JetStream, in order, at least once.

One active relay per service (a PostgreSQL advisory lock); its checkpoint lives in the
service's schema and advances only after JetStream acknowledged the batch. A crash re-publishes
from the checkpoint and JetStream's dedupe (`Nats-Msg-Id = <service>:<notification id>`)
absorbs the repeats; consumers also track what they processed.

A batch that cannot be read or published (PostgreSQL down, the broker refusing a message) is
retried with capped backoff, never skipped: the relay reports itself blocked to the service's
ProgressMonitor (services/common/health.py), which turns a lasting block into NOT_SERVING, an
ERROR line and `oonledger_part_blocked`; `oonledger_relay_lag` shows what waits behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import weakref
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import asyncpg
from nats.js import JetStreamContext
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from services.common.cancellation import raise_if_cancelling
from services.common.eventstore import ServiceApplication
from services.common.faults import describe, retry_delay
from services.common.health import RELAY_PART, Part, ProgressMonitor
from services.common.recorder import UnpipelinedProcessRecorder
from services.common.settings import Settings
from services.common.wire import build_envelope, event_id_of, subject_for, with_ids

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    notification_id: int
    subject: str
    data: bytes
    headers: dict[str, str]

BATCH_SIZE = 500
IDLE_POLL_SECONDS = 1.0
# After a short batch, commits that land meanwhile are gathered this long before the next
# read: under a stream of small commits, a few larger batches (fewer reads, checkpoint writes
# and flushes) instead of one per commit, for at most this much more latency.
COALESCE_SECONDS = 0.005


def _lock_key(schema: str) -> int:
    digest = hashlib.sha256(f"relay:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Relay:
    def __init__(
        self,
        app: ServiceApplication,
        settings: Settings,
        js: JetStreamContext,
        pool: asyncpg.Pool,
        monitor: ProgressMonitor | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.js = js
        self.pool = pool
        # Its own thread: reading the log never queues behind command handling.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay")
        self.prefix = settings.subject_prefix_for(settings.service)
        self.stream = settings.stream_for(settings.service)
        table = f'"{settings.schema}".relay_checkpoint'  # schema name validated in Settings
        self._create_sql = (
            f"CREATE TABLE IF NOT EXISTS {table} "
            "(stream text PRIMARY KEY, notification_id bigint NOT NULL)"
        )
        self._select_sql = f"SELECT notification_id FROM {table} WHERE stream = $1"  # noqa: S608
        self._upsert_sql = (
            f"INSERT INTO {table} (stream, notification_id) VALUES ($1, $2) "  # noqa: S608
            "ON CONFLICT (stream) DO UPDATE SET notification_id = $2"
        )
        # The NOTIFY channel eventsourcing's PostgreSQL recorder signals on each commit.
        self._channel: str = getattr(app.recorder, "channel_name", "")
        self._wake = asyncio.Event()
        self.published_through = 0
        self.last_recorded = 0  # the highest notification id seen in the log
        self._last_recorded_at = float("-inf")
        self.holds_lock = False
        self.progress: Part = monitor.part(RELAY_PART) if monitor else Part(RELAY_PART)
        self._labels = {"service": settings.service}
        _RELAYS.add(self)

    def wake(self) -> None:
        """Thread-safe: called after each local commit."""
        loop = self._loop
        # Already woken: nothing to add (a racy read that can only cost one more wake-up).
        if loop is not None and not loop.is_closed() and not self._wake.is_set():
            loop.call_soon_threadsafe(self._wake.set)

    _loop: asyncio.AbstractEventLoop | None = None

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.app.on_recorded(self.wake)
        schema = self.settings.schema
        async with self.pool.acquire() as lock_conn:
            await lock_conn.execute(self._create_sql)
            await lock_conn.add_listener(self._channel, self._on_notify)
            try:
                while not await lock_conn.fetchval(
                    "SELECT pg_try_advisory_lock($1)", _lock_key(schema)
                ):
                    await self._sleep(IDLE_POLL_SECONDS)  # another replica is relaying
                self.holds_lock = True
                log.info("%s relay active", self.settings.service)
                await self._relay_forever(lock_conn)
            finally:
                self.holds_lock = False
                if not lock_conn.is_closed():
                    await lock_conn.remove_listener(self._channel, self._on_notify)
                    await lock_conn.execute("SELECT pg_advisory_unlock_all()")

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        # Woken by a commit (NOTIFY or in-process), or after `seconds` at the latest.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # not wait_for: see services/common/puller.py
                await self._wake.wait()
        self._wake.clear()

    async def _relay_forever(self, conn: asyncpg.Connection) -> None:
        checkpoint = await conn.fetchval(self._select_sql, self.stream)
        position = int(checkpoint or 0)
        self.published_through = position
        self.last_recorded = max(self.last_recorded, position)
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            raise_if_cancelling()
            try:
                batch = await loop.run_in_executor(self.executor, self._read_batch, position)
                if not batch:
                    self.progress.progressed()  # caught up
                    await self._sleep(IDLE_POLL_SECONDS)
                    continue
                self.last_recorded = max(self.last_recorded, batch[-1].notification_id)
                self.progress.busy(f"publishing notifications {batch[0].notification_id}"
                                   f"..{batch[-1].notification_id}")
                await self._publish(batch)
                position = batch[-1].notification_id
                await conn.execute(self._upsert_sql, self.stream, position)
            except Exception as exc:  # never skip: the same batch is retried until it goes
                if conn.is_closed():
                    raise  # the lock connection is gone: the runtime restarts the relay
                failures += 1
                await self._blocked(position, exc, failures)
                continue
            failures = 0
            self.published_through = position
            _published.add(len(batch), self._labels)
            self.progress.progressed()
            if len(batch) == BATCH_SIZE:  # a backlog: how much more waits
                await self._refresh_last_recorded()
            else:
                await asyncio.sleep(COALESCE_SECONDS)

    async def _blocked(self, position: int, exc: Exception, failures: int) -> None:
        reason = f"cannot publish after notification {position}: {describe(exc)}"
        self.progress.blocked(reason)
        if failures == 1:  # the stall alarm (health.py) speaks if it lasts
            log.warning("%s relay: %s; retrying", self.settings.service, reason, exc_info=exc)
        await self._refresh_last_recorded()  # how much waits behind the block
        await asyncio.sleep(retry_delay(failures))  # capped backoff; commits do not wake it

    async def _refresh_last_recorded(self) -> None:
        """The log's highest notification id, for `lag`; at most once a second."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_recorded_at < 1.0:
            return
        self._last_recorded_at = loop.time()
        try:
            recorder = self.app.recorder
            latest = await loop.run_in_executor(self.executor, recorder.max_notification_id)
            self.last_recorded = max(self.last_recorded, int(latest or 0))
        except Exception as exc:
            # The database may be what is down: the lag gauge keeps its last value, and the
            # relay's own part reports the outage (health, ERROR line) if it blocks publishing.
            log.debug("%s relay: lag not refreshed: %s", self.settings.service, describe(exc))

    @property
    def lag(self) -> int:
        """Events recorded but not yet published."""
        return max(0, self.last_recorded - self.published_through)

    def _read_batch(self, position: int) -> list[Outgoing]:
        """The next notifications' integration messages, as stored when they were saved (no
        decryption, decoding or encoding here); an event saved without its message (before
        messages were stored) has it built from the event, as it always was."""
        recorder = cast(UnpipelinedProcessRecorder, self.app.recorder)
        service = self.settings.service
        batch = []
        for notification_id, message in recorder.stored_messages(position, BATCH_SIZE):
            if message is None:
                batch.append(self._built(notification_id))
                continue
            headers = {"Nats-Msg-Id": event_id_of(service, notification_id)}
            if message.traceparent:
                headers["traceparent"] = message.traceparent
            batch.append(Outgoing(notification_id, message.subject,
                                  with_ids(service, notification_id, message.body), headers))
        return batch

    def _built(self, notification_id: int) -> Outgoing:
        (notification,) = self.app.recorder.select_notifications(
            start=notification_id, limit=1, inclusive_of_start=True)
        event = self.app.mapper.to_domain_event(notification)
        envelope = build_envelope(self.settings.service, notification.id, event,
                                  datetime.now(UTC), self.app.published_language)
        headers = {"Nats-Msg-Id": envelope.event_id}
        if envelope.traceparent:
            headers["traceparent"] = envelope.traceparent
        return Outgoing(notification.id, subject_for(self.prefix, envelope),
                        envelope.SerializeToString(), headers)

    async def _publish(self, batch: list[Outgoing]) -> None:
        futures = [
            await self.js.publish_async(item.subject, item.data, headers=item.headers,
                                        stream=self.stream)
            for item in batch
        ]
        async with asyncio.timeout(30):
            await asyncio.gather(*futures)

    def close(self) -> None:
        _RELAYS.discard(self)
        self.executor.shutdown(wait=False, cancel_futures=True)


_RELAYS: weakref.WeakSet[Relay] = weakref.WeakSet()


def _observe_lag(_options: CallbackOptions) -> Iterable[Observation]:
    for relay in list(_RELAYS):
        if relay.holds_lock:
            yield Observation(relay.lag, {"service": relay.settings.service})


_meter = metrics.get_meter("oonledger")
_published = _meter.create_counter(
    "oonledger.relay.published", description="Events the relay published to JetStream")
_meter.create_observable_gauge(
    "oonledger.relay.lag", callbacks=[_observe_lag],
    description="Events recorded but not yet published (last recorded notification id minus "
                "the one published through)")
