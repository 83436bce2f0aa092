"""ListImportJobs on real PostgreSQL: a tenant's jobs newest first, page by page with a keyset
token (created_at, job_id) that neither skips nor repeats a job when several share a moment,
the state filter, tenant (and kind) isolation, and bad page sizes and tokens refused by name."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from oonledger.claims.v1 import claims_pb2
from oonledger.common.v1 import import_job_pb2 as jobs_pb
from oonledger.settlement.v1 import settlement_pb2
from services.common.context import CommandContext
from services.common.errors import InvalidArgument
from services.common.import_jobs import ImportJobRunner, ImportJobs, ImportJobStore, JobRow
from services.common.import_jobs.jobs import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, page_token
from services.common.import_jobs.servicer import ImportJobMethods
from services.common.import_jobs.store import FAILED, PROCESSING, SUCCEEDED, UPLOADING, FindingRow
from services.common.phi import PhiKeys
from tests.support.plugin import InfraUrls

pytestmark = pytest.mark.asyncio(loop_scope="session")

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest_asyncio.fixture(loop_scope="session")
async def pool(infra_urls: InfraUrls) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(infra_urls.database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


def ctx(tenant: str) -> CommandContext:
    return CommandContext(tenant_id=tenant, actor="a@example.com", now=datetime.now(UTC),
                          roles=frozenset({"auditor"}), request_id=uuid.uuid4().hex)


def row(tenant: str, created_at: datetime, kind: str = "837", state: str = UPLOADING) -> JobRow:
    return JobRow(
        tenant_id=tenant, job_id=uuid.uuid4(), kind=kind, file_sha256="0" * 64,
        total_bytes=10, file_name="f.837", params=b"", actor="a@example.com",
        roles=("negotiator",), request_id=uuid.uuid4().hex, state=state, phase=state,
        next_sequence=0, bytes_received=0, interchange_sender="", interchange_control_number="",
        items_read=0, items_stored=0, items_rejected=0, items_processed=0, payments_posted=0,
        fees_billed=0, findings_total=0, error="", created_at=created_at, updated_at=created_at,
        finished_at=None,
    )


async def jobs_of(pool: asyncpg.Pool) -> tuple[ImportJobs, ImportJobStore]:
    store = ImportJobStore(pool, f"import_list_{uuid.uuid4().hex[:8]}", PhiKeys(os.urandom(32)))
    await store.migrate()
    runner = ImportJobRunner(store, {})
    return ImportJobs(store, runner, "837", ("negotiator",), "an 837"), store


async def every_page(jobs: ImportJobs, who: CommandContext, size: int,
                     state: str | None = None) -> list[list[JobRow]]:
    pages, token = [], ""
    while True:
        page, token = await jobs.list_page(who, size, token, state)
        pages.append(page)
        if not token:
            return pages
        assert len(pages) < 100, "the pages never end"


async def test_pages_are_newest_first_without_gaps_or_repeats_and_per_tenant(pool):
    jobs, store = await jobs_of(pool)
    a, b = f"tenant-a-{uuid.uuid4().hex[:6]}", f"tenant-b-{uuid.uuid4().hex[:6]}"
    # Seven jobs of tenant a, three of them started at the very same moment (the keyset's
    # job_id breaks the tie), two of tenant b, one 835 of tenant a in the same table.
    moments = [T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=1),
               T0 + timedelta(seconds=1), T0 + timedelta(seconds=2),
               T0 + timedelta(microseconds=1), T0 + timedelta(hours=1)]
    mine = [row(a, moment) for moment in moments]
    theirs = [row(b, T0 + timedelta(minutes=m)) for m in (1, 2)]
    for job in [*mine, *theirs, row(a, T0 + timedelta(days=1), kind="835")]:
        assert await store.insert(job)
    newest_first = sorted(mine, key=lambda j: (j.created_at, j.job_id), reverse=True)

    for size in (1, 2, 3, 7, 50):
        pages = await every_page(jobs, ctx(a), size)
        assert all(len(p) == size for p in pages[:-1]) and 0 < len(pages[-1]) <= size
        assert [j.job_id for p in pages for j in p] == [j.job_id for j in newest_first], size

    whole, token = await jobs.list_page(ctx(a))  # page_size 0: the default page, one page
    assert token == "" and [j.job_id for j in whole] == [j.job_id for j in newest_first]
    assert DEFAULT_PAGE_SIZE == 50 and MAX_PAGE_SIZE == 500

    listed_b = [j.job_id for p in await every_page(jobs, ctx(b), 1) for j in p]
    assert listed_b == [theirs[1].job_id, theirs[0].job_id]
    assert await jobs.list_page(ctx("tenant-without-jobs")) == ([], "")
    # Tenant b's token cannot reach tenant a's jobs: it is a position, the tenant is the caller's.
    first_b, token_b = await jobs.list_page(ctx(b), 1)
    rest_b, _ = await jobs.list_page(ctx(b), 10, token_b)
    assert [j.tenant_id for j in [*first_b, *rest_b]] == [b, b]


async def test_the_state_filter_and_a_job_that_changes_state_between_pages(pool):
    jobs, store = await jobs_of(pool)
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    made = [row(tenant, T0 + timedelta(seconds=s)) for s in range(6)]
    for job in made:
        assert await store.insert(job)
    for job in made[::2]:  # 0, 2, 4 fail
        await store.end(job.job_id, FAILED, "broken", T0 + timedelta(hours=1))

    failed = [j for p in await every_page(jobs, ctx(tenant), 2, FAILED) for j in p]
    assert [j.job_id for j in failed] == [made[4].job_id, made[2].job_id, made[0].job_id]
    assert {j.state for j in failed} == {FAILED}
    assert await jobs.list_page(ctx(tenant), 0, "", SUCCEEDED) == ([], "")

    # The keyset is the creation, which never changes: a job that ends between two pages
    # moves neither itself nor the others.
    first, token = await jobs.list_page(ctx(tenant), 3)
    await store.end(made[1].job_id, FAILED, "broken too", T0 + timedelta(hours=2))
    rest, last = await jobs.list_page(ctx(tenant), 3, token)
    assert last == "" and [j.job_id for j in [*first, *rest]] == [j.job_id for j in made[::-1]]


async def test_bad_page_sizes_and_tokens_are_refused_by_name(pool):
    jobs, store = await jobs_of(pool)
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    only = row(tenant, T0)
    assert await store.insert(only)
    for size in (-1, MAX_PAGE_SIZE + 1):
        with pytest.raises(InvalidArgument) as err:
            await jobs.list_page(ctx(tenant), size)
        assert [v.field for v in err.value.violations] == ["page_size"]
    assert len((await jobs.list_page(ctx(tenant), MAX_PAGE_SIZE))[0]) == 1

    good = page_token(only)  # the token of the only job (a fresh row's id may sort either side)
    forged = base64.urlsafe_b64encode(b"v1|yesterday|not-a-uuid").decode()
    naive = base64.urlsafe_b64encode(f"v1|2026-03-01T12:00:00|{uuid.uuid4()}".encode()).decode()
    for token in ("not a token!", "%%%", forged, naive, good[:-3], "djJ8"):
        with pytest.raises(InvalidArgument) as err:
            await jobs.list_page(ctx(tenant), 0, token)
        assert [v.field for v in err.value.violations] == ["page_token"], token
    assert await jobs.list_page(ctx(tenant), 0, good) == ([], "")  # older than the only job


class Servicer(ImportJobMethods):
    def __init__(self, imports: ImportJobs, messages: Any) -> None:
        self.imports = imports
        self.job_messages = messages


async def list_rpc(servicer: Servicer, request: Any, who: CommandContext) -> Any:
    """The servicer method itself, under its `rpc` wrapper (which builds `who` from the token
    and checks the role table: `oonledger.*/List*`, every role, like GetImportJob)."""
    return await ImportJobMethods.ListImportJobs.__wrapped__(  # type: ignore[attr-defined]
        servicer, request, who, SimpleNamespace())


@pytest.mark.parametrize("messages", [claims_pb2, settlement_pb2], ids=["claims", "settlement"])
async def test_the_servicer_answers_the_services_own_response_without_findings(pool, messages):
    jobs, store = await jobs_of(pool)
    servicer = Servicer(jobs, messages)
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    made = [row(tenant, T0 + timedelta(seconds=s)) for s in range(3)]
    for job in made:
        assert await store.insert(job)
    await store.end(made[0].job_id, FAILED, "no ISA", T0 + timedelta(hours=1),
                    FindingRow(-1, "ISA", "ISA13", "no ISA"))
    await store.pool.execute(f"UPDATE {store.jobs} SET state = $2 WHERE job_id = $1",
                             made[1].job_id, PROCESSING)

    reply = await list_rpc(servicer, messages.ListImportJobsRequest(page_size=2), ctx(tenant))
    assert isinstance(reply, messages.ListImportJobsResponse)
    assert [j.job_id for j in reply.jobs] == [str(made[2].job_id), str(made[1].job_id)]
    assert [j.state for j in reply.jobs] == [jobs_pb.IMPORT_JOB_STATE_UPLOADING,
                                             jobs_pb.IMPORT_JOB_STATE_PROCESSING]
    assert reply.next_page_token
    rest = await list_rpc(servicer, messages.ListImportJobsRequest(
        page_size=2, page_token=reply.next_page_token), ctx(tenant))
    assert [j.job_id for j in rest.jobs] == [str(made[0].job_id)] and not rest.next_page_token
    failed = rest.jobs[0]
    assert failed.findings_total == 1 and list(failed.findings) == []  # counted, not sent
    assert failed.error == "no ISA" and failed.created_at.ToDatetime(UTC) == T0

    only_failed = await list_rpc(servicer, messages.ListImportJobsRequest(
        state=jobs_pb.IMPORT_JOB_STATE_FAILED), ctx(tenant))
    assert [j.job_id for j in only_failed.jobs] == [str(made[0].job_id)]
    with pytest.raises(InvalidArgument) as err:
        await list_rpc(servicer, messages.ListImportJobsRequest(state=99), ctx(tenant))
    assert [v.field for v in err.value.violations] == ["state"]
    other = await list_rpc(servicer, messages.ListImportJobsRequest(), ctx(f"x-{tenant}"))
    assert list(other.jobs) == [] and other.next_page_token == ""
