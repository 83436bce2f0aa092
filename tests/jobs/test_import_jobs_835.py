"""An 835 as an import job through the gateway (docs/settlement.md "835 import jobs"): chunks
in, progress out at least once a second (payments read, posted, exceptions, fees billed), every
payment posted once with exactly one fee and in the ledger, the same file recognised, bad calls
refused, a file that does not balance quarantined with its reasons as findings, the tenant's
jobs listed (ListImportJobs)."""

from __future__ import annotations

import io
import json
import uuid

import grpc
import pytest

from oonledger.common.v1 import import_job_pb2 as jobs_pb
from oonledger.settlement.v1 import settlement_pb2 as pb
from services.ops import import_file
from tests.e2e.claim_files import sha256_of
from tests.e2e.conftest import Stack
from tests.e2e.import_jobs import (
    finish_835,
    get_job_835,
    send_chunks_835,
    start_835,
    upload_835,
    watch_835,
)
from tests.e2e.journey import Vendor
from tests.e2e.large_remittance import Timings, post_large_835, remittance
from tests.e2e.seeded_settlements import opened_in_settlement
from tests.support.plugin import eventually, field_violations

pytestmark = pytest.mark.asyncio(loop_scope="session")

CLAIMS = 450  # three chunks of the posting (CLAIMS_PER_CHUNK = 200)
SUCCEEDED = jobs_pb.IMPORT_JOB_STATE_SUCCEEDED
FAILED = jobs_pb.IMPORT_JOB_STATE_FAILED


async def test_an_835_job_posts_every_payment_once_with_one_fee_each(stack: Stack, channel):
    stack.require("claims", "negotiation", "settlement", "fees", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    timings = Timings()
    await post_large_835(vendor, CLAIMS, timings, setup=opened_in_settlement, read_models=False,
                         as_job=True)
    print({name: round(value, 2) for name, value in timings.figures.items()})


async def test_the_same_835_is_recognised_and_bad_calls_are_refused(stack: Stack, channel):
    stack.require("settlement")
    vendor = await Vendor.enrol(stack, channel)
    stranger = await Vendor.enrol(stack, channel)
    content = remittance([f"PCN-{uuid.uuid4().hex[:8]}" for _ in range(3)], control=4242)

    with pytest.raises(grpc.aio.AioRpcError) as err:  # writes: finance or admin only
        await start_835(vendor, content, role="negotiator")
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:  # settlement reads 835s only
        await start_835(vendor, content, kind="837")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    job = await upload_835(vendor, content)
    final = (await watch_835(vendor, job.job_id))[-1][1]
    assert final.state == SUCCEEDED and final.kind == "835", final.error
    # None of the three payments names a claim of the tenant: each is in the exceptions queue.
    p = final.progress
    assert (p.items_read, p.items_processed, p.items_stored, p.items_rejected,
            p.payments_posted) == (3, 3, 0, 3, 0)

    async def queued() -> bool:
        reply = await vendor.settlement.ListExceptions(pb.ListExceptionsRequest(),
                                                       metadata=vendor.md("finance"))
        return len(reply.exceptions) == 3

    await eventually(queued, timeout=60, interval=0.2)

    # The same file again: its first job.
    again = await start_835(vendor, content)
    assert (again.created, again.job.job_id, again.job.state) == (False, job.job_id, SUCCEEDED)
    # The same interchange (sender, ISA13) in other bytes: answered with the first job.
    other = remittance([f"PCN-{uuid.uuid4().hex[:8]}"], control=4242)
    second = await start_835(vendor, other)
    await send_chunks_835(vendor, second.job.job_id, other)
    assert (await finish_835(vendor, second.job.job_id)).job_id == job.job_id
    duplicate = await get_job_835(vendor, second.job.job_id)
    assert duplicate.state == FAILED and duplicate.findings[0].field == "ISA13"

    with pytest.raises(grpc.aio.AioRpcError) as err:  # another tenant's job
        await get_job_835(stranger, job.job_id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    # Over HTTP, the same route shape as every RPC.
    reply = await vendor.json("auditor", "/v1/settlement/GetImportJob", {"job_id": job.job_id})
    assert reply.status == 200, reply.body
    assert json.loads(reply.body)["job"]["progress"]["itemsRejected"] == "3"


async def test_an_835_that_does_not_balance_fails_with_its_reasons(stack: Stack, channel):
    stack.require("settlement")
    vendor = await Vendor.enrol(stack, channel)
    content = remittance([f"PCN-{uuid.uuid4().hex[:8]}"], total_paid_override=1)
    final = (await watch_835(vendor, (await upload_835(vendor, content)).job_id))[-1][1]
    assert final.state == FAILED and "quarantined" in final.error
    assert final.findings and all(f.position == -1 for f in final.findings)
    assert "Traceback" not in final.error

    async def listed() -> list[str] | None:
        reply = await vendor.settlement.ListQuarantinedFiles(
            pb.ListQuarantinedFilesRequest(), metadata=vendor.md("finance"))
        return [f.content_sha256 for f in reply.files] or None

    assert await eventually(listed, timeout=60, interval=0.2) == [sha256_of(content)]

    junk = b"not an interchange at all"
    failed = (await watch_835(vendor, (await upload_835(vendor, junk)).job_id))[-1][1]
    assert failed.state == FAILED and "X12" in failed.error
    assert [(f.position, f.message) for f in failed.findings] == [(-1, failed.error)]


async def test_the_import_command_reads_the_kind_and_follows_an_835(stack: Stack, channel,
                                                                     tmp_path):
    stack.require("settlement")
    vendor = await Vendor.enrol(stack, channel)
    content = remittance([f"PCN-{uuid.uuid4().hex[:8]}" for _ in range(2)])
    assert import_file.file_kind(b"\xef\xbb\xbf" + content) == "835"
    path = tmp_path / "payer.835"
    path.write_bytes(content)
    environ = {"OON_API_KEY": vendor.keys["finance"], "GATEWAY_ADDR": stack.grpc_address}
    out = io.StringIO()
    # Neither payment names a claim of the tenant: both go to the exceptions queue (exit 1).
    assert await import_file.run([str(path)], environ, out) == 1, out.getvalue()
    text = out.getvalue()
    assert "[" + "#" * 30 + "] 100%" in text
    assert "IMPORT_JOB_STATE_SUCCEEDED: read 2, posted 0, exceptions 2, fees billed 0" in text


async def test_list_import_jobs_pages_the_tenants_835_jobs_newest_first(stack: Stack, channel):
    """ListImportJobs through the gateway: the tenant's jobs newest first a page at a time,
    the state filter, nothing of another tenant, a bad page token refused by name."""
    stack.require("settlement")
    vendor = await Vendor.enrol(stack, channel)
    stranger = await Vendor.enrol(stack, channel)
    junk = await upload_835(vendor, f"not an interchange {uuid.uuid4()}".encode())
    failed = (await watch_835(vendor, junk.job_id))[-1][1]
    assert failed.state == FAILED and failed.findings_total == 1
    waiting = [(await start_835(vendor, f"ISA*{n}*{uuid.uuid4()}~".encode())).job
               for n in range(2)]
    theirs = (await start_835(stranger, f"ISA*{uuid.uuid4()}~".encode())).job

    async def every_page(who: Vendor, **query: object) -> list[jobs_pb.ImportJob]:
        jobs, token = [], ""
        while True:
            reply = await who.settlement.ListImportJobs(pb.ListImportJobsRequest(
                page_size=1, page_token=token, **query), metadata=who.md("auditor"))
            assert len(reply.jobs) <= 1
            jobs += reply.jobs
            token = reply.next_page_token
            if not token:
                return jobs

    mine = await every_page(vendor)
    assert [j.job_id for j in mine] == [waiting[1].job_id, waiting[0].job_id, failed.job_id]
    assert [j.kind for j in mine] == ["835"] * 3
    assert mine[2].findings_total == 1 and not mine[2].findings  # counted, not sent
    assert [j.job_id for j in await every_page(vendor, state=FAILED)] == [failed.job_id]
    assert [j.job_id for j in await every_page(stranger)] == [theirs.job_id]

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await vendor.settlement.ListImportJobs(pb.ListImportJobsRequest(
            page_token="made-up"), metadata=vendor.md("finance"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err.value) == {"page_token"}
