"""MakeOffer A/B: two (or more) versions of `services` measured alternately in one run.

    python -m bench.offer_ab NAME=DIR NAME=DIR ...     (PYTHONPATH=<tree>:<tree>/gen)
    python -m bench.offer_ab a=DIR b=DIR@NEGOTIATION_DB_POOL_SIZE=4   (the same code, other env)

Each DIR holds a `services` package (e.g. `git archive <rev> services | tar -x -C DIR`; the
tree's own root for the current code). One embedded PostgreSQL and NATS serve the whole run;
each version gets its own namespace (schema, streams). Per round (OFFER_AB_ROUNDS, default 3),
the group-committed gRPC + durable insert baseline (bench/command_baselines.py) and then each
version in turn (the order rotates from round to round): its negotiation service alone in its
own process (`python -m services.negotiation.main` with DIR first on PYTHONPATH), its own
32-caller client process making offers on 32 negotiations of 52 events, as the `pipeline`
bench's "MakeOffer, 32 callers, 1 process" row does. Printed per version: cmd/s, the service's
CPU per command (user + system, psutil), p50/p99 and the 1-minute load of each round.

The round-1 code (before internal auth and the domain's value objects) seeds and calls in its
own way; `prepare` and `drive` below pick the way by what the version's `services` has.
BENCH_PROFILE=DIR writes DIR/makeoffer-<NAME>.svg (py-spy, GIL-holding thread) of the first
round's run of each version.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

TREE = Path(__file__).resolve().parent.parent
CALLERS = 32
STREAM_EVENTS = 52
SECONDS = float(os.environ.get("OFFER_AB_SECONDS", "6"))  # as bench/negotiation_bench.SECONDS


# -- run inside a version's PYTHONPATH ------------------------------------------------------


def _has_internal_auth() -> bool:
    try:
        import services.common.internal_auth  # noqa: F401
    except ImportError:
        return False
    return True


def prepare(tenant: str) -> list[str]:
    from services.common.settings import Settings

    settings = Settings.from_env("negotiation", grpc_port=0)
    if _has_internal_auth():
        from bench.negotiation_bench import prepare_streams

        return prepare_streams(settings, tenant)
    return _prepare_round1(settings, tenant)


def _prepare_round1(settings: Any, tenant: str) -> list[str]:
    """The round-1 bench's seeding (bench/negotiation_bench.py at 9dad827)."""
    from datetime import UTC, date, datetime

    from services.common.context import CommandContext
    from services.negotiation.application import NegotiationApplication
    from services.negotiation.domain import Negotiation  # type: ignore[attr-defined]
    from services.negotiation.tests.builders import open_fields

    app = NegotiationApplication(settings)
    ids = []
    for _ in range(CALLERS):

        def ctx() -> Any:
            return CommandContext(tenant_id=tenant, actor="bench", now=datetime.now(UTC),
                                  roles=frozenset({"negotiator"}),
                                  request_id=uuid.uuid4().hex)

        negotiation = Negotiation.open(ctx(), **open_fields())
        negotiation.send_open_negotiation_notice(ctx(), sent_on=date(2026, 6, 2),
                                                 channel="portal", portal_reference="")
        for i in range(STREAM_EVENTS - 2):
            negotiation.make_offer(ctx(), offer_id=f"seed-{i}", party="payer",
                                   amount_cents=40_000 + i, basis={"qpa_cents": 40_000},
                                   channel="email", notes="", document_refs=[],
                                   made_on=date(2026, 6, 10))
        app.save_all(negotiation)
        ids.append(str(negotiation.id))
    app.close()
    return ids


async def drive(address: str, tenant: str, ids: list[str]) -> dict[str, Any]:
    if _has_internal_auth():
        import bench.negotiation_bench
        from bench.negotiation_bench import drive as signed_drive

        bench.negotiation_bench.SECONDS = SECONDS

        return await signed_drive(address, tenant, ids)
    return await _drive_round1(address, tenant, ids)


async def _drive_round1(address: str, tenant: str, ids: list[str]) -> dict[str, Any]:
    """The round-1 bench's client (no internal token: the round-1 services had none)."""
    import grpc

    from oonledger.negotiation.v1 import negotiation_pb2 as pb
    from services.negotiation.client import Client

    def offer(nid: str, i: int) -> Any:  # bench/negotiation_bench.offer, same request
        return pb.MakeOfferRequest(
            request_id=uuid.uuid4().hex, negotiation_id=nid,
            offer_id=f"o{i}-{uuid.uuid4().hex[:6]}", party=pb.PARTY_PAYER,
            amount_cents=40_000 + i, channel=pb.CHANNEL_EMAIL,
            basis=pb.OfferBasis(qpa_cents=40_000), made_on="2026-06-10")

    async with grpc.aio.insecure_channel(address) as channel:
        client = Client(channel, tenant)
        latencies: list[float] = []
        stop_at = time.perf_counter() + SECONDS

        async def caller(nid: str) -> None:
            i = 1000
            while time.perf_counter() < stop_at:
                i += 1
                started = time.perf_counter()
                await client.call("MakeOffer", offer(nid, i))
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(caller(nid) for nid in ids))
        return {"elapsed": time.perf_counter() - started, "latencies": latencies}


# -- the run --------------------------------------------------------------------------------


class Version:
    def __init__(self, name: str, directory: str) -> None:
        self.name = name
        self.env = dict(os.environ, OON_NAMESPACE="ab" + uuid.uuid4().hex[:10],
                        PYTHONPATH=os.pathsep.join([directory, str(TREE), str(TREE / "gen")]))
        self.tenant = f"bench-{uuid.uuid4().hex[:6]}"
        self.ids: list[str] = []
        self.rows: list[dict[str, float]] = []

    def run(self, *args: str, **env: str) -> bytes:
        return subprocess.run([sys.executable, "-m", "bench.offer_ab", *args], check=True,
                              env=dict(self.env, **env), stdout=subprocess.PIPE,
                              cwd=tempfile.gettempdir()).stdout


async def _one_run(version: Version, profile: bool) -> dict[str, float]:
    import psutil

    from bench.pipeline_bench import _stop
    from bench.profiling import profiled
    from bench.stats import pct
    from deploy.local.supervisor import wait_serving
    from services.common.localservers import free_port

    port = free_port()
    service = subprocess.Popen(
        [sys.executable, "-m", "services.negotiation.main"], cwd=tempfile.gettempdir(),
        env=dict(version.env, NEGOTIATION_GRPC_PORT=str(port), OON_LOG_LEVEL="WARNING"),
        stdout=subprocess.DEVNULL)  # request log lines: written (their cost counts), not kept
    try:
        await wait_serving(f"127.0.0.1:{port}", service.poll, timeout=90)
        process = psutil.Process(service.pid)
        async with profiled(service.pid, f"makeoffer-{version.name}", None if profile else ""):
            before, threads_before = process.cpu_times(), _thread_times(service.pid)
            switches_before = process.num_ctx_switches()
            output = await asyncio.to_thread(version.run, "drive", f"127.0.0.1:{port}",
                                             version.tenant, *version.ids)
            after, threads_after = process.cpu_times(), _thread_times(service.pid)
            switches_after = process.num_ctx_switches()
    finally:
        _stop(service)
    result = json.loads(output)
    latencies = result["latencies"]
    calls = len(latencies)
    cpu = (after.user + after.system) - (before.user + before.system)
    row = {"rate": calls / result["elapsed"], "cpu_ms": cpu * 1000 / calls,
           "user_ms": (after.user - before.user) * 1000 / calls,
           "sys_ms": (after.system - before.system) * 1000 / calls,
           "switches": (sum(switches_after) - sum(switches_before)) / calls,
           "p50": statistics.median(latencies), "p99": pct(latencies, 0.99),
           "load": os.getloadavg()[0]}
    if os.environ.get("OFFER_AB_THREADS"):
        # CPU per command by thread kind (/proc comm names; Python threads are "python").
        by_kind: dict[str, float] = {}
        for tid, (kind, used) in threads_after.items():
            spent = used - threads_before.get(tid, (kind, 0.0))[1]
            by_kind[kind] = by_kind.get(kind, 0.0) + spent * 1000 / calls
        print("  threads (ms/cmd): " + ", ".join(
            f"{k} {v:.3f}" for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])))
    return row


def _thread_times(pid: int) -> dict[int, tuple[str, float]]:
    """Each thread's (kind, user + system seconds); the main thread is "main"."""
    times: dict[int, tuple[str, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/task/{tid}/comm") as comm:
                name = comm.read().strip()
        except OSError:
            continue
        kind = "main" if int(tid) == pid else name
        times[int(tid)] = (kind, (int(fields[11]) + int(fields[12])) / tick)
    return times


async def main(specs: list[str]) -> None:
    from bench.pipeline_bench import _baseline_calls
    from services.common.localservers import LocalNats, LocalPostgres

    versions = []
    for spec in specs:
        name, _, rest = spec.partition("=")
        directory, _, settings = rest.partition("@")  # DIR@VAR=VALUE,VAR=VALUE: extra env
        versions.append(Version(name, directory))
        versions[-1].env.update(pair.split("=", 1) for pair in settings.split(",") if pair)
    tmp = Path(tempfile.mkdtemp(prefix="offerab-"))
    postgres, nats_server = LocalPostgres(tmp / "pgdata"), LocalNats(tmp / "nats")
    os.environ["DATABASE_URL"] = postgres.start()
    os.environ["NATS_URL"] = nats_server.start()
    os.environ.setdefault("OON_DEV_MODE", "1")
    for version in versions:
        version.env.update(DATABASE_URL=os.environ["DATABASE_URL"],
                           NATS_URL=os.environ["NATS_URL"], OON_DEV_MODE="1")
    baseline: list[dict[str, float]] = []
    try:
        for version in versions:
            version.ids = json.loads(version.run("prepare", version.tenant))
        rounds = int(os.environ.get("OFFER_AB_ROUNDS", "3"))
        profile = bool(os.environ.get("BENCH_PROFILE"))
        for r in range(rounds):
            insert = await _baseline_calls("insert")
            baseline.append({"rate": len(insert["latencies"]) / insert["elapsed"],
                             "cpu_ms": insert["cpu_ms"], "load": os.getloadavg()[0]})
            print(f"round {r + 1}: gRPC + durable insert {baseline[-1]['rate']:,.0f} cmd/s, "
                  f"{baseline[-1]['cpu_ms']:.3f} ms CPU/call, load {baseline[-1]['load']:.2f}",
                  flush=True)
            order = versions[r % len(versions):] + versions[:r % len(versions)]
            for version in order:
                row = await _one_run(version, profile and r == 0)
                version.rows.append(row)
                print(f"round {r + 1}: {version.name:<12} {row['rate']:8.1f} cmd/s  "
                      f"{row['cpu_ms']:.3f} ms CPU/cmd (user {row['user_ms']:.3f}, sys "
                      f"{row['sys_ms']:.3f}, {row['switches']:.1f} switches)  "
                      f"p50 {row['p50']:.1f} ms  "
                      f"p99 {row['p99']:.1f} ms  load {row['load']:.2f}", flush=True)
    finally:
        nats_server.stop()
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def mean(rows: list[dict[str, float]], key: str) -> float:
        return sum(row[key] for row in rows) / len(rows)

    base_rate = mean(baseline, "rate")
    print(f"\nmeans over {len(baseline)} rounds (load "
          f"{min(b['load'] for b in baseline):.1f}-{max(b['load'] for b in baseline):.1f}):")
    print(f"  gRPC + durable insert, group-committed: {base_rate:,.0f} cmd/s, "
          f"{mean(baseline, 'cpu_ms'):.3f} ms CPU/call")
    first = versions[0]
    for version in versions:
        rate, cpu = mean(version.rows, "rate"), mean(version.rows, "cpu_ms")
        print(f"  {version.name:<12} {rate:8.1f} cmd/s ({rate / base_rate:.2f}x the insert, "
              f"{rate / mean(first.rows, 'rate'):.2f}x {first.name})  {cpu:.3f} ms CPU/cmd "
              f"({cpu / mean(first.rows, 'cpu_ms'):.2f}x {first.name})  "
              f"p99 {mean(version.rows, 'p99'):.0f} ms")


if __name__ == "__main__":
    command, *rest = sys.argv[1:] or [""]
    if command == "prepare":
        print(json.dumps(prepare(rest[0])))
    elif command == "drive":
        print(json.dumps(asyncio.run(drive(rest[0], rest[1], rest[2:]))))
    else:
        asyncio.run(main(sys.argv[1:]))
