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
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError
from opentelemetry import metrics

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common import contracts
from services.common.cancellation import raise_if_cancelling
from services.common.context import CommandContext
from services.common.faults import describe, is_fault, retry_delay
from services.common.health import Part, ProgressMonitor, consumer_part
from services.common.jetstream import kept_in_progress
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

    def _kept(self) -> contextlib.AbstractAsyncContextManager[None]:
        """While the fetched messages are handled, those not yet handled are kept in progress
        (`jetstream.kept_in_progress`)."""
        return kept_in_progress(self._held, ACK_WAIT_SECONDS)

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
