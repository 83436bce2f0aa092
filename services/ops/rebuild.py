"""Rebuild a read model from its source stream, online: `python -m services.ops.rebuild`.

`python -m services.ops.rebuild <service> <read-model>` (the service's environment:
DATABASE_URL, NATS_URL, OON_NAMESPACE); `--list` names them. In ONE transaction:
1. lock the schema's `projection_tracking` against writes (the live consumers of that schema
   pause at their next event; one already mid-transaction finishes first, so nothing deadlocks)
   and the read model's tables against writes (readers keep reading the old rows);
2. delete the read model's rows and its consumer's tracking records;
3. replay the source stream from its first event up to its last at the start, through the same
   handlers the live consumer uses, writing tracking records as the consumer would (then any
   other stream that also writes into those tables, e.g. settlement's payments add ICNs to
   `claim_refs`; their own consumer keeps their tracking);
4. commit: readers see the rebuilt rows at once; the live consumer resumes, finds the replayed
   events tracked and processes only the newer ones.
Progress (position/total, events/s) is reported per batch. The stream must still hold the read
model's whole history (the project's streams keep everything; a stream whose head was removed
by limits is refused rather than half rebuilt).
"""
# The only interpolated SQL text is the schema and table names (validated settings, constants
# below); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.claims.adapters.projections import ClaimsReadModel
from services.common import jetstream
from services.common.consumer import Delivery
from services.common.local_env import local_settings
from services.common.settings import Settings
from services.common.wire import decode_payload
from services.fees.adapters.projections import FeeProjections
from services.fees.main import READ_MODELS as FEE_READ_MODELS
from services.negotiation.adapters.projections import WorkQueue
from services.negotiation.application import NegotiationApplication
from services.settlement.adapters import claim_facts
from services.settlement.adapters import projections as settlement
from services.settlement.adapters.subscriptions import CLAIMS_EVENTS as SETTLEMENT_CLAIMS_EVENTS

log = logging.getLogger(__name__)
BATCH = 500

Apply = Callable[[asyncpg.Connection, Sequence[Delivery]], Awaitable[None]]
"""Apply a batch in the caller's transaction, writing the tracking records too."""


@dataclass(frozen=True)
class Source:
    upstream: str  # the stream
    build: Callable[[Settings, asyncpg.Pool], Apply]
    event_types: tuple[str, ...] = ()  # empty: every event of the stream


@dataclass(frozen=True)
class ReadModel:
    service: str
    name: str  # the live consumer's name (its tracking records are `projection_tracking` rows)
    tables: tuple[str, ...]
    source: Source  # what the live consumer reads (its tracking is rebuilt with the rows)
    also: tuple[Source, ...] = ()  # other streams writing into these tables, untracked here

    @property
    def upstream(self) -> str:
        return self.source.upstream


def untracked(handler: Callable[[asyncpg.Connection, Delivery], Awaitable[None]]) -> Apply:
    async def apply(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            await handler(conn, delivery)

    return apply


def tracked(schema: str, consumer: str,
            handler: Callable[[asyncpg.Connection, Delivery], Awaitable[None]]) -> Apply:
    """A per-event projection handler, with the tracking insert of `ProjectionProcessor`."""
    track = (f'INSERT INTO "{schema}".projection_tracking VALUES ($1, $2, $3) '
             "ON CONFLICT DO NOTHING RETURNING 1")

    async def apply(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            envelope = delivery.envelope
            if await conn.fetchval(track, consumer, envelope.service, envelope.notification_id):
                await handler(conn, delivery)  # else a duplicate in the stream

    return apply


def _claims_read_model(settings: Settings, pool: asyncpg.Pool) -> Apply:
    read_model = ClaimsReadModel(pool, settings.schema, settings.phi_keys())
    return tracked(settings.schema, "read-model", read_model.project)


def _work_queue(settings: Settings, pool: asyncpg.Pool) -> Apply:
    app = NegotiationApplication(settings)  # for the deadline calendar the service uses
    engine = app.engine
    app.close()
    return tracked(settings.schema, "work-queue",
                   WorkQueue(pool, settings.schema, engine).apply)


def _settlement(handlers: dict[str, settlement.Handler] | claim_facts.KeyedHandlers,
                consumer: str | None,
                in_version_order: bool = False) -> Callable[[Settings, asyncpg.Pool], Apply]:
    def build(settings: Settings, pool: asyncpg.Pool) -> Apply:
        table = handlers(settings.phi_keys()) if callable(handlers) else handlers
        project = settlement.projector(settings.schema, table,
                                       in_version_order=in_version_order)
        return tracked(settings.schema, consumer, project) if consumer else untracked(project)

    return build


def _fee_read_models(settings: Settings, pool: asyncpg.Pool) -> Apply:
    projections = FeeProjections(settings.schema)

    async def apply(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        await projections.handle_batch(conn, FEE_READ_MODELS, deliveries)

    return apply


READ_MODELS: tuple[ReadModel, ...] = (
    ReadModel("claims", "read-model", ("claims_read",), Source("claims", _claims_read_model)),
    ReadModel("negotiation", "work-queue", ("work_queue",), Source("negotiation", _work_queue)),
    ReadModel("settlement", "claim-facts", ("claim_refs",),
              Source("claims", _settlement(claim_facts.claims_handlers, "claim-facts"),
                     tuple(SETTLEMENT_CLAIMS_EVENTS)),
              also=(Source("settlement",
                           _settlement(settlement.claim_refs_from_settlement, None),
                           settlement.CLAIM_REFS_FROM_SETTLEMENT_EVENTS),)),
    ReadModel("settlement", "settlement-read-models",
              ("settlements", "payments", "journal_transactions", "journal_postings",
               "remittance_files", "remittances", "projected_versions", "payment_exceptions"),
              Source("settlement", _settlement(settlement.settlement_handlers,
                                               "settlement-read-models", in_version_order=True))),
    ReadModel("fees", "fee-read-models",
              ("fee_claims", "fee_lines", "fee_activity", "fee_invoices"),
              Source("fees", _fee_read_models)),
)


def read_model(service: str, name: str) -> ReadModel:
    for model in READ_MODELS:
        if (model.service, model.name) == (service, name):
            return model
    known = ", ".join(f"{m.service} {m.name}" for m in READ_MODELS)
    raise LookupError(f"no read model {service} {name!r}; known: {known}")


@dataclass(frozen=True)
class Progress:
    stream: str
    position: int  # stream sequence reached
    total: int  # the stream's last sequence at the start
    applied: int  # events of the read model's types applied
    elapsed: float

    @property
    def rate(self) -> float:
        return self.applied / self.elapsed if self.elapsed > 0 else 0.0

    def __str__(self) -> str:
        percent = 100 * self.position // max(self.total, 1)
        return (f"{self.stream} {self.position}/{self.total} ({percent}%), "
                f"{self.applied} events applied, {self.rate:.0f} events/s")


async def rebuild(model: ReadModel, settings: Settings, pool: asyncpg.Pool,
                  js: JetStreamContext,
                  on_progress: Callable[[Progress], None] = lambda progress: None) -> Progress:
    """Rebuild `model` in `settings`' schema (see the module docstring); returns the totals of
    its tracked source."""
    schema = f'"{settings.schema}"'
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"LOCK TABLE {schema}.projection_tracking IN SHARE ROW EXCLUSIVE MODE")
        tables = ", ".join(f"{schema}.{table}" for table in model.tables)
        await conn.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
        for table in model.tables:
            await conn.execute(f"DELETE FROM {schema}.{table}")
        await conn.execute(f"DELETE FROM {schema}.projection_tracking "
                           "WHERE consumer = $1 AND upstream = $2", model.name, model.upstream)
        done = await _replay(conn, model.source, settings, pool, js, on_progress)
        for source in model.also:
            await _replay(conn, source, settings, pool, js, on_progress)
    return done


async def _replay(conn: asyncpg.Connection, source: Source, settings: Settings,
                  pool: asyncpg.Pool, js: JetStreamContext,
                  on_progress: Callable[[Progress], None]) -> Progress:
    """Apply the source stream from its start to its current end, in `conn`'s transaction."""
    apply = source.build(settings, pool)
    stream = settings.stream_for(source.upstream)
    state = (await js.stream_info(stream)).state
    if state.last_seq and state.first_seq > 1:
        raise RuntimeError(f"{stream} no longer holds its first {state.first_seq - 1} "
                           "events; a rebuild from it would be incomplete")
    started = time.monotonic()
    progress = Progress(stream, 0, state.last_seq, 0, 0.0)
    async for deliveries, position in _read(js, settings, source, state.last_seq):
        await apply(conn, deliveries)
        progress = Progress(stream, position, state.last_seq,
                            progress.applied + len(deliveries), time.monotonic() - started)
        on_progress(progress)
    if progress.position < state.last_seq:
        raise RuntimeError(f"{stream} ended at {progress.position} of {state.last_seq}; "
                           "nothing was changed")
    return progress


async def _read(js: JetStreamContext, settings: Settings, source: Source, last: int
                ) -> AsyncIterator[tuple[list[Delivery], int]]:
    """The stream from its start to `last`, in batches (an ephemeral consumer, no acks)."""
    if not last:
        return
    subscription = await js.pull_subscribe(
        f"{settings.subject_prefix_for(source.upstream)}.>", durable=None,
        stream=settings.stream_for(source.upstream),
        config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL,
                              inactive_threshold=60))  # removed by the server if we die
    wanted = set(source.event_types)
    try:
        position = 0
        while position < last:
            try:
                messages = await subscription.fetch(BATCH, timeout=5)
            except TimeoutError:
                return  # the caller sees the position fell short
            batch = []
            for msg in messages:
                if msg.metadata.sequence.stream > last:
                    break
                position = msg.metadata.sequence.stream
                envelope = EventEnvelope.FromString(msg.data)
                if wanted and envelope.event_type not in wanted:
                    continue
                batch.append(Delivery(envelope, decode_payload(envelope), datetime.now(UTC)))
            yield batch, position
            if messages and messages[-1].metadata.sequence.stream > last:
                return
    finally:
        await subscription.unsubscribe()


async def main_async(service: str, name: str) -> int:
    model = read_model(service, name)
    settings = Settings.from_env(service, local_settings(tool="services.ops.rebuild"))
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    nc = await jetstream.connect(settings, name=f"oonledger-{service}-rebuild")
    try:
        done = await rebuild(model, settings, pool, nc.jetstream(),
                             lambda progress: print(f"{service} {name}: {progress}", flush=True))
    finally:
        await nc.close()
        await pool.close()
    print(f"rebuilt {service} {name}: {done}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.ops.rebuild",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("service", nargs="?")
    parser.add_argument("read_model", nargs="?")
    parser.add_argument("--list", action="store_true", help="name every read model")
    options = parser.parse_args(argv)
    if options.list or not options.read_model:
        for model in READ_MODELS:
            streams = ", ".join(source.upstream for source in (model.source, *model.also))
            print(f"{model.service} {model.name}\t(from the stream(s) {streams}: "
                  f"{', '.join(model.tables)})")
        return 0 if options.list else 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return asyncio.run(main_async(options.service, options.read_model))
    except LookupError as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
