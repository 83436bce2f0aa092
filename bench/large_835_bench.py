"""Large 835s end to end through the gateway (issues 13, 18): an 835 of 10,000 claims and one of
50,000 claims posted, every payment billed exactly one fee, every settlement event in the ledger.

Every service and the gateway run in this process, on the bench's PostgreSQL and NATS. Sizes:
LARGE_835_CLAIMS (comma-separated, default "10000,50000"). The checks are those of the
end-to-end test (tests/e2e/large_remittance.py); each step's time is reported, the import's
as the figure. The claims are imported through the gateway; settlement's matching facts and
the open settlements are then written straight into settlement's read model and event store
(as bench/settlement_bench.py does): opening 50,000 settlements one agreement event at a time,
and projecting each into the read model, takes most of an hour on 2 cores (measured at 5,000:
193 s and 122 s) and is not what this bench measures. The gateway's deadline ceiling is
raised for the bench so that the figure is the import's time, whatever it is.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import grpc

from bench.cpu import CpuMeter
from bench.memory import MemoryWindow, memory_window
from gateway.catalog import UPSTREAMS
from gateway.server import make_builder, process_of
from services.common.runtime import Builder, ServiceRuntime
from services.common.settings import Settings
from services.settlement.adapters.remittance_intake import prepare_import
from services.settlement.domain import CLAIMS_PER_CHUNK
from tests.e2e.conftest import Stack
from tests.e2e.journey import Vendor
from tests.e2e.large_remittance import (
    Timings,
    last_notification_id,
    post_large_835,
    remittance,
)
from tests.e2e.seeded_settlements import opened_in_settlement
from tests.support.plugin import eventually


async def seeded_settlements(
    vendor: Vendor, imported: list[tuple[str, str]], timings: Timings
) -> None:
    """Settlements opened as the import-job tests open them (tests/e2e/seeded_settlements.py),
    then the run's raw baselines, and the import timed alone (see `idle`)."""
    await opened_in_settlement(vendor, imported, timings)
    settlement = vendor.stack.services["settlement"]
    content = remittance([pcn for _, pcn in imported])
    await raw_parse(content, timings)
    await parse(content, timings)
    if isinstance(timings, ProfiledTimings):
        timings.before = await last_notification_id(settlement)
    await idle(timings)

class ProfiledTimings(Timings):
    """Timings that, with LARGE_835_PROFILE=DIR, record a py-spy flame graph of this process
    from the start of ImportRemittance until every settlement event is in the ledger."""

    def __init__(self, claims: int) -> None:
        super().__init__()
        self.claims = claims
        self.spy: subprocess.Popen[bytes] | None = None
        self.before = 0  # settlement's last notification id before the import
        self.meter: CpuMeter | None = None
        self.cpu: dict[str, dict[str, float]] = {}  # step -> CPU seconds per group
        self.memory: MemoryWindow | None = None  # this process's RSS over ALL_INCLUDED

    async def measure(self, name: str, step: Any) -> Any:
        if self.meter is None or name not in ALL_INCLUDED:
            return await self._measure(name, step)
        before = self.meter.snapshot()
        with memory_window() as window:
            try:
                return await self._measure(name, step)
            finally:
                self.cpu[name] = CpuMeter.spent(before, self.meter.snapshot())
                self._remember(window)

    def _remember(self, window: MemoryWindow) -> None:
        """The import-to-ledger window's memory: RSS before its first step, peak over all."""
        if self.memory is None:
            self.memory = window
        else:
            self.memory.peak_mb = max(self.memory.peak_mb, window.peak_mb)

    async def _measure(self, name: str, step: Any) -> Any:
        out = os.environ.get("LARGE_835_PROFILE")
        if out and name.startswith("ImportRemittance"):
            self.spy = subprocess.Popen(
                [str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
                 str(os.getpid()), "--rate", "50", "--nonblocking",
                 "-o", f"{out}/large_835_{self.claims}.svg"], stdout=subprocess.DEVNULL)
            await asyncio.sleep(1)  # py-spy attached
        try:
            return await super().measure(name, step)
        finally:
            if self.spy is not None and name.startswith("every settlement event"):
                self.spy.send_signal(signal.SIGINT)
                try:  # py-spy writes the SVG on SIGINT; a loaded machine may take minutes
                    await asyncio.to_thread(self.spy.wait, 600)
                except subprocess.TimeoutExpired:
                    self.spy.kill()
                self.spy = None


RAW_PARSE = "raw parse (the file split into segments and elements)"
RAW_INSERT = "raw durable insert of the import's events (same rows, same transactions)"
# Each figure and the raw baseline of the same run it is compared with.
RAW_FOR = {
    "parse and checks (prepare_import, same file)": RAW_PARSE,
    "ImportRemittance through the gateway": RAW_INSERT,
}
ALL_INCLUDED = ("ImportRemittance through the gateway", "every payment billed",
                "every settlement event in the ledger")


async def idle(timings: Timings) -> None:
    """Wait until this process is idle (under a fifth of a core for 2 s): the services' backlog
    of the set-up (claims' reactions, fees learning the claims) drained, so the import is timed
    alone, as it would run in its own service process."""

    async def quiet() -> bool:
        before = time.process_time()
        await asyncio.sleep(2)
        return time.process_time() - before < 0.4

    await timings.measure("set-up backlog drained", eventually(quiet, timeout=1800,
                                                               interval=0.1))


async def raw_parse(content: bytes, timings: Timings) -> None:
    """The least any 835 reader does: the file decoded and split into segments and elements."""

    async def split() -> None:
        text = content.decode("utf-8")
        segment, element = text[105], text[3]
        for raw in text.split(segment):
            raw.strip().split(element)

    await timings.measure(RAW_PARSE, split())


async def parse(content: bytes, timings: Timings) -> None:
    async def prepared() -> None:
        prepare_import(content, "large.835")

    await timings.measure("parse and checks (prepare_import, same file)", prepared())


async def raw_insert(settlement: ServiceRuntime, after: int, claims: int, timings: Timings
                     ) -> None:
    """A plain asyncpg insert of as many rows as the import stored events, each as large as
    their average stored state, into an ordinary table (WAL-logged), synchronous_commit on, in
    as many transactions as the import's chunks (CLAIMS_PER_CHUNK claims each)."""
    assert settlement.infra is not None and settlement.parts is not None
    table = settlement.parts.app.recorder.events_table_name  # type: ignore[union-attr]
    schema = settlement.settings.schema
    async with settlement.infra.pool.acquire() as conn:
        count, size = await conn.fetchrow(
            f'SELECT count(*), coalesce(avg(length(state)), 0)::int FROM "{schema}".{table} '
            "WHERE notification_id > $1", after)
        name = f"bench_raw_835_{uuid.uuid4().hex[:8]}"
        await conn.execute("SET synchronous_commit = on")
        await conn.execute(f"CREATE TABLE {name} (id bigint PRIMARY KEY, body bytea)")
        body = os.urandom(size)
        chunks = -(-claims // CLAIMS_PER_CHUNK)
        rows: list[tuple[int, bytes]] = [(i, body) for i in range(count)]
        step = -(-count // chunks)

        async def insert() -> None:
            for start in range(0, count, step):
                async with conn.transaction():
                    await conn.executemany(f"INSERT INTO {name} VALUES ($1, $2)",
                                           rows[start:start + step])

        await timings.measure(RAW_INSERT, insert())
        await conn.execute(f"DROP TABLE {name}")


# 10,000: issue 18's row (posted, billed and in the ledger, all included); 50,000: issue 13's.
SIZES = [int(n) for n in os.environ.get("LARGE_835_CLAIMS", "10000,50000").split(",") if n]


async def start(service: str, builder: Builder, **overrides: Any) -> ServiceRuntime:
    runtime = ServiceRuntime(Settings.from_env(service, grpc_port=0, **overrides), builder)
    await runtime.start()
    return runtime


async def stop(runtime: ServiceRuntime) -> None:
    if runtime.infra is not None:  # see bench/gateway_bench.py: nats-py's drain timeout
        runtime.infra.nc.options["drain_timeout"] = 2
    await runtime.stop(grace=1)


async def run(report: Any) -> None:
    services = {name: await start(name, importlib.import_module(f"services.{name}.main").build)
                for name in UPSTREAMS}
    env = {f"{name.upper()}_ADDR": f"127.0.0.1:{runtime.port}"
           for name, runtime in services.items()}
    # The set-up's JSON ImportClaims of 5,000 claims can outlast the default 10 s deadline on a
    # loaded machine; the figures are the steps' times, whatever they are.
    env.update(GATEWAY_HTTP_PORT="0", GATEWAY_MAX_DEADLINE_SECONDS="1800",
               GATEWAY_DEFAULT_DEADLINE_SECONDS="600")
    gateway = await start("gateway", make_builder(env))
    stack = Stack(gateway, process_of(gateway), services, {})
    try:
        async with grpc.aio.insecure_channel(stack.grpc_address) as channel:
            for claims in SIZES:
                vendor = await Vendor.enrol(stack, channel)
                timings = ProfiledTimings(claims)
                timings.meter = await CpuMeter.of_servers()
                try:
                    await post_large_835(vendor, claims, timings, setup=seeded_settlements,
                                         read_models=False)
                finally:  # what was measured is reported, also when a later check failed
                    await raw_insert(services["settlement"], timings.before, claims, timings)
                    report_figures(report, claims, timings.figures)
                    report_cpu(report, claims, timings.cpu)
                    report_memory(report, claims, timings.memory)
    finally:
        await asyncio.gather(*(stop(runtime) for runtime in (gateway, *services.values())))


def report_figures(report: Any, claims: int, figures: dict[str, float]) -> None:
    raw = (RAW_PARSE, RAW_INSERT)  # first: the ratios of the others are to them
    ordered = [n for n in raw if n in figures] + [n for n in figures if n not in raw]
    for name in ordered:
        value = figures[name]
        unit = "MB" if name.endswith("(MB)") else "s"
        baseline = RAW_FOR.get(name)
        report(f"{claims:,}-claim 835: {name.removesuffix(' (MB)')}", value, unit,
               f"{claims:,}-claim 835: {baseline}" if baseline else None)
    if "ImportRemittance through the gateway" in figures:
        report(f"{claims:,}-claim 835: import throughput",
               claims / figures["ImportRemittance through the gateway"], "claims/s")
    if all(name in figures for name in ALL_INCLUDED):
        # Issue 18's row: posted and billed, every event in the ledger, all included.
        report(f"{claims:,}-claim 835: posted, billed and in the ledger (all included)",
               sum(figures[name] for name in ALL_INCLUDED), "s",
               f"{claims:,}-claim 835: {RAW_INSERT}")
    print(f"  (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)


def report_memory(report: Any, claims: int, memory: MemoryWindow | None) -> None:
    """This process's RSS (every service and the gateway) before the import and its peak until
    every event is in the ledger: what the import holds at once (its parsed file, each chunk's
    events; the collector is paused while it runs, services/common/gc_tuning.py)."""
    if memory is None:
        return
    report(f"{claims:,}-claim 835: RSS of the services' process before the import",
           memory.before_mb, "MB")
    report(f"{claims:,}-claim 835: peak RSS, import to ledger", memory.peak_mb, "MB")
    report(f"{claims:,}-claim 835: peak RSS growth, per claim",
           (memory.peak_mb - memory.before_mb) * 1000 / claims, "kB")


def report_cpu(report: Any, claims: int, cpu: dict[str, dict[str, float]]) -> None:
    """CPU seconds of the import-to-ledger window (every service in this process, PostgreSQL,
    NATS), per claim, and the least wall time that CPU allows on this machine's cores."""
    if not all(name in cpu for name in ALL_INCLUDED):
        return
    measured = " + ".join(cpu[ALL_INCLUDED[0]])  # the groups CpuMeter could see
    for name in ALL_INCLUDED:
        report(f"{claims:,}-claim 835: CPU of {name} ({measured})",
               sum(cpu[name].values()), "CPU s")
    total = {group: sum(cpu[name][group] for name in ALL_INCLUDED)
             for group in cpu[ALL_INCLUDED[0]]}
    spent = sum(total.values())
    for group, seconds in total.items():
        report(f"{claims:,}-claim 835: CPU per claim, {group}", seconds / claims * 1000, "ms")
    report(f"{claims:,}-claim 835: CPU per claim, all included ({measured})",
           spent / claims * 1000, "ms")
    cores = os.cpu_count() or 1
    report(f"{claims:,}-claim 835: least wall time that CPU allows on {cores} cores",
           spent / cores, "s")
    report(f"{claims:,}-claim 835: least wall time, services' one process (one core, GIL)",
           total["services"], "s")
