"""Dead letters of a service's consumers: list them, replay them through the same processor.

`python -m services.ops.deadletters list|replay [--consumer D] [--all | --sequence N ...]`
calls the gateway's OperatorService with the tenant's admin key (OON_API_KEY), which sends the
call to the service owning the consumer.

A consumer dead-letters a message by copying it to `<prefix>.deadletter.<durable>` with the
headers `Oon-Dead-Reason`, `Oon-Original-Subject`, `Oon-Consumer` (services/common/consumer.py).
A replay decodes the copy and hands it to the processor of that durable in the running service:
its tracking records keep the effect exactly once (a replay of an event already applied is a
no-op). The dead letter is deleted only after the processor committed; one that fails again is
dead-lettered anew with the new reason, then the old copy is deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

import grpc
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from oonledger.operations.v1 import operations_pb2 as pb
from oonledger.operations.v1.operations_pb2_grpc import OperatorServiceStub
from services.common.consumer import Delivery, Processor
from services.common.errors import NotFound
from services.common.local_env import local_settings
from services.common.settings import Settings
from services.common.wire import decode_payload
from services.ops.cli import gateway_parser, key_metadata

log = logging.getLogger(__name__)

REASON = "Oon-Dead-Reason"
ORIGINAL_SUBJECT = "Oon-Original-Subject"
CONSUMER = "Oon-Consumer"
FETCH = 500
NO_MESSAGE_FOUND = 10057  # JetStream's error code for deleting a message that is gone


@dataclass(frozen=True)
class DeadLetterMessage:
    summary: pb.DeadLetter
    data: bytes
    headers: Mapping[str, str]


def describe(sequence: int, data: bytes, headers: Mapping[str, str]) -> pb.DeadLetter:
    letter = pb.DeadLetter(sequence=sequence, consumer=headers.get(CONSUMER, ""),
                           original_subject=headers.get(ORIGINAL_SUBJECT, ""),
                           reason=headers.get(REASON, ""))
    try:
        envelope = EventEnvelope.FromString(data)
    except Exception:  # an undecodable message is listed with what its headers say
        return letter
    letter.event_id, letter.event_type = envelope.event_id, envelope.event_type
    letter.tenant_id = envelope.tenant_id
    return letter


class DeadLetters:
    """The dead letters of some durables (one service's consumers) and their replay."""

    def __init__(self, js: JetStreamContext, settings: Settings,
                 processors: Mapping[str, Processor]) -> None:
        self.js = js
        self.settings = settings
        self.processors = dict(processors)  # durable → processor
        self.stream = settings.dead_letter_stream
        self.prefix = settings.subject_prefix_for("deadletter")

    async def letters(self, tenant_id: str, consumer: str = "") -> list[DeadLetterMessage]:
        """The tenant's dead letters of these durables (or of one), oldest first."""
        durables = self._durables(consumer)
        last = (await self.js.stream_info(self.stream)).state.last_seq
        if not last:
            return []
        subscription = await self.js.pull_subscribe(
            f"{self.prefix}.>", durable=None, stream=self.stream,
            config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL,
                                  inactive_threshold=30))
        found = []
        try:
            position = 0
            while position < last:
                try:
                    messages = await subscription.fetch(FETCH, timeout=2)
                except TimeoutError:
                    break  # the stream's tail was removed meanwhile
                for msg in messages:
                    position = msg.metadata.sequence.stream
                    headers = dict(msg.headers or {})
                    if headers.get(CONSUMER) not in durables:
                        continue
                    summary = describe(position, msg.data, headers)
                    if summary.tenant_id == tenant_id:
                        found.append(DeadLetterMessage(summary, msg.data, headers))
        finally:
            await subscription.unsubscribe()
        return found

    async def replay(self, tenant_id: str, consumer: str = "",
                     sequences: Iterable[int] = ()) -> list[pb.ReplayOutcome]:
        """Replay the tenant's dead letters (those `sequences`, or all of them)."""
        wanted = set(sequences)
        outcomes = []
        for letter in await self.letters(tenant_id, consumer):
            if wanted and letter.summary.sequence not in wanted:
                continue
            outcomes.append(await self._replay_one(letter))
        return outcomes

    async def _replay_one(self, letter: DeadLetterMessage) -> pb.ReplayOutcome:
        summary = letter.summary
        outcome = pb.ReplayOutcome(sequence=summary.sequence, consumer=summary.consumer,
                                   event_id=summary.event_id)
        processor = self.processors[summary.consumer]
        try:
            envelope = EventEnvelope.FromString(letter.data)
            delivery = Delivery(envelope, decode_payload(envelope), datetime.now(UTC))
            outcome.applied = await processor.process(delivery)
        except Exception as exc:
            outcome.failure = f"replay failed: {exc!r}"[:1000]
            headers = {**letter.headers, REASON: outcome.failure,
                       "Nats-Msg-Id": f"dl:{summary.consumer}:replay-of:{summary.sequence}"}
            ack = await self.js.publish(f"{self.prefix}.{summary.consumer}", letter.data,
                                        headers=headers)
            outcome.new_sequence = ack.seq
            log.error("%s: replay of dead letter %d (%s) failed again: %s", summary.consumer,
                      summary.sequence, summary.event_id, outcome.failure)
        await self._delete(summary.sequence)
        log.info("%s: dead letter %d (%s) replayed: %s", summary.consumer, summary.sequence,
                 summary.event_id, "failed again" if outcome.failure else "processed")
        return outcome

    async def _delete(self, sequence: int) -> None:
        try:
            await self.js.delete_msg(self.stream, sequence)
        except APIError as exc:
            # Another operator's replay of the same letter deleted it first (the effect is
            # still once: the tracking records).
            if exc.err_code != NO_MESSAGE_FOUND:
                raise

    def _durables(self, consumer: str) -> set[str]:
        if not consumer:
            return set(self.processors)
        if consumer not in self.processors:
            raise NotFound(f"{self.settings.service} has no consumer {consumer!r}; "
                           f"its consumers: {', '.join(sorted(self.processors))}")
        return {consumer}


# -- the operator command ------------------------------------------------------------------
def _parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = gateway_parser("python -m services.ops.deadletters",
                            "List or replay the tenant's dead letters (OperatorService).",
                            environ)
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the dead letters with their reasons")
    listing.add_argument("--consumer", default="", help="one durable, e.g. fees-claims-facts")
    replay = commands.add_parser("replay", help="re-process them through their consumer")
    replay.add_argument("--consumer", default="")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true")
    which.add_argument("--sequence", type=int, action="append", default=[],
                       help="a dead letter's sequence (repeatable)")
    return parser


async def run(argv: Sequence[str], environ: Mapping[str, str], out: TextIO = sys.stdout) -> int:
    options = _parser(environ).parse_args(argv)
    metadata = key_metadata(environ)
    if metadata is None:
        return 2
    async with grpc.aio.insecure_channel(options.gateway) as channel:
        stub = OperatorServiceStub(channel)
        try:
            if options.command == "list":
                listed = await stub.ListDeadLetters(
                    pb.ListDeadLettersRequest(consumer=options.consumer), metadata=metadata,
                    timeout=options.timeout)
                for letter in listed.dead_letters:
                    print(f"{letter.sequence}\t{letter.consumer}\t{letter.event_type}\t"
                          f"{letter.event_id}\t{letter.reason}", file=out)
                return 0
            replayed = await stub.ReplayDeadLetters(pb.ReplayDeadLettersRequest(
                request_id=uuid.uuid4().hex, consumer=options.consumer, all=options.all,
                sequences=options.sequence), metadata=metadata, timeout=options.timeout)
        except grpc.aio.AioRpcError as exc:
            print(f"{options.command} failed: {exc.code().name}: {exc.details()}",
                  file=sys.stderr)
            return 2
    for outcome in replayed.outcomes:
        result = (f"FAILED AGAIN (now {outcome.new_sequence}): {outcome.failure}"
                  if outcome.failure else "applied" if outcome.applied else "already applied")
        print(f"{outcome.sequence}\t{outcome.consumer}\t{outcome.event_id}\t{result}", file=out)
    return 1 if any(outcome.failure for outcome in replayed.outcomes) else 0


def main() -> int:
    environ = local_settings(os.environ, tool="services.ops.deadletters")
    return asyncio.run(run(sys.argv[1:], environ))


if __name__ == "__main__":
    sys.exit(main())
