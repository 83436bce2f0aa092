"""kill -9 of the importing service in the middle of an import job (docs/claims.md "Import
jobs", docs/settlement.md "835 import jobs"): the service runs as a real process
(`python -m services.<svc>.main`) on the port the gateway forwards to, is SIGKILLed once the
job has committed part of the file, and started again; the job resumes and ends with every
claim (837) or payment (835) stored exactly once, none missing, and for the 835 exactly one
fee per payment and every settlement event in the ledger."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest

from oonledger.common.v1 import import_job_pb2 as jobs_pb
from services.claims.main import build as build_claims
from services.settlement.main import build as build_settlement
from tests.e2e.claim_files import many_claims_837
from tests.e2e.conftest import Stack
from tests.e2e.import_jobs import (
    control_number,
    every_claim_listed,
    get_job,
    get_job_835,
    upload,
    watch,
)
from tests.e2e.journey import Vendor
from tests.e2e.large_remittance import Timings, post_large_835
from tests.e2e.service_process import ProcessService
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

CLAIMS_837 = 2_000
PAYMENTS_835 = 1_000
SUCCEEDED = jobs_pb.IMPORT_JOB_STATE_SUCCEEDED


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


async def mid_job(read: Any, total: int) -> jobs_pb.ImportJob:
    """The job once it has committed part of the file (not all of it)."""
    async def started() -> jobs_pb.ImportJob | None:
        try:
            job = await read()
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                return None
            raise
        return job if job.progress.items_processed > 0 else None

    job = await eventually(started, timeout=300, interval=0.05)
    assert job.progress.items_processed < total and job.state != SUCCEEDED, (
        "the job ended before it could be killed")
    return job


async def test_kill_9_of_claims_mid_837_job_resumes_and_stores_each_claim_once(
        stack: Stack, channel, service_runner, infra_urls, namespace, tmp_path):
    stack.require("claims")
    vendor = await Vendor.enrol(stack, channel)
    client_id = f"client-{uuid.uuid4().hex[:6]}"
    before = await last_notification(stack.services["claims"])
    claims = ProcessService(stack, service_runner, "claims", build_claims, infra_urls,
                            namespace, tmp_path)
    await claims.out_of_process()
    try:
        await reachable(lambda: get_job(vendor, str(uuid.uuid4())))  # NOT_FOUND: it answers
        job = await upload(vendor, many_claims_837(CLAIMS_837, "KJ", control_number()),
                           client_id)
        await mid_job(lambda: get_job(vendor, job.job_id), CLAIMS_837)
        claims.kill()
        await claims.start()
        await answering(lambda: get_job(vendor, job.job_id))
        final = (await watch(vendor, job.job_id))[-1][1]
    finally:
        runtime = await claims.back_in_process()
        # The in-process service is back (later tests call it through the gateway).
        await reachable(lambda: get_job(vendor, str(uuid.uuid4())))
    assert final.state == SUCCEEDED, (final.error, claims.log())
    assert (final.progress.items_read, final.progress.items_stored,
            final.progress.items_rejected, final.progress.items_processed) == (
        CLAIMS_837, CLAIMS_837, 0, CLAIMS_837)
    assert await every_claim_listed(vendor, client_id, CLAIMS_837) == CLAIMS_837
    assert await created_since(runtime, before) == CLAIMS_837  # none twice, none missing


class KillSettlementMidJob:
    def __init__(self, settlement: ProcessService) -> None:
        self.settlement = settlement
        self.vendor: Vendor | None = None

    async def before(self, vendor: Vendor) -> None:
        self.vendor = vendor
        await self.settlement.out_of_process()
        await reachable(lambda: get_job_835(vendor, str(uuid.uuid4())))

    async def during(self, vendor: Vendor, job_id: str) -> None:
        await mid_job(lambda: get_job_835(vendor, job_id), PAYMENTS_835)
        self.settlement.kill()
        await self.settlement.start()
        await answering(lambda: get_job_835(vendor, job_id))

    async def after(self) -> None:
        await self.settlement.back_in_process()
        vendor = self.vendor
        if vendor is not None:  # the in-process service is back
            await reachable(lambda: get_job_835(vendor, str(uuid.uuid4())))


async def test_kill_9_of_settlement_mid_835_job_posts_and_bills_each_payment_once(
        stack: Stack, channel, service_runner, infra_urls, namespace, tmp_path):
    stack.require("claims", "negotiation", "settlement", "fees", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    settlement = ProcessService(stack, service_runner, "settlement", build_settlement,
                                infra_urls, namespace, tmp_path)
    timings = Timings()
    # Every payment once (each claim's fee account shows one payment and one fee), every
    # settlement event in the ledger: post_large_835's checks after the job.
    await post_large_835(vendor, PAYMENTS_835, timings, as_job=True, max_gap=5.0,
                         interruption=KillSettlementMidJob(settlement))
    assert settlement.kills == 1
    print({name: round(value, 2) for name, value in timings.figures.items()})
