"""The 837 import job end to end (issue 15): claims/s of a LARGE_837_CLAIMS-claim 837 (default
50,000) uploaded through the gateway in chunks and stored by the claims service's job, as a
ratio to, in the same run:

- the raw parse speed of the same file: the job's own reader (`read_file`: X12 reading, plan
  and facility facts, the claims' checks) in this process, nothing stored;
- a plain durable insert of the same claims: each claim's bytes as one row of an ordinary table
  (WAL-logged, synchronous_commit on), in transactions of the job's batch size.

The job's figure runs from StartImport to the job's SUCCEEDED (every claim stored in the event
store; the read model follows on its own). Claims service and gateway run in this process.
`LARGE_837_CLAIMS=2000 python -m bench import_837_job` for a quick run.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import re
import time
import uuid
from typing import Any

import asyncpg
import grpc

from gateway.server import make_builder, process_of
from oonledger.claims.v1 import claims_pb2 as pb
from oonledger.common.v1 import import_job_pb2 as jobs_pb
from services.claims.adapters.import_jobs import read_file
from services.claims.main import build as build_claims
from services.common.import_jobs.runner import DEFAULT_BATCH_SIZE
from services.common.runtime import Builder, ServiceRuntime
from services.common.settings import Settings
from tests.e2e.claim_files import many_claims_837
from tests.e2e.conftest import Stack
from tests.e2e.import_jobs import control_number, upload, watch
from tests.e2e.journey import Vendor

CLAIMS = int(os.environ.get("LARGE_837_CLAIMS", "50000"))
PARSE = "837 raw parse (the job's reader, in process)"
INSERT = "plain durable insert of the claims (batches of 250)"


def start_params(client_id: str) -> bytes:
    return pb.StartImportRequest(
        client_id=client_id,
        plan=pb.Plan(funding=pb.PLAN_FUNDING_SELF_FUNDED_ERISA, situs_state="PA"),
        facility=pb.Facility(network_status=pb.NETWORK_STATUS_IN_NETWORK, state="PA"),
    ).SerializeToString()


def claim_bodies(content: bytes) -> list[bytes]:
    """Each claim's bytes (its subscriber HL loop onwards), as the plain insert stores them."""
    parts = re.split(r"~\s*HL\*", content.decode())
    return [("HL*" + part).encode() for part in parts if "CLM*" in part]


async def plain_insert(database_url: str, bodies: list[bytes]) -> float:
    conn = await asyncpg.connect(database_url)
    table = f"bench_claims_{uuid.uuid4().hex[:8]}"  # an ordinary table: WAL-logged
    try:
        await conn.execute("SET synchronous_commit = on")
        await conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, body bytea)")
        started = time.perf_counter()
        for first in range(0, len(bodies), DEFAULT_BATCH_SIZE):
            async with conn.transaction():
                await conn.executemany(
                    f"INSERT INTO {table} VALUES ($1, $2)",
                    [(first + i, body)
                     for i, body in enumerate(bodies[first : first + DEFAULT_BATCH_SIZE])])
        return time.perf_counter() - started
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()


async def start(service: str, builder: Builder, **overrides: Any) -> ServiceRuntime:
    runtime = ServiceRuntime(Settings.from_env(service, grpc_port=0, **overrides), builder)
    await runtime.start()
    return runtime


async def stop(runtime: ServiceRuntime) -> None:
    if runtime.infra is not None:  # see bench/gateway_bench.py: nats-py's drain timeout
        runtime.infra.nc.options["drain_timeout"] = 2
    await runtime.stop(grace=1)


class LoopLag:
    """The longest time the event loop (shared by the gateway, the claims service and this
    client) did not get to run a 50 ms timer, while the job ran."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            self.longest = max(self.longest, now - last - 0.05)
            last = now

    def __enter__(self) -> LoopLag:
        self.task = asyncio.ensure_future(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.task.cancel()


async def job_seconds(content: bytes) -> tuple[float, float, float]:
    """(seconds from StartImport to SUCCEEDED, the longest gap between progress updates, the
    longest event-loop stall meanwhile)."""
    claims = await start("claims", build_claims)
    env = {"CLAIMS_ADDR": f"127.0.0.1:{claims.port}", "GATEWAY_HTTP_PORT": "0"}
    for name in ("negotiation", "settlement", "fees", "ledger"):
        env[f"{name.upper()}_ADDR"] = "127.0.0.1:9"  # not needed here
    gateway = await start("gateway", make_builder(env))
    stack = Stack(gateway, process_of(gateway), {"claims": claims}, {})
    try:
        async with grpc.aio.insecure_channel(stack.grpc_address) as channel:
            vendor = await Vendor.enrol(stack, channel)
            with LoopLag() as lag:
                started = time.perf_counter()
                job = await upload(vendor, content, f"client-{uuid.uuid4().hex[:6]}")
                updates = await watch(vendor, job.job_id)
                seconds = time.perf_counter() - started
    finally:
        await asyncio.gather(stop(gateway), stop(claims))
    final = updates[-1][1]
    if final.state != jobs_pb.IMPORT_JOB_STATE_SUCCEEDED or final.progress.items_stored != CLAIMS:
        raise RuntimeError(f"the job did not store every claim: {final}")
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(updates)]
    return seconds, max(gaps, default=0.0), lag.longest


async def run(report: Any) -> None:
    content = many_claims_837(CLAIMS, "B", control_number())
    report(f"{CLAIMS:,}-claim 837 size", len(content) / 1e6, "MB")

    params = start_params("client-bench")
    started = time.perf_counter()
    read = await asyncio.to_thread(read_file, content, params)
    parse_s = time.perf_counter() - started
    assert len(read.claims) == CLAIMS and not read.refused, "the reader lost claims"
    report(PARSE, CLAIMS / parse_s, "claims/s")

    bodies = claim_bodies(content)
    assert len(bodies) == CLAIMS, len(bodies)
    settings = Settings.from_env("claims")
    report(INSERT, CLAIMS / await plain_insert(settings.database_url, bodies), "claims/s")

    seconds, longest_gap, loop_lag = await job_seconds(content)
    sha = hashlib.sha256(content).hexdigest()[:12]
    report(f"837 job end to end through the gateway ({sha})", CLAIMS / seconds, "claims/s",
           PARSE)
    report("837 job end to end, against the plain insert", CLAIMS / seconds, "claims/s",
           INSERT)
    report("837 job total time", seconds, "s")
    report("837 job longest gap between progress updates", longest_gap, "s")
    report("837 job longest event-loop stall meanwhile", loop_lag, "s")
