"""Raw speed of the parts, measured in the same run as the figures compared with them."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import nats

from bench.stats import pct
from services.common.context import CommandContext
from services.common.settings import Settings
from services.common.tests.sample import Tally, TallyApp

Report = Callable[..., Any]


async def jetstream_publish(settings: Settings, report: Report, samples: int = 1000,
                            size: int = 400) -> None:
    """A plain JetStream publish: acked latency one at a time, and the async-publish rate."""
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()
    stream = settings.stream_for("rawbench" + uuid.uuid4().hex[:6])
    await js.add_stream(name=stream, subjects=[f"{stream}.x"])
    body = b"x" * size
    latencies = []
    for _ in range(samples):
        started = time.perf_counter()
        await js.publish(f"{stream}.x", body)
        latencies.append((time.perf_counter() - started) * 1000)
    report("plain JetStream publish p99", pct(latencies, 0.99), "ms")
    backlog = samples * 10
    started = time.perf_counter()
    acks = [await js.publish_async(f"{stream}.x", body) for _ in range(backlog)]
    await asyncio.gather(*acks)
    report("plain JetStream async publish rate", backlog / (time.perf_counter() - started),
           "msg/s")
    await js.delete_stream(stream)
    await nc.close()


async def asyncpg_insert(settings: Settings, report: Report, samples: int = 1000,
                         size: int = 400) -> None:
    """A plain asyncpg insert, one row per durable transaction."""
    conn = await asyncpg.connect(settings.database_url)
    # Durable: an ordinary table (a TEMP one is never WAL-logged), synchronous commit on.
    table = f"bench_raw_{uuid.uuid4().hex[:8]}"
    await conn.execute("SET synchronous_commit = on")
    await conn.execute(f"CREATE TABLE {table} (id bigint, body text)")
    body = "x" * size
    latencies = []
    started = time.perf_counter()
    for i in range(samples):
        begun = time.perf_counter()
        async with conn.transaction():
            await conn.execute(f"INSERT INTO {table} VALUES ($1, $2)", i, body)
        latencies.append((time.perf_counter() - begun) * 1000)
    report("plain asyncpg 1-row insert txn rate", samples / (time.perf_counter() - started),
           "txn/s")
    report("plain asyncpg 1-row insert txn p99", pct(latencies, 0.99), "ms")
    await conn.execute(f"DROP TABLE {table}")
    await conn.close()


def eventsourcing_save(settings: Settings, report: Report, samples: int = 500) -> None:
    """A plain eventsourcing save of one new aggregate (one event), encrypted like ours."""
    app = TallyApp(Settings.from_env("rawbench", grpc_port=0))
    tenant = "raw-" + uuid.uuid4().hex[:6]
    started = time.perf_counter()
    for i in range(samples):
        ctx = CommandContext(tenant_id=tenant, actor="bench", now=dt.datetime.now(dt.UTC),
                             request_id=f"r{i}")
        app.save_all(Tally.open(ctx, "bench", "Bench Patient"))
    report("plain eventsourcing save rate (1 event)",
           samples / (time.perf_counter() - started), "saves/s")
    app.close()
