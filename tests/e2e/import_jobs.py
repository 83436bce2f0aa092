"""Helpers of the import-job tests (tests/jobs/test_import_jobs*.py, tests/large): a partner's
calls through the gateway to upload an 837 (claims) or an 835 (settlement), follow its job and
count what was stored."""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

import grpc

from oonledger.claims.v1 import claims_pb2 as pb
from oonledger.common.v1 import import_job_pb2 as jobs_pb
from oonledger.settlement.v1 import settlement_pb2 as settlement_pb
from tests.e2e.claim_files import sha256_of
from tests.e2e.job_watcher import ENDED, Stretches, watch_in_a_process
from tests.e2e.journey import Vendor, rid
from tests.support.plugin import eventually

CHUNK = 128 * 1024


def control_number() -> int:
    return random.randrange(1, 999_999_999)


async def start(vendor: Vendor, content: bytes, client_id: str, sha: str = "",
                role: str = "negotiator") -> pb.StartImportResponse:
    return await vendor.claims.StartImport(pb.StartImportRequest(
        request_id=rid(), file_sha256=sha or sha256_of(content), total_bytes=len(content),
        file_name="batch.837", client_id=client_id,
        plan=pb.Plan(funding=pb.PLAN_FUNDING_SELF_FUNDED_ERISA, situs_state="PA"),
        facility=pb.Facility(network_status=pb.NETWORK_STATUS_IN_NETWORK, state="PA"),
    ), metadata=vendor.md(role))


async def send_chunks(vendor: Vendor, job_id: str, content: bytes) -> None:
    for sequence, offset in enumerate(range(0, len(content), CHUNK)):
        await vendor.claims.AppendImportChunk(pb.AppendImportChunkRequest(
            request_id=rid(), job_id=job_id, sequence=sequence,
            data=content[offset : offset + CHUNK]), metadata=vendor.md("negotiator"))


async def finish(vendor: Vendor, job_id: str) -> jobs_pb.ImportJob:
    finished = await vendor.claims.FinishImportUpload(pb.FinishImportUploadRequest(
        request_id=rid(), job_id=job_id), metadata=vendor.md("negotiator"))
    return finished.job


async def upload(vendor: Vendor, content: bytes, client_id: str) -> jobs_pb.ImportJob:
    started = await start(vendor, content, client_id)
    assert started.created and started.job.state == jobs_pb.IMPORT_JOB_STATE_UPLOADING
    await send_chunks(vendor, started.job.job_id, content)
    return await finish(vendor, started.job.job_id)


async def get_job(vendor: Vendor, job_id: str, role: str = "auditor") -> jobs_pb.ImportJob:
    reply = await vendor.claims.GetImportJob(pb.GetImportJobRequest(job_id=job_id),
                                             metadata=vendor.md(role))
    return reply.job


async def follow(open_stream: Any) -> list[tuple[float, jobs_pb.ImportJob]]:
    """Every update of a WatchImportJob stream, with when it arrived, until the job ends;
    watching again when the gateway's deadline cuts a long stream (as the command line does)."""
    updates: list[tuple[float, jobs_pb.ImportJob]] = []
    while not updates or updates[-1][1].state not in ENDED:
        try:
            async for reply in open_stream():
                updates.append((time.monotonic(), reply.job))
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
    return updates


async def watch_job(vendor: Vendor, job_id: str, kind: str = "837", address: str = ""
                    ) -> Stretches:
    """`follow_blocking` in a watcher process of its own, through `address` (a gateway; by
    default the stack's)."""
    return await watch_in_a_process(address or vendor.stack.grpc_address, kind, job_id,
                                    vendor.md("auditor"))


async def watch(vendor: Vendor, job_id: str) -> list[tuple[float, jobs_pb.ImportJob]]:
    return await follow(lambda: vendor.claims.WatchImportJob(
        pb.WatchImportJobRequest(job_id=job_id), metadata=vendor.md("auditor")))


async def claim_ids(vendor: Vendor, client_id: str) -> set[str]:
    ids: set[str] = set()
    token = ""
    while True:
        page = await vendor.claims.ListClaims(pb.ListClaimsRequest(
            client_id=client_id, page_size=1000, page_token=token), metadata=vendor.md("auditor"))
        ids.update(c.claim_id for c in page.claims)
        token = page.next_page_token
        if not token:
            return ids


async def every_claim_listed(
    vendor: Vendor, client_id: str, expected: int, timeout: float = 120
) -> int:
    async def listed() -> int | None:
        count = len(await claim_ids(vendor, client_id))
        return count if count >= expected else None

    await eventually(listed, timeout=timeout, interval=1.0)
    return len(await claim_ids(vendor, client_id))




# -- the 835 job (settlement) -------------------------------------------------------------------
async def start_835(vendor: Vendor, content: bytes, sha: str = "", role: str = "finance",
                    kind: str = "835") -> settlement_pb.StartImportResponse:
    return await vendor.settlement.StartImport(settlement_pb.StartImportRequest(
        request_id=rid(), file_sha256=sha or sha256_of(content), total_bytes=len(content),
        file_name="payer.835", kind=kind), metadata=vendor.md(role))


async def send_chunks_835(vendor: Vendor, job_id: str, content: bytes) -> None:
    for sequence, offset in enumerate(range(0, len(content), CHUNK)):
        await vendor.settlement.AppendImportChunk(settlement_pb.AppendImportChunkRequest(
            request_id=rid(), job_id=job_id, sequence=sequence,
            data=content[offset : offset + CHUNK]), metadata=vendor.md("finance"))


async def finish_835(vendor: Vendor, job_id: str) -> jobs_pb.ImportJob:
    finished = await vendor.settlement.FinishImportUpload(
        settlement_pb.FinishImportUploadRequest(request_id=rid(), job_id=job_id),
        metadata=vendor.md("finance"))
    return finished.job


async def upload_835(vendor: Vendor, content: bytes) -> jobs_pb.ImportJob:
    started = await start_835(vendor, content)
    assert started.created and started.job.state == jobs_pb.IMPORT_JOB_STATE_UPLOADING
    await send_chunks_835(vendor, started.job.job_id, content)
    return await finish_835(vendor, started.job.job_id)


async def get_job_835(vendor: Vendor, job_id: str, role: str = "auditor") -> jobs_pb.ImportJob:
    reply = await vendor.settlement.GetImportJob(
        settlement_pb.GetImportJobRequest(job_id=job_id), metadata=vendor.md(role))
    return reply.job


async def watch_835(vendor: Vendor, job_id: str) -> list[tuple[float, jobs_pb.ImportJob]]:
    return await follow(lambda: vendor.settlement.WatchImportJob(
        settlement_pb.WatchImportJobRequest(job_id=job_id), metadata=vendor.md("auditor")))


def late_updates(updates: list[tuple[float, jobs_pb.ImportJob]], over: float = 1.5
                 ) -> tuple[float, list[tuple[float, str, int]]]:
    """The longest gap between two updates, and every gap over `over` seconds."""
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(updates)]
    late = [(round(gap, 1), update.phase, update.progress.items_processed)
            for gap, (_, update) in zip(gaps, updates[1:], strict=True) if gap > over]
    return max(gaps, default=0.0), late


def late_in_stretches(stretches: Stretches,
                      over: float = 1.5) -> tuple[float, list[tuple[float, str, int]]]:
    """`late_updates` over each stretch of `follow_blocking` (not across a kill)."""
    measured = [late_updates(stretch, over) for stretch in stretches]
    return (max((longest for longest, _ in measured), default=0.0),
            [gap for _, late in measured for gap in late])
