"""The partner feed: every integration event, per tenant, in one order, resumable by cursor.

A projection in the gateway's schema, fed by one durable consumer per upstream service
(`gateway-partner-feed-<service>`; services/common/consumer.py: exactly once, faults retried,
never dropped). Positions are assigned under a table lock, so they commit in increasing order
and a reader that has seen position N never later finds a new event below N: a cursor is safe
to resume from. The envelope is kept as received; the event travels to partners as its
contract message (proto/oonledger/<service>/v1/events.proto) packed in an `Any`.
"""

# Table names are built from the schema, checked against _IDENTIFIER; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from google.protobuf import any_pb2, json_format, struct_pb2
from google.protobuf.message import Message
from nats.js import JetStreamContext

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from oonledger.partner.v1 import partner_pb2 as pb
from services.common import contracts
from services.common.consumer import Consumer, Delivery, Subscription
from services.common.health import ProgressMonitor
from services.common.lease import run_while_leased
from services.common.processors import ProjectionProcessor
from services.common.settings import Settings

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")
_CURSOR = re.compile(r"p([0-9]{1,18})")


class BadCursor(ValueError):
    """Not a cursor this feed gave out."""


def cursor_of(position: int) -> str:
    return f"p{position}" if position else ""


def position_of(cursor: str) -> int:
    """The feed position a cursor names (0 for the empty cursor: before the first event)."""
    if not cursor:
        return 0
    match = _CURSOR.fullmatch(cursor.strip())
    if match is None:
        raise BadCursor(f"not a cursor: {cursor!r}")
    return int(match.group(1))


@dataclass(frozen=True)
class FeedFilter:
    event_types: tuple[str, ...] = ()
    client_id: str = ""
    claim_id: str = ""

    @classmethod
    def from_proto(cls, message: pb.EventFilter) -> FeedFilter:
        return cls(tuple(sorted({t.strip() for t in message.event_types if t.strip()})),
                   message.client_id.strip(), message.claim_id.strip())

    def to_proto(self) -> pb.EventFilter:
        return pb.EventFilter(event_types=list(self.event_types), client_id=self.client_id,
                              claim_id=self.claim_id)


@dataclass(frozen=True)
class FeedEvent:
    position: int
    client_id: str
    envelope: EventEnvelope

    def to_proto(self) -> pb.PartnerEvent:
        env = self.envelope
        event = pb.PartnerEvent(
            cursor=cursor_of(self.position), event_id=env.event_id, service=env.service,
            event_type=env.event_type, schema_version=env.schema_version,
            claim_id=env.claim_id, client_id=self.client_id, correlation_id=env.correlation_id,
            event=packed(env),
        )
        event.occurred_at.CopyFrom(env.occurred_at)
        return event


def packed(envelope: EventEnvelope) -> any_pb2.Any:
    """The event's contract message as an `Any` (a JSON payload as a `Struct`)."""
    contract = contracts.contract_for(envelope.service, envelope.event_type,
                                      envelope.schema_version)
    if contract is not None and envelope.payload_content_type.startswith(contracts.PROTOBUF):
        name = contract.message_class.DESCRIPTOR.full_name
        return any_pb2.Any(type_url=f"type.googleapis.com/{name}", value=envelope.payload)
    value = struct_pb2.Struct()
    json_format.Parse(envelope.payload or b"{}", value)
    result = any_pb2.Any()
    result.Pack(value)
    return result


def _client_named(delivery: Delivery) -> str:
    env = delivery.envelope
    if not contracts.is_contracted(env.service, env.event_type):
        return ""
    return client_named_by(delivery.message)


def client_named_by(message: Message) -> str:
    """The client an event names itself (`client_id`, or its claim's), "" when none."""
    fields = message.DESCRIPTOR.fields_by_name
    client = fields.get("client_id")
    if client is not None and client.type == client.TYPE_STRING:
        return str(getattr(message, client.name))
    claim = fields.get("claim")
    if claim is not None and claim.message_type is not None and message.HasField(claim.name):
        return client_named_by(getattr(message, claim.name))
    return ""


class PartnerFeed:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        if not _IDENTIFIER.fullmatch(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        self.pool = pool
        self.events = f'"{schema}".partner_events'
        self.clients = f'"{schema}".partner_claim_clients'
        self.schema = schema

    async def migrate(self, _pool: object = None) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            await conn.execute(f"""
                CREATE TABLE IF NOT EXISTS {self.events} (
                    position bigint PRIMARY KEY,
                    event_id text NOT NULL UNIQUE,
                    tenant_id text NOT NULL,
                    service text NOT NULL,
                    event_type text NOT NULL,
                    claim_id text NOT NULL,
                    client_id text NOT NULL,
                    envelope bytea NOT NULL,
                    recorded_at timestamptz NOT NULL DEFAULT now()
                )""")
            await conn.execute(f"CREATE INDEX IF NOT EXISTS partner_events_by_tenant "
                               f"ON {self.events} (tenant_id, position)")
            await conn.execute(f"""
                CREATE TABLE IF NOT EXISTS {self.clients} (
                    tenant_id text NOT NULL,
                    claim_id text NOT NULL,
                    client_id text NOT NULL,
                    PRIMARY KEY (tenant_id, claim_id)
                )""")

    async def record(self, conn: asyncpg.Connection, delivery: Delivery) -> None:
        """The projection handler (in the consumer's transaction, with its tracking row)."""
        await self.record_many(conn, [delivery])

    async def record_many(self, conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        """A batch of deliveries, in order, in a few statements (the consumer's transaction)."""
        # Positions commit in order (see the module's docstring). Taken first, so the claim ->
        # client look-up below sees what another service's consumer committed before us: taken
        # after it, a negotiation event could miss the client a concurrent claims batch was
        # learning, and keep an empty client_id for ever (a client filter then never sees it).
        await conn.execute(f"LOCK TABLE {self.events} IN SHARE ROW EXCLUSIVE MODE")
        named = [(d.envelope, _client_named(d)) for d in deliveries]
        learned = [(env.tenant_id, env.claim_id, client) for env, client in named
                   if client and env.claim_id]
        if learned:
            rows = await conn.fetch(
                f"INSERT INTO {self.clients} SELECT * FROM unnest($1::text[], $2::text[],"
                " $3::text[]) ON CONFLICT DO NOTHING RETURNING tenant_id, claim_id, client_id",
                *map(list, zip(*learned, strict=True)))
            if rows:  # the claim's events from other services may have come first
                await conn.execute(
                    f"UPDATE {self.events} e SET client_id = c.client_id FROM unnest($1::text[],"
                    " $2::text[], $3::text[]) AS c(tenant_id, claim_id, client_id)"
                    " WHERE e.tenant_id = c.tenant_id AND e.claim_id = c.claim_id"
                    " AND e.client_id = ''",
                    *map(list, zip(*[(r[0], r[1], r[2]) for r in rows], strict=True)))
        unknown = sorted({(env.tenant_id, env.claim_id) for env, client in named
                          if not client and env.claim_id})
        known: dict[tuple[str, str], str] = {}
        if unknown:
            rows = await conn.fetch(
                f"SELECT c.tenant_id, c.claim_id, c.client_id FROM {self.clients} c"
                " JOIN unnest($1::text[], $2::text[]) AS u(tenant_id, claim_id)"
                " USING (tenant_id, claim_id)", *map(list, zip(*unknown, strict=True)))
            known = {(r[0], r[1]): r[2] for r in rows}
        clients = [client or known.get((env.tenant_id, env.claim_id), "")
                   for env, client in named]
        await conn.execute(
            f"INSERT INTO {self.events} (position, event_id, tenant_id, service, event_type,"
            " claim_id, client_id, envelope)"
            f" SELECT (SELECT coalesce(max(position), 0) FROM {self.events}) + u.n, u.event_id,"
            " u.tenant_id, u.service, u.event_type, u.claim_id, u.client_id, u.envelope"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
            " $6::text[], $7::bytea[]) WITH ORDINALITY"
            " AS u(event_id, tenant_id, service, event_type, claim_id, client_id, envelope, n)"
            " ON CONFLICT (event_id) DO NOTHING",
            [env.event_id for env, _ in named], [env.tenant_id for env, _ in named],
            [env.service for env, _ in named], [env.event_type for env, _ in named],
            [env.claim_id for env, _ in named], clients,
            [env.SerializeToString() for env, _ in named])

    async def page(self, tenant_id: str, after: int, wanted: FeedFilter,
                   limit: int = 200) -> list[FeedEvent]:
        """The tenant's next events after `after` that match, in order."""
        conditions = ["tenant_id = $1", "position > $2"]
        args: list[object] = [tenant_id, after]
        if wanted.event_types:
            args.append(list(wanted.event_types))
            conditions.append(f"event_type = ANY(${len(args)}::text[])")
        if wanted.client_id:
            args.append(wanted.client_id)
            conditions.append(f"client_id = ${len(args)}")
        if wanted.claim_id:
            args.append(wanted.claim_id)
            conditions.append(f"claim_id = ${len(args)}")
        args.append(limit)
        rows = await self.pool.fetch(
            f"SELECT position, client_id, envelope FROM {self.events}"
            f" WHERE {' AND '.join(conditions)} ORDER BY position LIMIT ${len(args)}", *args)
        return [FeedEvent(row["position"], row["client_id"],
                          EventEnvelope.FromString(row["envelope"])) for row in rows]

    async def count(self, tenant_id: str) -> int:
        return int(await self.pool.fetchval(
            f"SELECT count(*) FROM {self.events} WHERE tenant_id = $1", tenant_id))


# The services whose integration events partners are told of (the audit ledger publishes none).
FEED_SOURCES = ("claims", "negotiation", "settlement", "fees")


class FeedFiller:
    """Fills the feed from every service's stream, on one gateway replica at a time.

    One replica holding the lease (services/common/lease.py) runs one shared-consumer durable
    per upstream (`gateway-partner-feed-<service>`): each processes its stream's events one
    after another, so each service's events enter the feed in the order it published them,
    while the deliveries are fetched in batches. Faults are retried, nothing is dropped, and a
    stalled durable shows in the gateway's health like any consumer.
    """

    def __init__(self, feed: PartnerFeed, js: JetStreamContext, settings: Settings,
                 monitor: ProgressMonitor) -> None:
        self.feed = feed
        self.consumers = [
            Consumer(js, settings, Subscription(
                source, f"partner-feed-{source}",
                ProjectionProcessor(feed.pool, feed.schema, f"partner-feed-{source}",
                                    feed.record, feed.record_many)), monitor)
            for source in FEED_SOURCES
        ]

    async def migrate(self) -> None:
        for consumer in self.consumers:
            processor = consumer.sub.processor
            assert isinstance(processor, ProjectionProcessor)
            await processor.migrate()

    async def run(self) -> None:
        async def fill() -> None:
            await asyncio.gather(*(consumer.run() for consumer in self.consumers))

        await run_while_leased(self.feed.pool, f"{self.feed.schema}:partner-feed", fill)
