"""The outbox relay: the service's notification log → JetStream, in order, at least once.

One active relay per service (a PostgreSQL advisory lock); its checkpoint lives in the
service's schema and advances only after JetStream acknowledged the batch. A crash re-publishes
from the checkpoint and JetStream's dedupe (`Nats-Msg-Id = <service>:<notification id>`)
absorbs the repeats; consumers also track what they processed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from nats.js import JetStreamContext

from services.common.cancellation import raise_if_cancelling
from services.common.eventstore import ServiceApplication
from services.common.settings import Settings
from services.common.wire import build_envelope, subject_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    notification_id: int
    subject: str
    data: bytes
    headers: dict[str, str]

BATCH_SIZE = 500
IDLE_POLL_SECONDS = 1.0


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
    ) -> None:
        self.app = app
        self.settings = settings
        self.js = js
        self.pool = pool
        # Its own thread: reading and decrypting the log never queues behind command handling.
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
        self.holds_lock = False

    def wake(self) -> None:
        """Thread-safe: called after each local commit."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
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
        loop = asyncio.get_running_loop()
        while True:
            raise_if_cancelling()
            batch = await loop.run_in_executor(self.executor, self._read_batch, position)
            if not batch:
                await self._sleep(IDLE_POLL_SECONDS)
                continue
            try:
                await self._publish(batch)
            except Exception:
                log.exception("%s relay: publish failed; retrying", self.settings.service)
                await self._sleep(IDLE_POLL_SECONDS)
                continue
            position = batch[-1].notification_id
            await conn.execute(self._upsert_sql, self.stream, position)
            self.published_through = position

    def _read_batch(self, position: int) -> list[Outgoing]:
        notifications = self.app.recorder.select_notifications(
            start=position, limit=BATCH_SIZE, inclusive_of_start=False
        )
        now = datetime.now(UTC)
        batch = []
        for notification in notifications:
            event = self.app.mapper.to_domain_event(notification)
            envelope = build_envelope(
                self.settings.service, notification.id, event, now, self.app.published_language
            )
            headers = {"Nats-Msg-Id": envelope.event_id}
            if envelope.traceparent:
                headers["traceparent"] = envelope.traceparent
            batch.append(
                Outgoing(notification.id, subject_for(self.prefix, envelope),
                         envelope.SerializeToString(), headers)
            )
        return batch

    async def _publish(self, batch: list[Outgoing]) -> None:
        futures = [
            await self.js.publish_async(item.subject, item.data, headers=item.headers,
                                        stream=self.stream)
            for item in batch
        ]
        async with asyncio.timeout(30):
            await asyncio.gather(*futures)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
