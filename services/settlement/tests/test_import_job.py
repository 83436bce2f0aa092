"""The 835 as an import job at the service (docs/settlement.md "835 import jobs"): uploaded in
chunks, posted by the same use case as ImportRemittance, progress in payments read, posted and
queued as exceptions, then the fees billed on the posted payments as settlement learns them;
the same file answers its first job; a file that does not balance fails with its reasons."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import pytest

from oonledger.common.v1 import import_job_pb2 as jobs_pb
from oonledger.settlement.v1 import settlement_pb2 as pb
from services.settlement.adapters.import_jobs import DEFAULT_FEES_WAIT_SECONDS

from .polling import wait_for
from .scenario import scenario_835, unbalanced_835

pytestmark = pytest.mark.asyncio(loop_scope="session")

CHUNK = 1_000


async def upload(seeded: Any, content: bytes) -> jobs_pb.ImportJob:
    md = seeded.md(roles=("finance",))
    started = await seeded.stub.StartImport(pb.StartImportRequest(
        file_sha256=hashlib.sha256(content).hexdigest(), total_bytes=len(content),
        file_name="era.835", kind="835"), metadata=md)
    assert started.created
    for sequence, offset in enumerate(range(0, len(content), CHUNK)):
        await seeded.stub.AppendImportChunk(pb.AppendImportChunkRequest(
            job_id=started.job.job_id, sequence=sequence,
            data=content[offset : offset + CHUNK]), metadata=md)
    finished = await seeded.stub.FinishImportUpload(
        pb.FinishImportUploadRequest(job_id=started.job.job_id), metadata=md)
    return finished.job


async def job_of(seeded: Any, job_id: str) -> jobs_pb.ImportJob:
    reply = await seeded.stub.GetImportJob(pb.GetImportJobRequest(job_id=job_id),
                                           metadata=seeded.md(roles=("auditor",)))
    return reply.job


async def test_an_835_job_posts_queues_and_counts_the_fees_billed(seed: Any) -> None:
    seeded = await seed()
    content = scenario_835(seeded.tag).encode()
    job = await upload(seeded, content)
    assert job.kind == "835" and job.state == jobs_pb.IMPORT_JOB_STATE_PROCESSING

    async def billing() -> jobs_pb.ImportJob | None:
        current = await job_of(seeded, job.job_id)
        return current if current.phase == "billing" else None

    posted = await wait_for(billing)
    p = posted.progress
    # Six claim payments: A, B's reversal and correction, C matched; D and the unknown one queued.
    assert (p.items_read, p.items_processed, p.items_stored, p.items_rejected,
            p.payments_posted, p.fees_billed) == (6, 6, 4, 2, 4, 0)
    for key in "ABC":  # the fees service bills each paid claim (its FeeAssessed)
        await seeded.upstream.fee_assessed(seeded.claim_id(key), f"fee-{key}-{seeded.tag}",
                                           "contingency", 1_000)

    async def ended() -> jobs_pb.ImportJob | None:
        current = await job_of(seeded, job.job_id)
        return current if current.state == jobs_pb.IMPORT_JOB_STATE_SUCCEEDED else None

    final = await wait_for(ended)
    assert final.progress.fees_billed == 3 and final.phase == "done"
    assert not [f for f in final.findings if "fees billed on" in f.message]
    # The same bytes through ImportRemittance: already imported, nothing posted twice.
    again = await seeded.stub.ImportRemittance(pb.ImportRemittanceRequest(
        content=content, file_name="era.835"), metadata=seeded.md(roles=("finance",)))
    assert again.status == pb.IMPORT_STATUS_ALREADY_IMPORTED


async def test_an_835_job_of_a_file_that_does_not_balance_fails_with_the_reasons(
        seed: Any) -> None:
    seeded = await seed()
    job = await upload(seeded, unbalanced_835(seeded.tag).encode())

    async def ended() -> jobs_pb.ImportJob | None:
        current = await job_of(seeded, job.job_id)
        return current if current.state == jobs_pb.IMPORT_JOB_STATE_FAILED else None

    failed = await wait_for(ended)
    assert failed.error.startswith("the file was quarantined whole")
    assert failed.findings and all(f.position == -1 for f in failed.findings)
    assert failed.progress.payments_posted == 0


async def test_fees_still_unbilled_when_the_wait_ends_are_a_finding_and_a_warning(
        seed: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The fees service bills A, then bills nothing more (stopped, its consumer stuck): once no
    new fee came for the wait (OON_IMPORT_FEES_WAIT_SECONDS, 20 s here), the job ends saying
    so on its findings and in the log, never a quiet "done" with 1 of 3 billed."""
    seeded = await seed()
    caplog.set_level(logging.WARNING, logger="services.settlement.adapters.import_jobs")
    job = await upload(seeded, scenario_835(seeded.tag).encode())

    async def billing() -> jobs_pb.ImportJob | None:
        current = await job_of(seeded, job.job_id)
        return current if current.phase == "billing" else None

    await wait_for(billing)
    await seeded.upstream.fee_assessed(seeded.claim_id("A"), f"fee-A-{seeded.tag}",
                                       "contingency", 1_000)

    async def ended() -> jobs_pb.ImportJob | None:
        current = await job_of(seeded, job.job_id)
        return current if current.state == jobs_pb.IMPORT_JOB_STATE_SUCCEEDED else None

    final = await wait_for(ended, within=DEFAULT_FEES_WAIT_SECONDS + 30)
    assert (final.phase, final.progress.payments_posted, final.progress.fees_billed) == (
        "done", 4, 1)
    (unbilled,) = [f for f in final.findings if "fees billed on" in f.message]
    assert unbilled.position == -1
    assert unbilled.message.startswith("fees billed on 1 of 3 paid payments when the job ended")
    assert "pipeline reconciliation" in unbilled.message
    warned = [r for r in caplog.records if r.levelno == logging.WARNING
              and job.job_id in r.getMessage() and "fees billed on 1 of 3" in r.getMessage()]
    assert warned, [r.getMessage() for r in caplog.records]
