"""Negotiation figures: MakeOffer under 32 concurrent callers on 50+-event streams, and the
NSA deadlines of 100,000 cases.

Baselines in the same run: a plain eventsourcing save (one event, no gRPC, no domain rules)
under the same 32-way concurrency, a plain asyncpg 1-row insert transaction, and a plain
JetStream publish. Reads DATABASE_URL / NATS_URL from the environment.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import nats
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.stats import pct
from oonledger.negotiation.v1 import negotiation_pb2 as pb
from services.common.calendar import federal_calendar
from services.common.context import CommandContext
from services.common.eventstore import postgres_env
from services.common.internal_auth import InternalSigner, signed_channel
from services.common.runtime import ServiceRuntime
from services.common.settings import Settings
from services.negotiation.application import NegotiationApplication
from services.negotiation.client import Client
from services.negotiation.domain import ProposedOffer
from services.negotiation.domain.deadlines import CaseAnchors, DeadlineEngine
from services.negotiation.main import build
from services.negotiation.tests.builders import open_fields, open_negotiation

CALLERS = 32
STREAM_EVENTS = 52  # opened + notice + 50 offers before measuring
SECONDS = 6.0
CASES = 100_000




# -- deadlines ------------------------------------------------------------------------------


def bench_deadlines(report: Any) -> None:
    cases = []
    for i in range(CASES):
        bill = date(2024, 1, 2) + timedelta(days=i % 900)
        cases.append(
            CaseAnchors(
                bill_received=bill,
                initial_payment_received=bill + timedelta(days=20),
                on_notice_sent=bill + timedelta(days=25),
                idr_initiated=bill + timedelta(days=70),
                idre_selected=bill + timedelta(days=75),
                determination=bill + timedelta(days=110),
            )
        )
    started = time.perf_counter()
    engine = DeadlineEngine(federal_calendar())  # cold: calendar cached, deadlines not
    results = engine.for_cases(cases)
    elapsed = time.perf_counter() - started
    count = sum(len(r.deadlines) for r in results)
    report("deadlines for 100,000 cases (cold cache)", elapsed, "s")
    report("deadlines computed per second", count / elapsed, "dl/s")


# -- raw baselines --------------------------------------------------------------------------


class Counter(Aggregate):
    @event("Created")
    def __init__(self) -> None:
        self.count = 0

    @event("Incremented")
    def increment(self, amount_cents: int) -> None:
        self.count += amount_cents


def bench_plain_eventsourcing(settings: Settings, report: Any) -> None:
    env = postgres_env(settings)
    env.update(
        {
            "POSTGRES_SCHEMA": f"{settings.namespace}_plainbench"[:60],
            "AGGREGATE_CACHE_MAXSIZE": "1000",
        }
    )
    import psycopg

    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{env["POSTGRES_SCHEMA"]}"')
    app: Application[Any] = Application(env=env)
    ids = []
    for _ in range(CALLERS):
        counter: Counter = Counter()
        for _ in range(STREAM_EVENTS):
            counter.increment(1)
        app.save(counter)
        ids.append(counter.id)
    latencies: list[float] = []
    stop_at = time.perf_counter() + SECONDS / 2

    def caller(aggregate_id: Any) -> None:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            counter: Counter = app.repository.get(aggregate_id)
            counter.increment(1)
            app.save(counter)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        list(pool.map(caller, ids))
    elapsed = time.perf_counter() - started
    report("plain eventsourcing save, 32 threads", len(latencies) / elapsed, "saves/s")
    report("plain eventsourcing save p99", pct(latencies, 0.99), "ms")
    app.close()


async def bench_raw_io(settings: Settings, report: Any) -> None:
    conn = await asyncpg.connect(settings.database_url)
    # Durable: an ordinary table (a TEMP one is never WAL-logged), synchronous commit on.
    table = f"bench_raw_{uuid.uuid4().hex[:8]}"
    await conn.execute("SET synchronous_commit = on")
    await conn.execute(f"CREATE TABLE {table} (id bigint, body text)")
    started = time.perf_counter()
    for i in range(500):
        async with conn.transaction():
            await conn.execute(f"INSERT INTO {table} VALUES ($1, $2)", i, "x" * 300)
    report("plain asyncpg 1-row insert txn", 500 / (time.perf_counter() - started), "txn/s")
    await conn.execute(f"DROP TABLE {table}")
    await conn.close()
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()
    stream = f"{settings.stream_for('negbench')}"
    await js.add_stream(name=stream, subjects=[f"{stream}.x"])
    started = time.perf_counter()
    for _ in range(500):
        await js.publish(f"{stream}.x", b"x" * 300)
    report("plain JetStream publish (sync ack)", 500 / (time.perf_counter() - started), "msg/s")
    await js.delete_stream(stream)
    await nc.close()


# -- MakeOffer over gRPC --------------------------------------------------------------------


def prepare_streams(settings: Settings, tenant: str) -> list[str]:
    """32 negotiations of 52 events each, one save per stream (the fast way to seed)."""
    app = NegotiationApplication(settings)
    ids = []
    for _ in range(CALLERS):

        def ctx() -> CommandContext:
            return CommandContext(
                tenant_id=tenant,
                actor="bench",
                now=datetime.now(UTC),
                roles=frozenset({"negotiator"}),
                request_id=uuid.uuid4().hex,
            )

        fields = open_fields()
        negotiation = open_negotiation(ctx(), **fields)
        negotiation.send_open_negotiation_notice(
            ctx(), sent_on=date(2026, 6, 2), channel="portal", portal_reference=""
        )
        for i in range(STREAM_EVENTS - 2):
            negotiation.make_offer(
                ctx(),
                ProposedOffer(
                    offer_id=f"seed-{i}",
                    party="payer",
                    amount_cents=40_000 + i,
                    basis={"qpa_cents": 40_000},
                    channel="email",
                    notes="",
                    document_refs=(),
                    made_on=date(2026, 6, 10),
                ),
            )
        app.save_all(negotiation)
        ids.append(str(negotiation.id))
    app.close()
    return ids


def offer(nid: str, i: int) -> pb.MakeOfferRequest:
    return pb.MakeOfferRequest(
        request_id=uuid.uuid4().hex,
        negotiation_id=nid,
        offer_id=f"o{i}-{uuid.uuid4().hex[:6]}",
        party=pb.PARTY_PAYER,
        amount_cents=40_000 + i,
        channel=pb.CHANNEL_EMAIL,
        basis=pb.OfferBasis(qpa_cents=40_000),
        made_on="2026-06-10",
    )


async def drive(addresses: str, tenant: str, ids: list[str]) -> dict[str, Any]:
    """The 32 callers (run in their own process, as real clients are). `addresses` is one
    replica's address or several, comma-separated: caller i stays on replica i mod n (a client
    keeps its channel, so each replica's aggregate cache stays warm for its callers' streams)."""
    signer = InternalSigner.from_settings(Settings.from_env("negotiation"))
    channels = [signed_channel(a, "negotiation", signer) for a in addresses.split(",")]
    try:
        clients = [Client(channel, tenant) for channel in channels]
        latencies: list[float] = []
        stop_at = time.perf_counter() + SECONDS

        async def caller(index: int, nid: str) -> None:
            client = clients[index % len(clients)]
            i = 1000
            while time.perf_counter() < stop_at:
                i += 1
                started = time.perf_counter()
                await client.call("MakeOffer", offer(nid, i))
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(caller(index, nid) for index, nid in enumerate(ids)))
        return {"elapsed": time.perf_counter() - started, "latencies": latencies}
    finally:
        for channel in channels:
            await channel.close()


async def bench_make_offer(settings: Settings, report: Any) -> None:
    tenant = f"bench-{uuid.uuid4().hex[:6]}"
    loop = asyncio.get_running_loop()
    ids = await loop.run_in_executor(None, prepare_streams, settings, tenant)
    runtime = ServiceRuntime(settings, build)
    await runtime.start()
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.negotiation_bench",
            f"127.0.0.1:{runtime.port}",
            tenant,
            *ids,
            stdout=asyncio.subprocess.PIPE,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"bench client failed with exit code {process.returncode}")
        result = json.loads(output)
    finally:
        await runtime.stop(grace=1)
    latencies = result["latencies"]
    report(
        "MakeOffer, 32 callers, 50+-event streams",
        len(latencies) / result["elapsed"],
        "cmd/s",
        "plain eventsourcing save, 32 threads",
    )
    if not latencies:
        raise RuntimeError(f"bench client made no calls: {result}")
    report("MakeOffer p50", statistics.median(latencies), "ms")
    report("MakeOffer p99", pct(latencies, 0.99), "ms", "plain eventsourcing save p99")


async def run(report: Any) -> None:
    settings = Settings.from_env("negotiation", grpc_port=0)
    bench_deadlines(report)
    await bench_raw_io(settings, report)
    await asyncio.get_running_loop().run_in_executor(
        None, bench_plain_eventsourcing, settings, report
    )
    await bench_make_offer(settings, report)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(drive(sys.argv[1], sys.argv[2], sys.argv[3:]))))
