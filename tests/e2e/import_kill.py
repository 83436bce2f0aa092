"""kill -9 of the importing service in the middle of an import job, at any size: the service runs
as a real process (`python -m services.<svc>.main`) on the port the gateway forwards to, is
SIGKILLed once the job has committed part of the file, and started again; the job resumes and
ends with every claim (837) or payment (835) stored exactly once, none missing, and for the 835
exactly one fee per payment and every settlement event in the ledger. Afterwards the operator's
reconciliation reports zero gaps for the tenant and every service answers SERVING.

Shared by tests/jobs/test_import_jobs_kill.py (2,000 claims, 1,000 payments; `make test`) and
tests/large (50,000 each; `make test-large`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from oonledger.common.v1 import import_job_pb2 as jobs_pb
from oonledger.operations.v1 import operations_pb2 as ops_pb
from oonledger.operations.v1.operations_pb2_grpc import OperatorServiceStub
from services.claims.main import build as build_claims
from services.settlement.main import build as build_settlement
from tests.e2e.claim_files import many_claims_837
from tests.e2e.conftest import Stack
from tests.e2e.import_jobs import (
    control_number,
    every_claim_listed,
    get_job,
    get_job_835,
    late_in_stretches,
    upload,
    watch_job,
)
from tests.e2e.job_killer import JobKiller
from tests.e2e.journey import Vendor
from tests.e2e.large_remittance import (
    Setup,
    Timings,
    agreed_through_negotiation_events,
    post_large_835,
)
from tests.e2e.service_process import GatewayReplica, ProcessService
from tests.support.plugin import eventually

SUCCEEDED = jobs_pb.IMPORT_JOB_STATE_SUCCEEDED


@dataclass
class Fixtures:
    """The session's fixtures a kill scenario needs (to run a service as a process)."""

    stack: Stack
    channel: grpc.aio.Channel
    service_runner: Any
    infra_urls: Any
    namespace: str
    tmp_path: Path

    # The gateway process the job is watched through (default: the channel's gateway).
    replica: GatewayReplica | None = None

    @property
    def watch_address(self) -> str:
        return self.replica.address if self.replica is not None else ""

    def watched(self) -> None:
        """The job was watched to its end: the second gateway goes (while it lives, each
        gateway's share of a key's rate limit is halved, and the checks call a lot)."""
        if self.replica is not None:
            self.replica.stop()

    def process(self, name: str, build: Callable[..., Any]) -> ProcessService:
        return ProcessService(self.stack, self.service_runner, name, build, self.infra_urls,
                              self.namespace, self.tmp_path)


async def created_since(runtime: Any, before: int) -> int:
    """Aggregates created (version 1 events) in the service's event store after `before`."""
    table = runtime.parts.app.recorder.events_table_name
    async with runtime.infra.pool.acquire() as conn:
        return int(await conn.fetchval(
            f'SELECT count(*) FROM "{runtime.settings.schema}".{table} '
            "WHERE notification_id > $1 AND originator_version = 1", before))


async def last_notification(runtime: Any) -> int:
    table = runtime.parts.app.recorder.events_table_name
    async with runtime.infra.pool.acquire() as conn:
        return int(await conn.fetchval(
            f'SELECT coalesce(max(notification_id), 0) FROM "{runtime.settings.schema}".{table}'
        ) or 0)


async def answering(read: Any) -> jobs_pb.ImportJob:
    """The job, once the gateway reaches the restarted service again (its channel backs off
    after the refused connections)."""
    async def job() -> jobs_pb.ImportJob | None:
        try:
            return await read()
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                return None
            raise

    return await eventually(job, timeout=120, interval=0.2)


async def reachable(call: Any) -> None:
    """Until a call through the gateway reaches the service again (any answer but
    UNAVAILABLE: the gateway's channel backs off after refused connections)."""
    async def answered() -> bool:
        try:
            await call()
        except grpc.aio.AioRpcError as exc:
            return exc.code() != grpc.StatusCode.UNAVAILABLE
        return True

    await eventually(answered, timeout=120, interval=0.2)


@contextlib.asynccontextmanager
async def killer_of(service: ProcessService) -> AsyncIterator[JobKiller]:
    """A tests/e2e/job_killer.py process for `service` (out of process), connected and ready
    before the upload."""
    killer = JobKiller(service.infra.database_url, service.schema)
    try:
        await killer.ready()
        yield killer
    finally:
        await killer.close()


async def kill_mid_job(killer: JobKiller, service: ProcessService, job_id: str, total: int,
                       at: int = 1) -> int:
    """kill -9 of `service` once the job committed at least `at` of its `total` items, not
    all of them; the items it had committed."""
    processed = await killer.kill_mid_job(job_id, service.pid, at, total)
    service.killed()
    return processed


async def reconciled_and_serving(fx: Fixtures, vendor: Vendor, timeout: float = 120) -> None:
    """The operator's reconciliation (through the gateway, admin key) reports zero gaps for
    the tenant once the pipeline drained, and every service answers SERVING."""
    admin = (("authorization", f"Bearer {await fx.stack.partner(vendor.tenant, 'admin')}"),)
    operator = OperatorServiceStub(fx.channel)
    last: list[ops_pb.ReconciliationReport] = []

    async def healthy() -> bool:
        report = await operator.Reconcile(ops_pb.ReconcileRequest(), metadata=admin,
                                          timeout=120)
        last[:] = [report]
        return report.healthy and not report.gaps

    try:
        await eventually(healthy, timeout=timeout, interval=2.0)
    except Exception as exc:
        gaps = [(g.service, g.check, g.gap) for g in last[0].gaps] if last else "no report"
        raise AssertionError(f"reconciliation not healthy: {gaps}") from exc
    for name, runtime in fx.stack.services.items():
        async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, (name, reply)


@dataclass
class Figures:
    values: dict[str, float] = field(default_factory=dict)

    def show(self) -> None:
        print({name: round(value, 2) for name, value in self.values.items()})


async def kill_claims_mid_837_job(fx: Fixtures, claims: int, *, kill_at: int = 1,
                                  max_gap: float, drain_timeout: float = 120,
                                  figures: Figures | None = None) -> None:
    """An 837 of `claims` claims as a job through the gateway; claims is killed -9 once the
    job committed `kill_at` claims, and started again."""
    stack = fx.stack
    stack.require("claims")
    figures = figures or Figures()
    vendor = await Vendor.enrol(stack, fx.channel)
    client_id = f"client-{uuid.uuid4().hex[:6]}"
    before = await last_notification(stack.services["claims"])
    service = fx.process("claims", build_claims)
    await service.out_of_process()
    try:
        await reachable(lambda: get_job(vendor, str(uuid.uuid4())))  # NOT_FOUND: it answers
        content = many_claims_837(claims, "KJ", control_number())
        async with killer_of(service) as killer:
            started = time.perf_counter()
            job = await upload(vendor, content, client_id)
            figures.values["upload_s"] = time.perf_counter() - started
            # Watched from the upload to the end, through the kill (progress every second
            # while the service is up).
            watcher = asyncio.ensure_future(watch_job(vendor, job.job_id, "837",
                                                      fx.watch_address))
            try:
                figures.values["killed_at_claims"] = await kill_mid_job(
                    killer, service, job.job_id, claims, kill_at)
                await service.start()
                await answering(lambda: get_job(vendor, job.job_id))
                stretches = await watcher
            finally:
                watcher.cancel()
                fx.watched()
        figures.values["job_s"] = time.perf_counter() - started
        figures.values["claims_per_s"] = claims / figures.values["job_s"]
    finally:
        runtime = await service.back_in_process()
        # The in-process service is back (later tests call it through the gateway).
        await reachable(lambda: get_job(vendor, str(uuid.uuid4())))
    final = stretches[-1][-1][1]
    assert final.state == SUCCEEDED, (final.error, service.log())
    assert (final.progress.items_read, final.progress.items_stored,
            final.progress.items_rejected, final.progress.items_processed) == (
        claims, claims, 0, claims)
    longest, late = late_in_stretches(stretches, over=min(max_gap, 1.0))
    figures.values["longest_progress_gap_s"] = longest
    figures.values["watch_stretches"] = len(stretches)
    assert await every_claim_listed(vendor, client_id, claims,
                                    timeout=drain_timeout) == claims
    assert await created_since(runtime, before) == claims  # none twice, none missing
    started = time.perf_counter()
    await reconciled_and_serving(fx, vendor, timeout=drain_timeout)
    figures.values["pipeline_drained_s"] = time.perf_counter() - started
    # Progress last (everything else was checked whatever the gaps).
    assert longest < max_gap, late


class KillSettlementMidJob:
    """post_large_835's interruption: settlement as a process, killed -9 once the 835 job
    posted `kill_at` payments, and started again."""

    def __init__(self, settlement: ProcessService, payments: int, kill_at: int = 1,
                 fx: Fixtures | None = None) -> None:
        self.fx = fx
        self.settlement = settlement
        self.payments = payments
        self.kill_at = kill_at
        self.killed_at = 0
        self.vendor: Vendor | None = None
        self.killers = contextlib.AsyncExitStack()

    async def before(self, vendor: Vendor) -> None:
        self.vendor = vendor
        await self.settlement.out_of_process()
        await reachable(lambda: get_job_835(vendor, str(uuid.uuid4())))
        self.killer = await self.killers.enter_async_context(killer_of(self.settlement))

    async def during(self, vendor: Vendor, job_id: str) -> None:
        self.killed_at = await kill_mid_job(self.killer, self.settlement, job_id,
                                            self.payments, self.kill_at)
        await self.settlement.start()
        await answering(lambda: get_job_835(vendor, job_id))

    async def after(self) -> None:
        await self.killers.aclose()
        if self.fx is not None:
            self.fx.watched()
        await self.settlement.back_in_process()
        vendor = self.vendor
        if vendor is not None:  # the in-process service is back
            await reachable(lambda: get_job_835(vendor, str(uuid.uuid4())))


async def kill_settlement_mid_835_job(fx: Fixtures, payments: int, *, kill_at: int = 1,
                                      max_gap: float, setup: Setup | None = None,
                                      drain_timeout: float = 120, fees_wait: float = 0,
                                      timings: Timings | None = None) -> None:
    """An 835 of `payments` claim payments as a job through the gateway; settlement is killed
    -9 once the job posted `kill_at` of them, and started again. Every payment once (each
    claim's fee account shows one payment and one fee), every settlement event in the ledger
    (post_large_835's checks), then reconciliation and health. `fees_wait`: settlement's
    OON_IMPORT_FEES_WAIT_SECONDS (the job's patience with a fees pipeline that stops moving)."""
    fx.stack.require("claims", "negotiation", "settlement", "fees", "ledger")
    vendor = await Vendor.enrol(fx.stack, fx.channel)
    settlement = fx.process("settlement", build_settlement)
    if fees_wait:  # how long the job waits for a fee to move before it ends with a finding
        settlement.extra_env["OON_IMPORT_FEES_WAIT_SECONDS"] = str(fees_wait)
    timings = timings or Timings()
    kill = KillSettlementMidJob(settlement, payments, kill_at, fx)
    await post_large_835(vendor, payments, timings, setup=setup or
                         agreed_through_negotiation_events, read_models=setup is None,
                         as_job=True, max_gap=float("inf"), interruption=kill,
                         watch_address=fx.watch_address)
    assert settlement.kills == 1
    timings.figures["killed at payments"] = kill.killed_at
    blocks = settlement.loop_blocks()
    timings.figures["settlement event-loop block lines"] = len(blocks)
    print(*blocks, sep="\n")  # shown with -s (make test-large)
    started = time.perf_counter()
    await reconciled_and_serving(fx, vendor, timeout=drain_timeout)
    timings.figures["reconciled (zero gaps) after"] = time.perf_counter() - started
    # Progress last (everything else was checked whatever the gaps); a late update comes with
    # where settlement's event loop was held, if it was.
    assert timings.figures["835 job longest progress gap"] < max_gap, (
        timings.late, settlement.loop_blocks())


@contextlib.asynccontextmanager
async def watched_through_a_gateway_process(fx: Fixtures) -> AsyncIterator[Fixtures]:
    """`fx` with the job watched through a second gateway in a process of its own, from a
    thread of the test's own (tests/large: in the test interpreter the other services work
    through the import's backlog, and the in-process gateway and an async client wait for
    that event loop; a partner's gateway and client do not)."""
    upstreams = {name: runtime.port for name, runtime in fx.stack.services.items()}
    replica = GatewayReplica(fx.stack, fx.infra_urls, fx.namespace, fx.tmp_path, upstreams)
    await replica.start()
    try:
        yield dataclasses.replace(fx, replica=replica)
    finally:
        replica.stop()
