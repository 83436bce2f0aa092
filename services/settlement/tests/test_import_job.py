"""The 835 as an import job at the service (docs/settlement.md "835 import jobs"): uploaded in
chunks, posted by the same use case as ImportRemittance, progress in payments read, posted and
queued as exceptions, then the fees billed on the posted payments as settlement learns them;
the same file answers its first job; a file that does not balance fails with its reasons."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from oonledger.common.v1 import import_job_pb2 as jobs_pb
from oonledger.settlement.v1 import settlement_pb2 as pb

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
