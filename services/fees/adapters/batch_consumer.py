"""A JetStream pull consumer that hands whole fetched batches to its processor.

It extends the shared `Consumer` (same durable config, fault/poison and retry rules): a batch
is applied in one transaction and acked after the commit; when the batch as a whole fails (a
version conflict, a database error) or one delivery of it fails, those messages go through the
shared one-at-a-time path, in order: an infrastructure fault is retried in place until it
clears (never dead-lettered), anything else is retried with backoff and dead-lettered after
`max_deliver`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.cancellation import raise_if_cancelling
from services.common.consumer import Consumer, Delivery, Subscription
from services.common.health import ProgressMonitor
from services.common.puller import BatchPuller
from services.common.settings import Settings
from services.common.wire import decode_payload

log = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 1.0


class BatchProcessor(Protocol):
    async def process(self, delivery: Delivery) -> bool: ...

    async def process_batch(self, deliveries: Sequence[Delivery]) -> list[bool | Exception]: ...


class BatchConsumer(Consumer):
    def __init__(self, nc: NATS, settings: Settings, subscription: Subscription,
                 processor: BatchProcessor, monitor: ProgressMonitor | None = None) -> None:
        super().__init__(nc.jetstream(), settings, subscription, monitor)
        self.nc = nc
        self.batch_processor = processor
        self._puller: BatchPuller | None = None

    async def _pull(self, psub: Any) -> None:
        # `psub` (the shared consumer's pull subscription) created the durable consumer; the
        # batches come through an inbox puller on that same durable consumer.
        puller = BatchPuller(self.nc, self.settings.stream_for(self.sub.upstream), self.durable)
        await puller.start()
        self._puller = puller
        try:
            while True:
                raise_if_cancelling()
                messages = await puller.fetch(self.sub.batch, FETCH_TIMEOUT_SECONDS)
                if not messages:
                    self.progress.progressed()  # nothing to do is not a stall
                    continue
                self._batch = messages
                async with self._kept():
                    await self._handle_batch(messages)
                self._batch = ()
        finally:
            await self._release(self._held())  # incl. what the puller buffered
            self._puller = None
            await puller.stop()

    def _held(self) -> Sequence[Msg]:
        buffered = self._puller.buffered if self._puller is not None else []
        return [*self._batch, *buffered]

    async def _handle_batch(self, messages: list[Msg]) -> None:
        decoded: list[tuple[Msg, Delivery]] = []
        for msg in messages:
            try:
                envelope = EventEnvelope.FromString(msg.data)
                decoded.append((msg, Delivery(envelope, decode_payload(envelope),
                                              datetime.now(UTC))))
            except Exception as exc:
                await self._dead_letter(msg, f"undecodable message: {exc}")
        if not decoded:
            return
        self.progress.busy(f"a batch of {len(decoded)} from {decoded[0][1].envelope.event_id}")
        try:
            outcomes = await self.batch_processor.process_batch([d for _, d in decoded])
        except Exception as exc:
            log.info("%s: batch of %d failed (%r); retrying one at a time", self.durable,
                     len(decoded), exc)
            for msg, _ in decoded:
                await self._handle(msg)
            return
        acks = []
        applied = 0
        for (msg, _), outcome in zip(decoded, outcomes, strict=True):
            if isinstance(outcome, Exception):
                await self._handle(msg)
                continue
            acks.append(msg.ack())
            applied += bool(outcome)
        await asyncio.gather(*acks)
        self._count(processed=applied, duplicates=len(acks) - applied)
