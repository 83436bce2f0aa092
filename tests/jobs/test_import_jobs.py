"""An 837 as an import job through the gateway (docs/claims.md "Import jobs"): chunks in,
progress out at least once a second, every claim stored once, the same file recognised, a job
interrupted mid-processing resumed after the claims service restarts, and bad calls refused."""

from __future__ import annotations

import asyncio
import io
import itertools
import uuid
from typing import Any

import grpc
import pytest

from oonledger.claims.v1 import claims_pb2 as pb
from oonledger.common.v1 import import_job_pb2 as jobs_pb
from services.claims.main import build as build_claims
from services.common.runtime import ServiceRuntime
from services.ops import import_file
from services.x12.tests.samples import DATA
from tests.e2e.claim_files import many_claims_837, sha256_of
from tests.e2e.conftest import Stack
from tests.e2e.import_jobs import (
    CHUNK,
    control_number,
    every_claim_listed,
    finish,
    get_job,
    send_chunks,
    start,
    upload,
    watch,
)
from tests.e2e.journey import Vendor, rid
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

CLAIMS = 2_000
# The claims service's background tasks, in the order services/claims/main.py lists them.
IMPORT_RUNNER_TASK = 1
PROCESSING = jobs_pb.IMPORT_JOB_STATE_PROCESSING
SUCCEEDED = jobs_pb.IMPORT_JOB_STATE_SUCCEEDED


async def test_an_837_job_shows_progress_and_stores_every_claim_once(stack: Stack, channel):
    stack.require("claims")
    vendor = await Vendor.enrol(stack, channel)
    client_id = f"client-{uuid.uuid4().hex[:6]}"
    content = many_claims_837(CLAIMS, "IJ", control_number())
    job = await upload(vendor, content, client_id)
    assert job.state in (PROCESSING, SUCCEEDED) and job.kind == "837"
    assert job.progress.bytes_received == len(content) and job.interchange_control_number

    updates = await watch(vendor, job.job_id)
    final = updates[-1][1]
    assert final.state == SUCCEEDED, final.error
    assert (final.progress.items_read, final.progress.items_stored,
            final.progress.items_rejected, final.progress.items_processed) == (
        CLAIMS, CLAIMS, 0, CLAIMS)
    assert final.findings_total == 0 and final.finished_at.seconds > 0
    running = [u for _, u in updates if u.state == PROCESSING]
    assert running, "the job was never seen running"
    processed = [u.progress.items_processed for _, u in updates]
    assert processed == sorted(processed)
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(updates)]
    assert max(gaps, default=0) < 2.5, gaps  # at least once a second (slack for a busy box)

    # The same file again: the first job, nothing new.
    again = await start(vendor, content, client_id)
    assert (again.created, again.job.job_id, again.job.state) == (False, job.job_id, SUCCEEDED)
    assert await every_claim_listed(vendor, client_id, CLAIMS) == CLAIMS

    # The same interchange (sender, ISA13) in other bytes: answered with the first job.
    isa13 = int(final.interchange_control_number)
    resent = many_claims_837(3, "IJ", isa13)
    other = await start(vendor, resent, client_id)
    assert other.created and other.job.job_id != job.job_id
    await send_chunks(vendor, other.job.job_id, resent)
    assert (await finish(vendor, other.job.job_id)).job_id == job.job_id
    duplicate = await get_job(vendor, other.job.job_id)
    assert duplicate.state == jobs_pb.IMPORT_JOB_STATE_FAILED
    assert job.job_id in duplicate.error and duplicate.findings[0].field == "ISA13"


async def pause_import_runner(runtime: ServiceRuntime) -> None:
    """Cancel the claims service's import worker, as a crash would stop it mid-batch."""
    name = f"{runtime.settings.service}:background-{IMPORT_RUNNER_TASK}"
    (task,) = [t for t in runtime._tasks if t.get_name() == name]
    task.cancel()
    await asyncio.wait([task])
    runtime._tasks.remove(task)


async def test_a_job_interrupted_by_a_restart_resumes_and_stores_nothing_twice(
    stack: Stack, channel, service_runner: Any
):
    stack.require("claims")
    vendor = await Vendor.enrol(stack, channel)
    client_id = f"client-{uuid.uuid4().hex[:6]}"
    content = many_claims_837(CLAIMS, "IR", control_number())
    job = await upload(vendor, content, client_id)

    async def mid_processing() -> jobs_pb.ImportJob | None:
        current = await get_job(vendor, job.job_id)
        return current if current.progress.items_processed > 0 else None

    seen = await eventually(mid_processing, timeout=120, interval=0.05)
    claims = stack.services["claims"]
    await pause_import_runner(claims)
    before = await get_job(vendor, job.job_id)
    assert before.state == PROCESSING, "the job ended before it could be interrupted"
    assert 0 < seen.progress.items_processed <= before.progress.items_processed < CLAIMS

    port = claims.port
    await service_runner.stop(claims)
    stack.services["claims"] = await service_runner.start(
        "claims", build_claims, db_pool_size=2, grpc_port=port)

    async def answering() -> jobs_pb.ImportJob | None:
        try:
            return await get_job(vendor, job.job_id)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                return None
            raise

    resumed = await eventually(answering, timeout=60, interval=0.2)
    assert resumed.progress.items_processed >= before.progress.items_processed
    final = (await watch(vendor, job.job_id))[-1][1]
    assert final.state == SUCCEEDED, final.error
    assert (final.progress.items_stored, final.progress.items_rejected,
            final.progress.items_processed) == (CLAIMS, 0, CLAIMS)
    assert await every_claim_listed(vendor, client_id, CLAIMS) == CLAIMS


async def test_bad_import_calls_are_refused(stack: Stack, channel):
    stack.require("claims")
    vendor = await Vendor.enrol(stack, channel)
    stranger = await Vendor.enrol(stack, channel)
    content = many_claims_837(3, "IB", control_number())

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await get_job(vendor, str(uuid.uuid4()))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    with pytest.raises(grpc.aio.AioRpcError) as err:  # writes: negotiator or admin only
        await start(vendor, content, "client-b", role="finance")
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED

    started = await start(vendor, content, "client-b")
    job_id = started.job.job_id
    with pytest.raises(grpc.aio.AioRpcError) as err:  # chunk 1 before chunk 0
        await vendor.claims.AppendImportChunk(pb.AppendImportChunkRequest(
            request_id=rid(), job_id=job_id, sequence=1, data=content[:10]),
            metadata=vendor.md("negotiator"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "out of order" in (err.value.details() or "")

    with pytest.raises(grpc.aio.AioRpcError) as err:  # another tenant's job
        await get_job(stranger, job_id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await send_chunks(stranger, job_id, content)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    with pytest.raises(grpc.aio.AioRpcError) as err:  # not every byte yet
        await finish(vendor, job_id)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    # A file whose bytes do not hash to the stated SHA-256: refused, the upload discarded.
    other = many_claims_837(3, "IX", control_number())
    assert len(other) == len(content)
    mismatched = await start(vendor, other, "client-b", sha=sha256_of(other[::-1]))
    await send_chunks(vendor, mismatched.job.job_id, other)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await finish(vendor, mismatched.job.job_id)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "hash" in (err.value.details() or "")
    discarded = await get_job(vendor, mismatched.job.job_id)
    assert (discarded.state, discarded.next_sequence, discarded.progress.bytes_received) == (
        jobs_pb.IMPORT_JOB_STATE_UPLOADING, 0, 0)

    # A file that is no 837 at all: the job fails, and says why as a finding on the file.
    junk = b"hello, this is not an interchange"
    failed = (await watch(vendor, (await upload(vendor, junk, "client-b")).job_id))[-1][1]
    assert failed.state == jobs_pb.IMPORT_JOB_STATE_FAILED and failed.error
    assert [(f.position, f.message) for f in failed.findings] == [(-1, failed.error)]
    assert "Traceback" not in failed.error

    # A chunk sent twice (a retry) is accepted once; the job then completes.
    await send_chunks(vendor, job_id, content)
    await send_chunks(vendor, job_id, content[:CHUNK])
    done = (await watch(vendor, (await finish(vendor, job_id)).job_id))[-1][1]
    assert done.state == SUCCEEDED and done.progress.items_stored == 3


async def test_the_import_command_uploads_and_shows_progress(stack: Stack, channel, tmp_path):
    stack.require("claims")
    vendor = await Vendor.enrol(stack, channel)
    path = tmp_path / "batch.837"
    path.write_bytes(many_claims_837(20, "IC", control_number()))
    environ = {"OON_API_KEY": vendor.keys["negotiator"], "GATEWAY_ADDR": stack.grpc_address}
    argv = [str(path), "--client-id", "client-cli", "--plan-funding", "SELF_FUNDED_ERISA",
            "--situs-state", "PA", "--network-status", "IN_NETWORK", "--facility-state", "PA"]
    out = io.StringIO()
    assert await import_file.run(argv, environ, out) == 0, out.getvalue()
    text = out.getvalue()
    assert "[" + "#" * 30 + "] 100%" in text
    assert "IMPORT_JOB_STATE_SUCCEEDED: read 20, stored 20, rejected 0" in text
    again = io.StringIO()  # the same file: its first job, nothing uploaded again
    assert await import_file.run(argv, environ, again) == 0
    assert "was started before" in again.getvalue()


async def test_a_job_stores_the_good_claims_and_lists_the_rejected_ones(stack: Stack, channel):
    stack.require("claims")
    vendor = await Vendor.enrol(stack, channel)
    content = (DATA / "ed_group_batch.837").read_bytes()  # its third claim has an ICD-9 code
    job = await upload(vendor, content, "client-ed")
    final = (await watch(vendor, job.job_id))[-1][1]
    assert final.state == SUCCEEDED
    assert (final.progress.items_read, final.progress.items_stored,
            final.progress.items_rejected) == (3, 2, 1)
    assert final.findings_total == 1
    (finding,) = final.findings
    assert (finding.position, finding.location, finding.field) == (
        2, "ST 0001 / CLM 3 / PCN ED-2026-1003", "claim.diagnosis_codes[0]")
    paged = await vendor.claims.GetImportJob(pb.GetImportJobRequest(
        job_id=job.job_id, findings_offset=1), metadata=vendor.md("auditor"))
    assert not paged.job.findings and paged.job.findings_total == 1
