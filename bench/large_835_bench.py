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
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import grpc

from bench.cpu import CpuMeter
from gateway.catalog import UPSTREAMS
from gateway.server import make_builder, process_of
from services.common.context import CommandContext
from services.common.phi import PATIENT_CONTROL_NUMBER
from services.common.runtime import Builder, ServiceRuntime
from services.common.settings import Settings
from services.settlement.adapters.remittance_intake import prepare_import
from services.settlement.application import OpeningTerms, SettlementApplication
from services.settlement.domain import CLAIMS_PER_CHUNK, ClaimLine, SettlementSource
from tests.e2e.conftest import Stack
from tests.e2e.journey import Vendor
from tests.e2e.large_remittance import (
    PAID_CENTS,
    SERVICE_DATE,
    Timings,
    fees_know,
    last_notification_id,
    post_large_835,
    remittance,
)
from tests.support.plugin import eventually

# The 837 lines of gateway/tests/samples.py's emergency claim, as settlement keeps them.
LINES = json.dumps([
    ClaimLine(1, "", "99285", ("25",), SERVICE_DATE, 185_000).to_dict(),
    ClaimLine(2, "", "12002", (), SERVICE_DATE, 64_000).to_dict(),
])


async def seeded_settlements(
    vendor: Vendor, imported: list[tuple[str, str]], timings: Timings
) -> None:
    """Fees learns the claims from claims' events; settlement's matching facts and open
    settlements are written directly (see the module docstring)."""
    claim_ids = [claim_id for claim_id, _ in imported]
    await timings.measure("claims known to fees", eventually(
        lambda: fees_know(vendor, claim_ids), timeout=1800, interval=1.0))
    settlement = vendor.stack.services["settlement"]
    assert settlement.infra is not None and settlement.parts is not None
    keys = settlement.settings.phi_keys()  # the matching facts by keyed hash
    rows = [(vendor.tenant, claim_id, keys.index(vendor.tenant, PATIENT_CONTROL_NUMBER, pcn), [],
             "1234567893", "", SERVICE_DATE, 249_000, "87726", True, LINES)
            for claim_id, pcn in imported]
    schema = settlement.settings.schema
    async with settlement.infra.pool.acquire() as conn:
        await conn.executemany(
            f'INSERT INTO "{schema}".claim_refs (tenant_id, claim_id, pcn_index, '
            "icn_indexes, billing_npi, billing_tin, first_service_date, charge_cents, payer_id, "
            "nsa_protected, lines) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb) "
            "ON CONFLICT (tenant_id, claim_id) DO UPDATE SET lines = EXCLUDED.lines", rows)
    app = settlement.parts.app
    assert isinstance(app, SettlementApplication)
    await timings.measure("settlements opened (written directly)",
                          asyncio.to_thread(_open, app, vendor.tenant, claim_ids))
    # The raw baselines of this run, then the import timed alone (see `idle`).
    content = remittance([pcn for _, pcn in imported])
    await raw_parse(content, timings)
    await parse(content, timings)
    if isinstance(timings, ProfiledTimings):
        timings.before = await last_notification_id(settlement)
    await idle(timings)


def _open(app: SettlementApplication, tenant: str, claim_ids: list[str]) -> None:
    ctx = CommandContext(tenant_id=tenant, actor="bench", now=datetime.now(UTC),
                         roles=frozenset({"finance"}), request_id="bench-open")
    for start in range(0, len(claim_ids), 1000):
        app.save_all(*(app.open_settlement(ctx, OpeningTerms(
            claim_id=claim_id, source=SettlementSource.AGREEMENT, source_ref="bench",
            decided_on=date(2026, 11, 10), due_date=date(2026, 12, 10),
            amount_owed_cents=PAID_CENTS, agreed_total_cents=PAID_CENTS,
            patient_cost_sharing_cents=0, already_paid_cents=0, payer_id="87726"))
            for claim_id in claim_ids[start:start + 1000]))

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

    async def measure(self, name: str, step: Any) -> Any:
        if self.meter is None or name not in ALL_INCLUDED:
            return await self._measure(name, step)
        before = self.meter.snapshot()
        try:
            return await self._measure(name, step)
        finally:
            self.cpu[name] = CpuMeter.spent(before, self.meter.snapshot())

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


def report_cpu(report: Any, claims: int, cpu: dict[str, dict[str, float]]) -> None:
    """CPU seconds of the import-to-ledger window (every service in this process, PostgreSQL,
    NATS), per claim, and the least wall time that CPU allows on this machine's cores."""
    if not all(name in cpu for name in ALL_INCLUDED):
        return
    for name in ALL_INCLUDED:
        report(f"{claims:,}-claim 835: CPU of {name} (services + PostgreSQL + NATS)",
               sum(cpu[name].values()), "CPU s")
    total = {group: sum(cpu[name][group] for name in ALL_INCLUDED)
             for group in cpu[ALL_INCLUDED[0]]}
    spent = sum(total.values())
    for group, seconds in total.items():
        report(f"{claims:,}-claim 835: CPU per claim, {group}", seconds / claims * 1000, "ms")
    report(f"{claims:,}-claim 835: CPU per claim, all included", spent / claims * 1000, "ms")
    cores = os.cpu_count() or 1
    report(f"{claims:,}-claim 835: least wall time that CPU allows on {cores} cores",
           spent / cores, "s")
    report(f"{claims:,}-claim 835: least wall time, services' one process (one core, GIL)",
           total["services"], "s")
