"""Audit ledger: ingest rate, ReplayClaim latency, whole-log verification and proof sizes.

Baselines measured in the same run: a plain asyncpg COPY of the same rows (what appending
costs without dedupe, chain lookups or hashing), a plain JetStream pull-and-ack of the same
messages, and a plain asyncpg read of the rows a replay returns.
Sizes (environment): LEDGER_BENCH_EVENTS (default 16,000), LEDGER_BENCH_VERIFY_EVENTS
(default 1,000,000), LEDGER_BENCH_REPLAYS (default 50).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import nats

from bench.ledger_growth import append_growth, empty_log, event
from bench.profiling import profiled
from oonledger.ledger.v1 import ledger_pb2, ledger_pb2_grpc
from services.common import internal_auth
from services.common.grpc_server import GrpcServer, ServicerBinding
from services.ledger.adapters.appender import Appender
from services.ledger.adapters.checkpointer import Checkpointer
from services.ledger.adapters.grpc_api import AuditServicer
from services.ledger.adapters.ingest import StreamIngest
from services.ledger.adapters.sql_reader import LogReader
from services.ledger.adapters.sql_rows import ENTRY_COLUMNS, entry_record
from services.ledger.application import AuditApplication
from services.ledger.domain.appending import LogState
from services.ledger.domain.checkpoint import Checkpoint, SignedCheckpoint
from services.ledger.domain.entry import EventFacts, claim_chain
from services.ledger.domain.log_verification import LogVerifier, verify_stored_log
from services.ledger.domain.merkle import Frontier, consistency_ranges, inclusion_ranges
from services.ledger.domain.signing import Signer
from services.ledger.tests.factories import envelope_of
from services.ledger.tests.memory_log import MemoryLog

Report = Callable[..., None]
BATCH = 500
PROFILED_REPLAYS = 300


def sizes() -> tuple[int, int, int]:
    env = os.environ
    return (
        int(env.get("LEDGER_BENCH_EVENTS", "16000")),
        int(env.get("LEDGER_BENCH_VERIFY_EVENTS", "1000000")),
        int(env.get("LEDGER_BENCH_REPLAYS", "50")),
    )


def growth_sizes() -> tuple[int, int]:
    """The short growth run of `make bench`: events and claims (chains of events / claims)."""
    env = os.environ
    return (int(env.get("LEDGER_BENCH_GROWTH_EVENTS", "100000")),
            int(env.get("LEDGER_BENCH_GROWTH_CLAIMS", "100")))


def spread(tag: str, count: int, claims: int = 2000) -> list[EventFacts]:
    return [event(tag, i, "bench-tenant", f"claim-{i % claims}") for i in range(count)]


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def plain_copy_rate(admin: asyncpg.Pool, schema: str, count: int) -> float:
    """The same rows COPYed into a table with only a primary key: the floor for appending."""
    log = MemoryLog()
    records = [entry_record(e) for e in log.append(spread("raw", count))]
    async with admin.acquire() as conn:
        await conn.execute(
            f'CREATE TABLE "{schema}".raw_copy AS SELECT * FROM "{schema}".audit_entries '
            f'WITH NO DATA; ALTER TABLE "{schema}".raw_copy ADD PRIMARY KEY (log_index)'
        )
        started = time.perf_counter()
        for start in range(0, count, BATCH):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "raw_copy",
                    schema_name=schema,
                    columns=ENTRY_COLUMNS,
                    records=records[start : start + BATCH],
                )
        return count / (time.perf_counter() - started)


async def bench_append(report: Report, appender: Appender, count: int) -> None:
    events = spread("append", count)
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        await appender.append(events[start : start + BATCH])
    elapsed = time.perf_counter() - started
    report(
        "ledger append with hashes + Merkle nodes (batches of 500)",
        count / elapsed,
        "events/s",
        "plain asyncpg COPY of the same rows",
    )
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        await appender.append(events[start : start + BATCH])
    report(
        "redelivered batches (all duplicates, nothing appended)",
        count / (time.perf_counter() - started),
        "events/s",
    )


async def bench_jetstream_ingest(
    report: Report, appender: Appender, pool: asyncpg.Pool, count: int
) -> None:
    nc = await nats.connect(os.environ["NATS_URL"])
    js = nc.jetstream()
    stream = f"LEDGERBENCH_{uuid.uuid4().hex[:8].upper()}"
    subject = f"{stream.lower()}.negotiation.OfferMade"
    await js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"])
    try:
        payloads = [envelope_of(f).SerializeToString() for f in spread("js", count)]
        for start in range(0, count, BATCH):
            await asyncio.gather(
                *(js.publish(subject, data) for data in payloads[start : start + BATCH])
            )

        plain = await js.pull_subscribe("", durable="plain-drain", stream=stream)
        started, seen = time.perf_counter(), 0
        while seen < count:
            messages = await plain.fetch(BATCH, timeout=5)
            for msg in messages:
                await msg.ack()
            seen += len(messages)
        report("plain JetStream pull + ack", count / (time.perf_counter() - started), "msgs/s")

        ingest = StreamIngest(
            nc,
            appender,
            pool,
            durable="ledger-bench",
            batch_size=BATCH,
            dead_letter_subject=f"{stream.lower()}.dead",
            clock=lambda: datetime.now(UTC),
        )
        puller = await ingest.puller(stream)
        started = time.perf_counter()
        while ingest.stats.appended < count:
            await ingest.handle(stream, await puller.fetch(BATCH))
        await puller.stop()
        elapsed = time.perf_counter() - started
        report(
            "JetStream → ledger ingest (envelopes, hashes, COPY, acks)",
            ingest.stats.appended / elapsed,
            "events/s",
            "plain JetStream pull + ack",
        )
    finally:
        await js.delete_stream(stream)
        await nc.close()


async def bench_replay(
    report: Report, appender: Appender, pool: asyncpg.Pool, replays: int
) -> None:
    tenant, claim = "bench-tenant", "claim-1000-events"
    await appender.append([event("replay", i, tenant, claim) for i in range(1000)])
    signer = Signer.from_seed(bytes(32))
    reader = LogReader(pool)
    clock = lambda: datetime.now(UTC)  # noqa: E731
    app = AuditApplication(reader, Checkpointer(reader, signer, "bench", clock), signer, "bench")
    private, public = internal_auth.new_key_pair()
    server = GrpcServer(
        "127.0.0.1",
        0,
        [
            ServicerBinding(
                ledger_pb2_grpc.add_AuditServiceServicer_to_server,
                AuditServicer(app),
                "oonledger.ledger.v1.AuditService",
            )
        ],
        verifier=internal_auth.InternalVerifier(internal_auth.public_keys_from_pem(public),
                                                "ledger"),
    )
    port = await server.start()
    await server.set_serving(True)
    chain = claim_chain(tenant, claim)
    metadata = (("x-tenant-id", tenant), ("x-roles", "auditor"), ("x-actor", "bench"))
    try:
        caller = internal_auth.InternalSigner(internal_auth.private_key_from_pem(private))
        plain: list[float] = []
        timings: list[float] = []
        async with (
            pool.acquire() as conn,
            internal_auth.signed_channel(f"127.0.0.1:{port}", "ledger", caller) as channel,
        ):
            stub = ledger_pb2_grpc.AuditServiceStub(channel)
            # Baseline and measure interleaved, one of each per round: a noisy neighbour moves
            # both.
            for _ in range(replays):
                started = time.perf_counter()
                rows = await conn.fetch(
                    "SELECT * FROM audit_entries WHERE chain = $1 AND tenant_id = $2 "
                    "ORDER BY chain_seq",
                    chain,
                    tenant,
                )
                plain.append(time.perf_counter() - started)
                assert len(rows) == 1000
                started = time.perf_counter()
                received = 0
                async for chunk in stub.ReplayClaim(
                    ledger_pb2.ReplayClaimRequest(claim_id=claim), metadata=metadata
                ):
                    received += len(chunk.entries)
                timings.append(time.perf_counter() - started)
                assert received == 1000
        report("plain asyncpg read of the 1,000 rows p50", p50_ms(plain), "ms")
        report(
            "ReplayClaim of a 1,000-event claim p50 (gRPC, all hashes)",
            p50_ms(timings),
            "ms",
            "plain asyncpg read of the 1,000 rows p50",
        )
        report(
            "ReplayClaim of a 1,000-event claim p95",
            sorted(timings)[int(0.95 * replays)] * 1000,
            "ms",
        )
        # BENCH_PROFILE=DIR: a flame graph of this process (server and client both live here)
        # over replays alone, no baseline reads between them.
        if os.environ.get("BENCH_PROFILE"):
            async with (
                internal_auth.signed_channel(f"127.0.0.1:{port}", "ledger", caller) as channel,
                profiled(os.getpid(), "replayclaim-ledger-bench-process"),
            ):
                stub = ledger_pb2_grpc.AuditServiceStub(channel)
                for _ in range(PROFILED_REPLAYS):
                    async for _chunk in stub.ReplayClaim(
                        ledger_pb2.ReplayClaimRequest(claim_id=claim), metadata=metadata
                    ):
                        pass
    finally:
        await server.stop(0)


async def bench_stored_verification(report: Report, reader: LogReader) -> None:
    signer = Signer.from_seed(bytes(32))
    await Checkpointer(reader, signer, "bench", lambda: datetime.now(UTC)).checkpoint()
    started = time.perf_counter()
    verifier = await verify_stored_log(reader, signer.public_key)
    elapsed = time.perf_counter() - started
    assert verifier.ok, verifier.problems[:3]
    report(
        f"verify the stored log from PostgreSQL ({verifier.frontier.size:,} events)",
        verifier.frontier.size / elapsed,
        "events/s",
    )


def bench_million(report: Report, count: int) -> None:
    state = LogState(Frontier(), {})
    entries = []
    started = time.perf_counter()
    for start in range(0, count, 10_000):
        batch = [
            event("m", i, "bench-tenant", f"claim-{i % 50_000}")
            for i in range(start, min(count, start + 10_000))
        ]
        entries.extend(state.place_all(batch).entries)
    report(
        f"build a {count:,}-event log in memory (place + hash)",
        count / (time.perf_counter() - started),
        "events/s",
    )
    signer = Signer.from_seed(bytes(32))
    head = Checkpoint("bench", count, state.frontier.root(), datetime.now(UTC))
    checkpoint = SignedCheckpoint.sign(head, signer)
    started = time.perf_counter()
    verifier = LogVerifier.for_checkpoints([checkpoint], signer.public_key)
    for entry in entries:
        verifier.feed(entry)
    verifier.finish()
    elapsed = time.perf_counter() - started
    assert verifier.ok and verifier.checkpoints_verified == 1
    report(
        f"verify the whole log of {count:,} events (chains + Merkle root + signature)", elapsed, "s"
    )
    report("whole-log verification rate", count / elapsed, "events/s")
    worst_inclusion = max(len(inclusion_ranges(i, count)) for i in range(0, count, 997))
    worst_consistency = max(len(consistency_ranges(m, count)) for m in range(1, count, 9973))
    report(
        f"inclusion proof size at {count:,} events (worst of sample)", worst_inclusion * 32, "bytes"
    )
    report(
        f"consistency proof size to {count:,} events (worst of sample)",
        worst_consistency * 32,
        "bytes",
    )
    report(
        f"the log itself at {count:,} events (for scale)",
        sum(len(e.facts.payload) + 300 for e in entries[:1000]) * count / 1000,
        "bytes",
    )


async def run(report: Report) -> None:
    events, verify_events, replays = sizes()
    dsn = os.environ["DATABASE_URL"]
    namespace = os.environ.get("OON_NAMESPACE", "bench")
    async with empty_log(dsn, namespace, "ledgerbench", writers=8) as log:
        report(
            "plain asyncpg COPY of the same rows",
            await plain_copy_rate(log.admin, log.schema, events),
            "rows/s",
        )
        await bench_append(report, log.appender, events)
        await bench_jetstream_ingest(report, log.appender, log.pool, events // 2)
        await bench_replay(report, log.appender, log.pool, replays)
        await bench_stored_verification(report, LogReader(log.pool))
    await asyncio.to_thread(bench_million, report, verify_events)
    growth_events, growth_claims = growth_sizes()
    if growth_events:  # issue 18's growth row, short (`make bench-long`: to 10M)
        async with empty_log(dsn, namespace, "ledgergrowth") as log:
            await append_growth(report, dsn, log, growth_events, growth_claims, tenth_rows=False)
