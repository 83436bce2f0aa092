"""Reading back what the system recorded, for the failure test's accounting: each service's
notification log in PostgreSQL, each JetStream stream, and the ledger's audit entries."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from nats.js import JetStreamContext

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.wire import decode_payload


@dataclass
class StreamContents:
    """Every message of one stream: message ids (with repeats counted) and envelopes."""

    message_ids: Counter[str] = field(default_factory=Counter)
    envelopes: list[EventEnvelope] = field(default_factory=list)

    def of_type(self, event_type: str) -> list[EventEnvelope]:
        return [e for e in self.envelopes if e.event_type == event_type]

    def payloads(self, event_type: str) -> list[dict[str, Any]]:
        return [decode_payload(e) for e in self.of_type(event_type)]


async def read_stream(js: JetStreamContext, stream: str) -> StreamContents:
    info = await js.stream_info(stream)
    contents = StreamContents()
    if info.state.messages == 0:
        return contents
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg(stream, sequence)
        headers = message.headers or {}
        contents.message_ids[headers.get("Nats-Msg-Id", f"(no id, seq {sequence})")] += 1
        if message.data:
            contents.envelopes.append(EventEnvelope.FromString(message.data))
    return contents


async def notification_ids(pool: asyncpg.Pool, schema: str) -> set[int]:
    """The ids of the service's notification log (its events table in its own schema)."""
    async with pool.acquire() as connection:
        tables = await connection.fetch(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = $1 AND table_name LIKE '%\\_events'",
            schema,
        )
        assert len(tables) == 1, f"{schema}: expected one events table, found {tables}"
        rows = await connection.fetch(
            f'SELECT notification_id FROM "{schema}"."{tables[0]["table_name"]}"'
        )
    return {row["notification_id"] for row in rows}


async def ledger_event_ids(pool: asyncpg.Pool, schema: str) -> Counter[str]:
    async with pool.acquire() as connection:
        rows = await connection.fetch(f'SELECT event_id FROM "{schema}".audit_entries')
    return Counter(row["event_id"] for row in rows)


async def consumer_states(js: JetStreamContext, streams: list[str]) -> list[str]:
    """One line per durable consumer: what it still has to do and what it redelivered."""
    lines = []
    for stream in streams:
        for consumer in await js.consumers_info(stream):
            lines.append(
                f"{stream}/{consumer.name}: pending={consumer.num_pending} "
                f"ack_pending={consumer.num_ack_pending} redelivered={consumer.num_redelivered}"
            )
    return lines


async def claim_history(js: JetStreamContext, streams: list[str], claim_id: str) -> list[str]:
    """Every published event of one claim, stream by stream, in stream order."""
    lines = []
    for stream in streams:
        contents = await read_stream(js, stream)
        lines += [
            f"{stream}: {e.event_id} {e.event_type}"
            for e in contents.envelopes
            if e.claim_id == claim_id
        ]
    return lines
