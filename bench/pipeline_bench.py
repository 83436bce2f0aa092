"""The write and reaction pipeline: MakeOffer under 32 callers against a durable raw baseline,
and whether negotiation keeps up with the claims service's sustained intake.

Figures (`python -m bench pipeline`; PIPELINE_BENCH=offer or =flow runs one half):
- MakeOffer (PIPELINE_BENCH_ROUNDS rounds, default 2; in each, the baselines and then the
  measures, so a noisy machine moves both; each figure is the mean over rounds, the load
  average of each round beside it):
  - "durable 1-row insert txn, 32 asyncpg callers": 32 asyncpg connections, each committing
    one 1-row INSERT into an ordinary table per transaction, synchronous_commit on (the
    database's own ceiling for this pattern, no gRPC, no Python service in between).
  - "plain gRPC echo, 32 callers": a grpc.aio server in its own process answering with the
    request's bytes (bench/command_baselines.py): the p99 baseline.
  - "gRPC + durable 1-row insert, group-committed": the minimal event-sourced command: a
    grpc.aio server in its own process that appends each call's bytes as one row, durably,
    concurrent calls group-committed into one transaction and statement as our save path
    does, and answers after the commit. The ratio the issue's goal is judged on.
  - "MakeOffer, 32 callers, 1 process / 2 processes": 32 gRPC callers (own process, as real
    clients), each making offers on its own 50+-event negotiation, against one negotiation
    process and then two (caller i sticks to replica i mod 2). BENCH_PROFILE=DIR
    writes a py-spy flame graph of the 1-process service (GIL-holding thread) to DIR.
- "claims intake": 32 callers registering, adjudicating and triaging claims (three commands a
  claim) for INTAKE_SECONDS, the claims and negotiation services each in their own process.
- "negotiations opened": the rate at which negotiation opened the cases those triages route to
  it, from the first intake call to the last case opened; the ratio to intake is what #21 asks
  for (>= 1.0: negotiation keeps up).
Load average is printed beside the figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import asyncpg

from bench.stats import pct
from services.common.localservers import free_port
from services.common.settings import Settings

CALLERS = 32
RAW_SECONDS = 3.0
INTAKE_SECONDS = float(os.environ.get("PIPELINE_BENCH_INTAKE_SECONDS", "20"))
CATCH_UP_TIMEOUT = 300.0


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


# -- durable raw baseline -------------------------------------------------------------------


async def durable_insert(database_url: str, seconds: float) -> tuple[float, float]:
    """32 connections, one 1-row INSERT per committed transaction (ordinary table, synchronous
    commit on): (transactions per second, p99 ms)."""
    table = f"bench_raw_{uuid.uuid4().hex[:8]}"
    setup = await asyncpg.connect(database_url)
    await setup.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, body text)")
    body = "x" * 400
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def caller() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("SET synchronous_commit = on")
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                async with conn.transaction():
                    await conn.execute(f"INSERT INTO {table} (body) VALUES ($1)", body)
                latencies.append((time.perf_counter() - started) * 1000)
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    elapsed = time.perf_counter() - started
    await setup.execute(f"DROP TABLE {table}")
    await setup.close()
    return len(latencies) / elapsed, pct(latencies, 0.99)


# -- MakeOffer ------------------------------------------------------------------------------


async def _serve_baseline(kind: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.command_baselines", "serve", kind,
                                str(port)], stdout=subprocess.PIPE)
    assert process.stdout is not None
    line = await asyncio.to_thread(process.stdout.readline)
    if b"serving" not in line:
        raise RuntimeError(f"the {kind} baseline server did not start")
    return process, f"127.0.0.1:{port}"


async def _client(*args: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", *args,
                                                   stdout=asyncio.subprocess.PIPE)
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"bench client {args[0]} failed with exit code {process.returncode}")
    result: dict[str, Any] = json.loads(output)
    if not result["latencies"]:
        raise RuntimeError(f"bench client {args[0]} made no calls")
    return result


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes have used so far."""
    import psutil

    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


async def _measured(pids: list[int], *client: str) -> dict[str, Any]:
    """Run the client; the result also carries the servers' CPU per call (ms): unlike rates and
    latencies, it hardly moves with the neighbours' load."""
    before = _cpu_seconds(pids)
    result = await _client(*client)
    result["cpu_ms"] = (_cpu_seconds(pids) - before) * 1000 / len(result["latencies"])
    return result


async def _baseline_calls(kind: str) -> dict[str, Any]:
    from bench.negotiation_bench import SECONDS

    process, address = await _serve_baseline(kind)
    try:
        return await _measured([process.pid], "bench.command_baselines", "drive", address,
                               str(SECONDS))
    finally:
        _stop(process)


class Rounds:
    """Figures of interleaved rounds: rate, p50 and p99 per measure, and the load beside each."""

    def __init__(self) -> None:
        self.rates: dict[str, list[float]] = {}
        self.p50: dict[str, list[float]] = {}
        self.p99: dict[str, list[float]] = {}
        self.loads: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}

    def add(self, name: str, result: dict[str, Any]) -> None:
        latencies = result["latencies"]
        self.rates.setdefault(name, []).append(len(latencies) / result["elapsed"])
        self.p50.setdefault(name, []).append(statistics.median(latencies))
        self.p99.setdefault(name, []).append(pct(latencies, 0.99))
        self.loads.setdefault(name, []).append(os.getloadavg()[0])
        self.cpu.setdefault(name, []).append(result["cpu_ms"])

    def add_raw(self, name: str, rate: float, p99: float) -> None:
        self.rates.setdefault(name, []).append(rate)
        self.p99.setdefault(name, []).append(p99)
        self.loads.setdefault(name, []).append(os.getloadavg()[0])

    def label(self, name: str) -> str:
        loads = ", ".join(f"{x:.1f}" for x in self.loads[name])
        return f"{name} (load {loads})"


async def _negotiation_replicas(count: int) -> list[tuple[subprocess.Popen[bytes], str]]:
    replicas = []
    for _ in range(count):
        port = free_port()
        replicas.append((await _start("services.negotiation.main", "NEGOTIATION_GRPC_PORT",
                                      port), f"127.0.0.1:{port}"))
    return replicas


async def _make_offer(replicas: int, tenant: str, ids: list[str]) -> dict[str, Any]:
    from bench.profiling import profiled

    started = await _negotiation_replicas(replicas)
    addresses = ",".join(address for _, address in started)
    try:
        # The 1-process service's flame graph with BENCH_PROFILE=DIR (docs/performance.md).
        async with profiled(started[0][0].pid, "makeoffer-negotiation-service",
                            None if replicas == 1 else ""):
            return await _measured([process.pid for process, _ in started],
                                   "bench.negotiation_bench", addresses, tenant, *ids)
    finally:
        for process, _ in started:
            _stop(process)


async def bench_make_offer(report: Any) -> None:
    """Rounds of (baselines, MakeOffer on 1 and 2 processes), interleaved: a noisy neighbour
    moves both sides of each ratio."""
    from bench.negotiation_bench import prepare_streams

    database_url = os.environ["DATABASE_URL"]
    settings = Settings.from_env("negotiation", grpc_port=0)
    tenant = f"bench-{uuid.uuid4().hex[:6]}"
    ids = await asyncio.to_thread(prepare_streams, settings, tenant)
    rounds = Rounds()
    raw, echo, insert = ("durable 1-row insert txn, 32 asyncpg callers",
                         "plain gRPC echo, 32 callers",
                         "gRPC + durable 1-row insert, group-committed, 32 callers")
    one, two = "MakeOffer, 32 callers, 1 process", "MakeOffer, 32 callers, 2 processes"
    for _ in range(int(os.environ.get("PIPELINE_BENCH_ROUNDS", "2"))):
        rounds.add_raw(raw, *await durable_insert(database_url, RAW_SECONDS))
        rounds.add(echo, await _baseline_calls("echo"))
        rounds.add(insert, await _baseline_calls("insert"))
        rounds.add(one, await _make_offer(1, tenant, ids))
        rounds.add(two, await _make_offer(2, tenant, ids))

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    report(rounds.label(raw), mean(rounds.rates[raw]), "txn/s")
    report("  its p99", mean(rounds.p99[raw]), "ms")
    report(rounds.label(echo), mean(rounds.rates[echo]), "calls/s")
    report("  plain gRPC echo p99", mean(rounds.p99[echo]), "ms")
    report("  plain gRPC echo: server CPU per call", mean(rounds.cpu[echo]), "ms")
    report(rounds.label(insert), mean(rounds.rates[insert]), "cmd/s")
    report("  gRPC + durable insert p99", mean(rounds.p99[insert]), "ms")
    report("  gRPC + durable insert: server CPU per call", mean(rounds.cpu[insert]), "ms")
    for name in (one, two):
        report(rounds.label(name), mean(rounds.rates[name]), "cmd/s", rounds.label(insert))
        report(f"  {name}: service CPU per command", mean(rounds.cpu[name]), "ms",
               "  gRPC + durable insert: server CPU per call")
        report(f"  {name}: vs the raw 32-caller insert", mean(rounds.rates[name]), "cmd/s",
               rounds.label(raw))
        report(f"  {name}: p50", mean(rounds.p50[name]), "ms")
        report(f"  {name}: p99", mean(rounds.p99[name]), "ms", "  plain gRPC echo p99")
    report("MakeOffer scaling, 2 processes / 1", mean(rounds.rates[two]) / mean(rounds.rates[one]),
           "x")


# -- intake and negotiation -----------------------------------------------------------------


async def _start(module: str, port_var: str, port: int) -> subprocess.Popen[bytes]:
    from deploy.local.supervisor import wait_serving

    env = dict(os.environ, **{port_var: str(port)}, OON_LOG_LEVEL="WARNING")
    process = subprocess.Popen([sys.executable, "-m", module], env=env)
    await wait_serving(f"127.0.0.1:{port}", process.poll, timeout=90)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


async def bench_flow(report: Any) -> None:
    from oonledger.claims.v1 import claims_pb2 as pb
    from oonledger.claims.v1.claims_pb2_grpc import ClaimsServiceStub
    from services.claims import mapping
    from services.claims.tests.factories import emergency_claim
    from services.common.internal_auth import InternalSigner, signed_channel

    database_url = os.environ["DATABASE_URL"]
    negotiation_schema = Settings.from_env("negotiation").schema
    claims_port, negotiation_port = free_port(), free_port()
    claims = await _start("services.claims.main", "CLAIMS_GRPC_PORT", claims_port)
    negotiation = await _start("services.negotiation.main", "NEGOTIATION_GRPC_PORT",
                               negotiation_port)
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    metadata = (("x-tenant-id", tenant), ("x-actor", "bench"),
                ("x-roles", "negotiator"))
    claim = mapping.claim_input(emergency_claim())
    signer = InternalSigner.from_settings(Settings.from_env("claims"))
    db = await asyncpg.connect(database_url)

    async def opened() -> int:
        return int(await db.fetchval(
            f'SELECT count(*) FROM "{negotiation_schema}".event_index '
            "WHERE tenant_id = $1 AND event_type = 'Opened'", tenant) or 0)

    try:
        async with signed_channel(f"127.0.0.1:{claims_port}", "claims", signer) as channel:
            stub = ClaimsServiceStub(channel)
            triaged = 0
            stop_at = time.perf_counter() + INTAKE_SECONDS

            async def caller(worker: int) -> None:
                nonlocal triaged
                n = 0
                while time.perf_counter() < stop_at:
                    n += 1
                    key = f"{worker}-{n}-{uuid.uuid4().hex[:6]}"
                    registered = await stub.RegisterClaim(
                        pb.RegisterClaimRequest(request_id=f"r-{key}", claim=_numbered(
                            claim, f"P-{key}")),
                        metadata=metadata, timeout=60)
                    claim_id = registered.claim.claim_id
                    await stub.RecordAdjudication(pb.RecordAdjudicationRequest(
                        request_id=f"a-{key}", claim_id=claim_id,
                        adjudication=pb.Adjudication(
                            received_date="2026-10-30", billed_cents=249_000,
                            allowed_cents=60_000, paid_cents=45_000,
                            patient_responsibility_cents=15_000, qpa_cents=52_000,
                            qpa_disclosed=True, carc_codes=["45"],
                            payer_claim_control_number=key[:12])),
                        metadata=metadata, timeout=60)
                    reply = await stub.TriageClaim(
                        pb.TriageClaimRequest(request_id=f"t-{key}", claim_id=claim_id),
                        metadata=metadata, timeout=60)
                    if reply.triage.worth_negotiating or reply.triage.route:
                        triaged += 1

            marks: list[tuple[int, int]] = []

            async def sample() -> None:
                # (triaged, opened) a quarter into the intake and at its end: the opening
                # rate over the same stretch, whatever the pipeline's constant delay.
                await asyncio.sleep(INTAKE_SECONDS / 4)
                marks.append((triaged, await opened()))

            started = time.perf_counter()
            await asyncio.gather(sample(), *(caller(w) for w in range(CALLERS)))
            marks.append((triaged, await opened()))
            intake_elapsed = time.perf_counter() - started
            load = _load()
            at_intake_end = await opened()
            count = at_intake_end
            deadline = time.perf_counter() + CATCH_UP_TIMEOUT
            last_change = time.perf_counter()
            while count < triaged and time.perf_counter() < deadline:
                await asyncio.sleep(0.2)
                now_count = await opened()
                if now_count != count:
                    last_change = time.perf_counter()
                count = now_count
            opened_elapsed = (last_change if count > at_intake_end else time.perf_counter()
                              ) - started
    finally:
        await db.close()
        _stop(negotiation)
        _stop(claims)
    if count < triaged:
        raise RuntimeError(f"negotiation opened {count} of {triaged} cases within "
                           f"{CATCH_UP_TIMEOUT:.0f} s after intake")
    intake_rate = triaged / intake_elapsed
    report(f"claims intake (register+adjudicate+triage), 32 callers ({load})", intake_rate,
           "claims/s")
    report(f"negotiations opened ({count:,} cases, {opened_elapsed:.1f} s)",
           count / opened_elapsed, "cases/s",
           f"claims intake (register+adjudicate+triage), 32 callers ({load})")
    (triaged_a, opened_a), (triaged_b, opened_b) = marks
    report("steady state: opened / triaged over the last 3/4 of intake",
           (opened_b - opened_a) / max(triaged_b - triaged_a, 1), "ratio")
    report("opened at intake end / triaged", at_intake_end / max(triaged, 1), "ratio")
    report("negotiation catch-up after intake ended", max(0.0, opened_elapsed - intake_elapsed),
           "s")


async def run(report: Any) -> None:
    which = os.environ.get("PIPELINE_BENCH", "")
    if which in ("", "offer"):
        await bench_make_offer(report)
    if which in ("", "flow"):
        await bench_flow(report)


def _numbered(claim: Any, pcn: str) -> Any:
    """The claim under its own patient control number (the same claim twice is a duplicate)."""
    copy = type(claim)()
    copy.CopyFrom(claim)
    copy.patient_control_number = pcn
    return copy
