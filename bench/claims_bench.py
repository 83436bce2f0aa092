"""Claims figures: bulk ImportClaims of 10,000 claims, RegisterClaim under 32 concurrent
callers, and the claims service's peak memory during the bulk run.

Baselines in the same run: a plain asyncpg insert of the same number of rows, 100 rows per
transaction into an ordinary table (durable: synchronous_commit on), measured before and after
the 1-process bulk run, and a plain grpc.aio echo under the same 32-way concurrency. The bulk
run is repeated with two claims processes (calls dealt round-robin): the scaling figure.
BENCH_PROFILE=DIR writes a py-spy flame graph of the 1-process bulk run (bench/profiling.py).
The claims service runs as its own process (`python -m services.claims.main`), so its memory
is its own.
Reads DATABASE_URL / NATS_URL from the environment.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc
import psutil

from bench.profiling import profiled
from bench.stats import pct
from deploy.local.supervisor import wait_serving
from oonledger.claims.v1 import claims_pb2 as pb
from oonledger.claims.v1.claims_pb2_grpc import ClaimsServiceStub
from services.claims.adapters import commands, mapping
from services.claims.adapters.duplicate_backfill import reserve_existing_claims
from services.claims.application import ClaimsApplication, ImportClaims, ImportItem
from services.claims.tests.factories import emergency_claim
from services.common.context import CommandContext
from services.common.internal_auth import InternalSigner, signed_channel
from services.common.localservers import free_port
from services.common.settings import Settings

BULK_CLAIMS = int(os.environ.get("CLAIMS_BENCH_BULK", "10000"))
CALLS = 4  # the bulk run is sent as this many ImportClaims calls, one after another
CALLERS = 32
SECONDS = 5.0
ROWS_PER_TX = 100






def claim_inputs(n: int, prefix: str) -> list[pb.ClaimInput]:
    template = mapping.claim_input(emergency_claim())
    out = []
    for i in range(n):
        claim = pb.ClaimInput()
        claim.CopyFrom(template)
        claim.patient_control_number = f"{prefix}-{i}"
        out.append(claim)
    return out


# -- baselines ------------------------------------------------------------------------------


async def bench_plain_insert(database_url: str) -> float:
    """The same number of rows (a claim-sized payload each), 100 rows per transaction."""
    payload = mapping.claim_input(emergency_claim()).SerializeToString() * 2
    table = f"bench_claims_plain_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"CREATE TABLE {table} (id uuid PRIMARY KEY, tenant text, body bytea)")
        rows = [(uuid.uuid4(), "bench", payload) for _ in range(BULK_CLAIMS)]
        started = time.perf_counter()
        for i in range(0, len(rows), ROWS_PER_TX):
            async with conn.transaction():
                await conn.executemany(
                    f"INSERT INTO {table} VALUES ($1, $2, $3)", rows[i : i + ROWS_PER_TX]
                )
        return BULK_CLAIMS / (time.perf_counter() - started)
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()


class _Echo(grpc.GenericRpcHandler):
    def service(self, handler_call_details: Any) -> Any:
        async def echo(request: bytes, context: Any) -> bytes:
            return request

        return grpc.unary_unary_rpc_method_handler(echo)


async def run_callers(call: Any, seconds: float) -> tuple[int, list[float], float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def caller(worker: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await call(worker, n)
            latencies.append(time.perf_counter() - started)
            n += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller(w) for w in range(CALLERS)))
    return len(latencies), latencies, time.perf_counter() - started


async def bench_echo(report: Any) -> None:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_Echo(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    body = mapping.claim_input(emergency_claim()).SerializeToString()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            echo = channel.unary_unary("/bench.Echo/Echo")

            async def call(worker: int, n: int) -> None:
                await echo(body)

            count, latencies, elapsed = await run_callers(call, SECONDS)
        report("plain grpc.aio echo, 32 callers", count / elapsed, "rpc/s")
        report("plain grpc.aio echo p50", pct(latencies, 0.5) * 1000, "ms")
        report("plain grpc.aio echo p99", pct(latencies, 0.99) * 1000, "ms")
    finally:
        await server.stop(0)


def bench_use_case_in_process(report: Any) -> None:
    """The same bulk intake without gRPC, relay or projection: the domain + event store part."""
    app = ClaimsApplication(Settings.from_env("claims"))
    try:
        # Each its own patient control number: the same claim twice is a duplicate.
        items = tuple(ImportItem(f"in-process-{i}", commands.claim_data(claim))
                      for i, claim in enumerate(claim_inputs(BULK_CLAIMS // 2, "in-process")))
        ctx = CommandContext(
            tenant_id=f"bench-{uuid.uuid4().hex[:8]}",
            actor="bench",
            now=datetime.now(UTC),
            request_id="in-process",
            roles=frozenset({"negotiator"}),
        )
        started = time.perf_counter()
        outcomes = app.import_claims(ctx, ImportClaims(items))
        elapsed = time.perf_counter() - started
        if sum(o.created for o in outcomes) != len(items):
            raise RuntimeError("in-process import did not create every claim")
        # What the service does once at its first start (keys of claims stored before
        # reservations existed): done here, so the service started next does not do it during
        # the measured bulk run (it was ~10% of the service's samples there).
        reserve_existing_claims(app)
        report(
            f"import use case in-process ({len(items):,} claims, no gRPC)",
            len(items) / elapsed,
            "claims/s",
            "plain asyncpg insert, 100 rows/tx",
        )
    finally:
        app.close()


# -- the claims service ---------------------------------------------------------------------


async def start_service(port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, CLAIMS_GRPC_PORT=str(port), OON_LOG_LEVEL="WARNING")
    process = subprocess.Popen([sys.executable, "-m", "services.claims.main"], env=env)
    await wait_serving(f"127.0.0.1:{port}", process.poll, timeout=60)
    return process


async def bench_bulk(stubs: list[ClaimsServiceStub], pid: int, report: Any,
                     baseline: str, processes: int = 1) -> float:
    """The bulk run as CALLS ImportClaims calls; with several processes (stubs), the calls are
    dealt round-robin and each process's share runs concurrently with the others'."""
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    per_call = BULK_CLAIMS // CALLS
    requests = [
        pb.ImportClaimsRequest(
            request_id=f"bulk-{tenant}-{c}",
            items=[pb.ImportItem(claim=x) for x in claim_inputs(per_call, f"B{c}")],
        )
        for c in range(CALLS)
    ]
    process = psutil.Process(pid)
    baseline_rss = process.memory_info().rss
    peak = baseline_rss
    sampling = True

    async def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.02)  # memory sampling interval

    sampler = asyncio.create_task(sample())
    metadata = (("x-tenant-id", tenant), ("x-actor", "bench"), ("x-roles", "negotiator"))
    created = 0

    async def send(share: list[pb.ImportClaimsRequest], stub: ClaimsServiceStub) -> None:
        nonlocal created
        for request in share:
            response = await stub.ImportClaims(request, metadata=metadata, timeout=300)
            created += response.created_count

    cpu_before = process.cpu_times()
    started = time.perf_counter()
    await asyncio.gather(*(send(requests[i::len(stubs)], stub) for i, stub in enumerate(stubs)))
    elapsed = time.perf_counter() - started
    cpu_after = process.cpu_times()
    sampling = False
    await sampler
    if created != per_call * CALLS:
        raise RuntimeError(f"bulk import created {created} claims, expected {per_call * CALLS}")
    rate = created / elapsed
    one, five, _ = os.getloadavg()
    plural = "es" if processes > 1 else ""
    report(
        f"ImportClaims bulk intake ({created:,} claims, {CALLS} calls, {processes} process"
        f"{plural}; load {one:.1f}/{five:.1f})",
        rate,
        "claims/s",
        baseline,
    )
    if processes == 1:
        # CPU per claim hardly moves with the neighbours' load, unlike the rate; the relay and
        # projection work the import causes after the last reply is not in it.
        cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        report("  claims service CPU per claim during the bulk run", cpu / created * 1000, "ms")
        report("claims service RSS before bulk", baseline_rss / 2**20, "MiB")
        report("claims service peak RSS during bulk", peak / 2**20, "MiB")
    return rate


async def bench_register(stub: ClaimsServiceStub, report: Any) -> None:
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    claim = mapping.claim_input(emergency_claim())

    async def call(worker: int, n: int) -> None:
        await stub.RegisterClaim(
            # Each call its own claim: the same claim again would be a duplicate (ALREADY_EXISTS).
            pb.RegisterClaimRequest(request_id=f"r-{worker}-{n}", claim=_numbered(
                claim, f"B-{worker}-{n}")),
            metadata=(("x-tenant-id", tenant), ("x-actor", "bench"), ("x-roles", "negotiator")),
        )

    count, latencies, elapsed = await run_callers(call, SECONDS)
    report("RegisterClaim, 32 callers", count / elapsed, "rpc/s", "plain grpc.aio echo, 32 callers")
    report("RegisterClaim p50", pct(latencies, 0.5) * 1000, "ms", "plain grpc.aio echo p50")
    report("RegisterClaim p99", pct(latencies, 0.99) * 1000, "ms", "plain grpc.aio echo p99")


async def run(report: Any) -> None:
    database_url = os.environ["DATABASE_URL"]
    if not os.environ.get("NATS_URL"):
        raise RuntimeError("NATS_URL is required (the claims service publishes its events)")
    # The durable baseline is measured before and after the 1-process bulk run (interleaved:
    # a noisy machine moves both); its mean is what the bulk figures are compared with.
    plain = [await bench_plain_insert(database_url)]
    report("plain asyncpg insert, 100 rows/tx", plain[0], "rows/s")
    await bench_echo(report)
    await asyncio.get_running_loop().run_in_executor(None, bench_use_case_in_process, report)
    options = [("grpc.max_send_message_length", 64 * 2**20),
               ("grpc.max_receive_message_length", 64 * 2**20)]
    signer = InternalSigner.from_settings(Settings.from_env("claims"))
    ports = [free_port(), free_port()]
    processes = [await start_service(ports[0])]
    try:
        async with signed_channel(f"127.0.0.1:{ports[0]}", "claims", signer,
                                  options=options) as channel:
            stub = ClaimsServiceStub(channel)
            async with profiled(processes[0].pid, "importclaims-claims-service"):
                one = await bench_bulk([stub], processes[0].pid, report, "", 1)
            plain.append(await bench_plain_insert(database_url))
            baseline = "plain asyncpg insert, 100 rows/tx (durable, mean of before and after)"
            report(baseline, sum(plain) / len(plain), "rows/s")
            report("  ImportClaims, 1 process / durable 100-row insert", one, "claims/s", baseline)
            await bench_register(stub, report)
            processes.append(await start_service(ports[1]))
            async with signed_channel(f"127.0.0.1:{ports[1]}", "claims", signer,
                                      options=options) as second:
                two = await bench_bulk([stub, ClaimsServiceStub(second)], processes[0].pid,
                                       report, baseline, 2)
            report("ImportClaims scaling, 2 processes / 1", two / one, "x")
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def _numbered(claim: pb.ClaimInput, pcn: str) -> pb.ClaimInput:
    """The claim under its own patient control number (the same claim twice is a duplicate)."""
    copy = pb.ClaimInput()
    copy.CopyFrom(claim)
    copy.patient_control_number = pcn
    return copy
