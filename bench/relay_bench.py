"""Relay lag: commit of an event → the event observed on JetStream, at a steady 1,000 events/s
(commits of 10 events, as the bulk paths write).

Baselines in the same run: a plain JetStream publish (ack latency) and a plain asyncpg
1-row insert transaction.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime

import nats

from bench import baselines
from bench.stats import pct
from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.context import CommandContext
from services.common.runtime import ServiceParts, ServiceRuntime
from services.common.settings import Settings
from services.common.tests.sample import Tally, TallyApp

RATE = 1000
PER_COMMIT = 10
SECONDS = 5




async def raw_baselines(settings: Settings, report) -> None:  # type: ignore[no-untyped-def]
    await baselines.jetstream_publish(settings, report)
    await baselines.asyncpg_insert(settings, report)


async def run(report) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.from_env("relaybench", grpc_port=0)
    await raw_baselines(settings, report)
    app = TallyApp(settings)
    runtime = ServiceRuntime(settings, lambda infra: ServiceParts(bindings=[], app=app))
    await runtime.start()
    committed: dict[str, float] = {}
    arrived: dict[str, float] = {}
    nc = await nats.connect(settings.nats_url)
    done = asyncio.Event()
    total = RATE * SECONDS

    async def on_message(msg) -> None:  # type: ignore[no-untyped-def]
        arrived[EventEnvelope.FromString(msg.data).aggregate_id] = time.perf_counter()
        if len(arrived) >= total:
            done.set()

    await nc.subscribe(f"{settings.subject_prefix_for('relaybench')}.>", cb=on_message)
    tenant = "bench-" + uuid.uuid4().hex[:6]
    loop = asyncio.get_running_loop()
    assert runtime.infra is not None
    executor = runtime.infra.blocking.executor
    pending = []
    started = time.perf_counter()
    # Commits of PER_COMMIT events (as a service's bulk paths write) paced to RATE events/s.
    for tick in range(total // PER_COMMIT):
        target = started + tick * PER_COMMIT / RATE
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing to the target rate
        tallies = []
        for i in range(tick * PER_COMMIT, (tick + 1) * PER_COMMIT):
            ctx = CommandContext(tenant_id=tenant, actor="bench", now=datetime.now(UTC),
                                 request_id=f"r{i}-{tenant}")
            tallies.append(Tally.open(ctx, "bench", "Bench Patient"))

        def save(batch: list[Tally] = tallies) -> None:
            app.save_all(*batch)
            now = time.perf_counter()
            for tally in batch:
                committed[str(tally.id)] = now

        pending.append(loop.run_in_executor(executor, save))
    await asyncio.gather(*pending)
    elapsed = time.perf_counter() - started
    await asyncio.wait_for(done.wait(), timeout=60)
    lags = [(arrived[key] - at) * 1000 for key, at in committed.items() if key in arrived]
    report("event commit rate achieved", total / elapsed, "events/s")
    report("relay lag p50 (commit → on JetStream)", statistics.median(lags), "ms")
    report("relay lag p99 (commit → on JetStream)", pct(lags, 0.99), "ms",
           "plain JetStream publish p99")
    await nc.close()
    await runtime.stop(grace=1)
