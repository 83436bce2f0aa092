"""Fees: payment posted → fee recorded, at a steady 500 payments/s, and a 10,000-payment backlog.

Synthetic settlement `PaymentPosted` envelopes are published to the settlement stream exactly as
the settlement service's relay would; a payment counts as billed when its `FeeAssessed` event
(committed by the fees service) appears on the fees stream. Baselines in the same run: a plain
JetStream publish, a plain asyncpg 1-row insert transaction and a plain eventsourcing save.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import statistics
import time
import uuid

import asyncpg
import nats

from bench import baselines
from bench.stats import pct
from oonledger.common.v1.envelope_pb2 import EventEnvelope
from oonledger.fees.v1 import fees_pb2, fees_pb2_grpc
from services.common.internal_auth import InternalSigner, signed_channel
from services.common.runtime import ServiceRuntime
from services.common.settings import Settings
from services.fees.main import build
from services.fees.tests.upstream import UpstreamPublisher

CLAIMS = int(os.environ.get("FEES_BENCH_CLAIMS", "2000"))
RATE = int(os.environ.get("FEES_BENCH_RATE", "500"))
SECONDS = int(os.environ.get("FEES_BENCH_SECONDS", "6"))
BACKLOG = int(os.environ.get("FEES_BENCH_BACKLOG", "10000"))
RAW_SAMPLES = 1000




async def raw_baselines(settings: Settings, report) -> None:  # type: ignore[no-untyped-def]
    await baselines.jetstream_publish(settings, report, RAW_SAMPLES)
    await baselines.asyncpg_insert(settings, report, RAW_SAMPLES)
    baselines.eventsourcing_save(settings, report, RAW_SAMPLES // 2)


class AssessedWatcher:
    """Times each payment from its publish to its FeeAssessed event on the fees stream."""

    def __init__(self) -> None:
        self.published: dict[str, float] = {}
        self.assessed: dict[str, float] = {}
        self.target = 0
        self.done = asyncio.Event()

    async def on_message(self, msg) -> None:  # type: ignore[no-untyped-def]
        envelope = EventEnvelope.FromString(msg.data)
        source = json.loads(envelope.payload)["source_event_id"]
        self.assessed.setdefault(source, time.perf_counter())
        if self.target and len(self.assessed) >= self.target:
            self.done.set()

    async def wait_for(self, count: int, timeout: float) -> None:
        self.target = count
        if len(self.assessed) >= count:
            return
        self.done.clear()
        await asyncio.wait_for(self.done.wait(), timeout)


async def run(report) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.from_env("fees", grpc_port=0)
    await raw_baselines(settings, report)
    runtime = ServiceRuntime(settings, build)
    await runtime.start()
    assert runtime.infra is not None
    tenant = "bench-" + uuid.uuid4().hex[:8]
    upstream = UpstreamPublisher(runtime.infra.js, settings, tenant)
    channel = signed_channel(f"127.0.0.1:{runtime.port}", "fees",
                             InternalSigner.from_settings(settings))
    stub = fees_pb2_grpc.FeesServiceStub(channel)
    metadata = (("x-tenant-id", tenant), ("x-actor", "bench"), ("x-roles", "finance"))
    await stub.PublishFeeSchedule(fees_pb2.PublishFeeScheduleRequest(
        request_id=uuid.uuid4().hex, client_id="client-bench", effective_from="2026-01-01",
        terms=fees_pb2.FeeTerms(default_tiers=[fees_pb2.Tier(floor_cents=0, rate_bps=3000),
                                               fees_pb2.Tier(floor_cents=500_000,
                                                             rate_bps=2000)],
                                minimum_cents=2_500, cap_cents=2_000_000)),
        metadata=metadata)

    watcher = AssessedWatcher()
    nc = await nats.connect(settings.nats_url)
    await nc.subscribe(f"{settings.subject_prefix_for('fees')}.fee_account.FeeAssessed",
                       cb=watcher.on_message)
    claims = [str(uuid.uuid4()) for _ in range(CLAIMS)]
    started = time.perf_counter()
    pending = []
    for claim_id in claims:
        envelope = upstream.envelope("claims", "ClaimRegistered", claim_id, {"claim": {
            "client_id": "client-bench", "payer": {"payer_id": "payer-bench"},
            "lines": [{"procedure_code": "99285", "billed_cents": 300_000}]}})
        pending.append(await publish_async(upstream, envelope))
    await asyncio.gather(*pending)
    assert runtime.parts is not None and runtime.parts.app is not None
    table = runtime.parts.app.recorder.events_table_name  # type: ignore[attr-defined]
    await wait_for_accounts(settings, table, CLAIMS, timeout=120)
    report("claims registered → fee accounts opened", CLAIMS / (time.perf_counter() - started),
           "claims/s")

    # 1) steady rate: latency from publish to FeeAssessed
    total = RATE * SECONDS
    day = dt.date(2026, 6, 1)
    started = time.perf_counter()
    for i in range(total):
        target = started + i / RATE
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing to the target rate
        envelope = payment(upstream, claims[i % CLAIMS], i, day)
        watcher.published[envelope.event_id] = time.perf_counter()
        pending.append(await publish_async(upstream, envelope))
    await asyncio.gather(*pending)
    pending.clear()
    achieved = total / (time.perf_counter() - started)
    await watcher.wait_for(total, timeout=120)
    latencies = [(watcher.assessed[key] - at) * 1000 for key, at in watcher.published.items()]
    report("payments published (steady)", achieved, "payments/s")
    report(f"payment posted → fee recorded p50 @{RATE}/s", statistics.median(latencies), "ms")
    report(f"payment posted → fee recorded p99 @{RATE}/s", pct(latencies, 0.99), "ms",
           "plain JetStream publish p99")

    # 2) backlog: 10,000 payments published as fast as possible
    watcher.published.clear()
    already = len(watcher.assessed)
    started = time.perf_counter()
    for i in range(BACKLOG):
        envelope = payment(upstream, claims[i % CLAIMS], total + i, day)
        pending.append(await publish_async(upstream, envelope))
    await asyncio.gather(*pending)
    last_posted = time.perf_counter()
    report(f"{BACKLOG} payments published", BACKLOG / (last_posted - started), "payments/s",
           "plain JetStream async publish rate")
    await watcher.wait_for(already + BACKLOG, timeout=180)
    finished = max(watcher.assessed.values())
    report(f"{BACKLOG} payments fully billed after the last posted", finished - last_posted, "s")
    report("fee assessment throughput (backlog)", BACKLOG / (finished - started), "payments/s",
           "plain eventsourcing save rate (1 event)")
    await nc.close()
    await channel.close()
    runtime.infra.nc.options["drain_timeout"] = 2
    await runtime.stop(grace=1)


def payment(upstream: UpstreamPublisher, claim_id: str, number: int,
            day: dt.date) -> EventEnvelope:
    return upstream.envelope("settlement", "PaymentPosted", claim_id, {
        "payment_id": f"pay-{number}", "amount_cents": 1_000 + number % 50_000, "method": "eft",
        "reference": f"EFT-{number}", "payer_claim_control_number": "ICN", "paid_on":
        day.isoformat(), "remittance_id": f"era-{number}"})


async def publish_async(upstream: UpstreamPublisher, envelope: EventEnvelope):  # type: ignore[no-untyped-def]
    from services.common.wire import subject_for

    prefix = upstream.settings.subject_prefix_for(envelope.service)
    return await upstream.js.publish_async(subject_for(prefix, envelope),
                                           envelope.SerializeToString(),
                                           headers={"Nats-Msg-Id": envelope.event_id})


async def wait_for_accounts(settings: Settings, table: str, count: int, timeout: float) -> None:
    conn = await asyncpg.connect(settings.database_url)
    deadline = time.perf_counter() + timeout
    try:
        while True:
            opened = await conn.fetchval(
                f'SELECT count(*) FROM "{settings.schema}"."{table}" '
                "WHERE originator_version = 1")
            if opened >= count + 1:  # the fee schedule is a stream too
                return
            if time.perf_counter() > deadline:
                raise TimeoutError(f"only {opened} of {count} accounts opened")
            await asyncio.sleep(0.1)  # polling the store, bounded by the deadline
    finally:
        await conn.close()
