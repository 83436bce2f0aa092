"""The shared import-job machinery on real PostgreSQL, with a toy processor: chunks in order,
batches committed with a cursor, a run that dies mid-job resumed after the last committed batch
with nothing stored twice, a stale batch commit refused, the interchange read from the ISA."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import pytest
import pytest_asyncio

from services.common.context import CommandContext
from services.common.errors import FailedPrecondition, NotFound, PermissionDenied
from services.common.import_jobs import (
    BatchResult,
    ImportJobRunner,
    ImportJobs,
    ImportJobStore,
    JobFinding,
    JobOutcome,
    Progress,
    Report,
    StartImport,
    WholeFileProcessorBase,
)
from services.common.import_jobs.jobs import WATCH_HEARTBEAT_SECONDS, interchange_of
from services.common.import_jobs.lazy import PickledItems, pack
from services.common.import_jobs.runner import MAX_ATTEMPTS, MIN_BATCH_SIZE, next_batch_size
from services.common.import_jobs.store import FAILED, PROCESSING, SUCCEEDED
from services.common.phi import PhiKeys
from tests.support.plugin import InfraUrls

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Crash(Exception):
    """The process dying between storing a batch and committing its cursor."""


class Lines:
    """One item per line; a line "bad" is rejected; stores by (job, position) like the claims
    service's deterministic ids, so a batch stored twice stores nothing new."""

    kind = "txt"
    empty_message = "no lines"

    def __init__(self) -> None:
        self.stored: dict[tuple[UUID, int], str] = {}
        self.writes = 0
        self.crash_after_batch: int | None = None
        self.batches = 0

    async def read(self, content: bytes, params: bytes) -> Sequence[str]:
        return content.decode().splitlines()

    async def store(
        self, ctx: CommandContext, job_id: UUID, start: int, items: Sequence[str]
    ) -> BatchResult:
        stored = rejected = 0
        findings = []
        for offset, item in enumerate(items):
            if item == "bad":
                rejected += 1
                findings.append(JobFinding(start + offset, f"line {start + offset + 1}", "",
                                           "a bad line"))
                continue
            key = (job_id, start + offset)
            if key not in self.stored:
                self.stored[key] = item
                self.writes += 1
            stored += 1
        self.batches += 1
        if self.crash_after_batch == self.batches:
            raise Crash
        return BatchResult(stored=stored, rejected=rejected, findings=tuple(findings))


@pytest_asyncio.fixture(loop_scope="session")
async def pool(infra_urls: InfraUrls) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(infra_urls.database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


def ctx(tenant: str, roles: tuple[str, ...] = ("negotiator",)) -> CommandContext:
    return CommandContext(tenant_id=tenant, actor="a@example.com", now=datetime.now(UTC),
                          roles=frozenset(roles), request_id=uuid.uuid4().hex)


async def machinery(pool: asyncpg.Pool) -> tuple[ImportJobs, ImportJobRunner, Lines]:
    store = ImportJobStore(pool, f"import_jobs_{uuid.uuid4().hex[:8]}", PhiKeys(os.urandom(32)))
    await store.migrate()
    lines = Lines()
    runner = ImportJobRunner(store, {"txt": lines}, batch_size=2)
    return ImportJobs(store, runner, "txt", ("negotiator",), "lines"), runner, lines


async def uploaded(jobs: ImportJobs, who: CommandContext, content: bytes) -> str:
    job, created = await jobs.start(who, StartImport(
        hashlib.sha256(content).hexdigest(), len(content), "f.txt", b""))
    assert created
    job_id = str(job.job_id)
    for sequence, offset in enumerate(range(0, len(content), 4)):
        await jobs.append(who, job_id, sequence, content[offset : offset + 4])
    await jobs.finish(who, job_id)
    return job_id


async def test_a_job_dying_mid_run_resumes_after_the_last_batch_and_stores_nothing_twice(pool):
    jobs, runner, lines = await machinery(pool)
    who = ctx("t1")
    content = b"a\nb\nbad\nc\nd\ne\nf\n"
    job_id = await uploaded(jobs, who, content)
    lines.crash_after_batch = 2  # batch 2 ("bad", "c") is stored, its cursor not committed
    with pytest.raises(Crash):
        await runner.process(UUID(job_id))
    interrupted = await jobs.get(who, job_id)
    assert (interrupted.items_processed, interrupted.items_stored) == (2, 2)
    lines.crash_after_batch = None
    await runner.process(UUID(job_id))
    done = await jobs.get(who, job_id)
    assert done.state == SUCCEEDED
    assert (done.items_read, done.items_stored, done.items_rejected, done.items_processed) == (
        7, 6, 1, 7)
    assert lines.writes == 6 == len(lines.stored)  # "c" was stored once, not twice
    assert [(f.position, f.location) for f in await jobs.findings(done)] == [(2, "line 3")]
    at_rest = await pool.fetch(f"SELECT location, message FROM {jobs.store.findings}")
    assert all(r["location"].startswith("v1:") and "bad" not in r["message"] for r in at_rest)
    # A batch committed from a stale cursor changes nothing.
    assert not await jobs.store.commit_batch(done.job_id, 0, 2, (2, 0, 0, 0), [], datetime.now(UTC))


async def test_a_job_that_keeps_failing_ends_failed_instead_of_holding_the_worker(pool):
    jobs, _, lines = await machinery(pool)
    runner = ImportJobRunner(jobs.store, {"txt": lines}, batch_size=2, retry_seconds=0)
    who = ctx("t3")
    job_id = await uploaded(jobs, who, b"a\nb\nc\n")
    lines.crash_after_batch = 1
    for _ in range(MAX_ATTEMPTS):
        lines.batches = 0
        await runner._attempt(UUID(job_id))
    failed = await jobs.get(who, job_id)
    assert failed.ended and "internal error" in failed.error
    assert "Crash" not in failed.error and failed.items_processed == 0


async def test_chunks_in_order_the_stated_hash_and_the_tenant(pool):
    jobs, _, _ = await machinery(pool)
    who = ctx("t2")
    content = b"one\ntwo\n"
    job, _ = await jobs.start(who, StartImport(
        hashlib.sha256(content).hexdigest(), len(content), "", b""))
    job_id = str(job.job_id)
    again, created = await jobs.start(who, StartImport(job.file_sha256.upper(), len(content),
                                                       "", b""))
    assert (again.job_id, created) == (job.job_id, False)
    with pytest.raises(FailedPrecondition, match="out of order"):
        await jobs.append(who, job_id, 1, b"two\n")
    await jobs.append(who, job_id, 0, b"one\n")
    await jobs.append(who, job_id, 0, b"one\n")  # a retry
    (sealed,) = await pool.fetch(f"SELECT sealed FROM {jobs.store.chunks}")
    assert sealed["sealed"].startswith("v1:") and "one" not in sealed["sealed"]
    with pytest.raises(FailedPrecondition, match="other bytes"):
        await jobs.append(who, job_id, 0, b"ONE\n")
    with pytest.raises(FailedPrecondition, match="received 4 of the 8"):
        await jobs.finish(who, job_id)
    with pytest.raises(NotFound):
        await jobs.get(ctx("someone-else"), job_id)
    with pytest.raises(PermissionDenied):
        await jobs.append(ctx("t2", ("finance",)), job_id, 1, b"two\n")
    await jobs.append(who, job_id, 1, b"TWO\n")
    with pytest.raises(FailedPrecondition, match="hash"):
        await jobs.finish(who, job_id)
    reset = await jobs.get(who, job_id)
    assert (reset.next_sequence, reset.bytes_received) == (0, 0)


async def test_the_interchange_is_read_from_the_isa():
    isa = ("ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *261120*1200"
           "*^*00501*000000042*0*P*:~GS*HC~")
    assert interchange_of(("\ufeff" + isa).encode()) == ("SENDER", "000000042")
    assert interchange_of(isa.replace("*", "|").encode()) == ("SENDER", "000000042")
    assert interchange_of(b"hello") == ("", "")


class WholeLines(WholeFileProcessorBase):
    """A whole-file processor: stores every line in one call, reporting progress as it goes;
    a run that dies midway is run again from the start and finds what it stored."""

    kind = "txt"
    empty_message = "no lines"

    def __init__(self) -> None:
        self.stored: set[int] = set()
        self.crash_at: int | None = None
        self.reports: list[Progress] = []

    async def read(self, content: bytes, params: bytes) -> Sequence[str]:
        return content.decode().splitlines()

    async def run(self, ctx: CommandContext, job_id: UUID, items: Sequence[Any],
                  report: Report) -> JobOutcome:
        if items and items[0] == "refuse":
            return JobOutcome(Progress("failed"), (JobFinding(-1, "", "", "refused whole"),),
                              "the file was refused")
        for position in range(len(items)):
            if position == self.crash_at:
                raise Crash
            self.stored.add(position)
            progress = Progress("storing", position + 1, position + 1)
            self.reports.append(progress)
            await report(progress)
        return JobOutcome(Progress("done", len(items), len(items), 0, len(items), 1))


async def test_a_whole_file_job_reports_absolute_progress_and_resumes(pool):
    jobs, _, _ = await machinery(pool)
    whole = WholeLines()
    runner = ImportJobRunner(jobs.store, {"txt": whole})
    who = ctx("t4")
    job_id = await uploaded(jobs, who, b"a\nb\nc\nd\n")
    whole.crash_at = 2
    with pytest.raises(Crash):
        await runner.process(UUID(job_id))
    interrupted = await jobs.get(who, job_id)
    assert (interrupted.state, interrupted.phase, interrupted.items_processed) == (
        PROCESSING, "storing", 2)
    whole.crash_at = None
    await runner.process(UUID(job_id))  # again from the start: counts set, never added
    done = await jobs.get(who, job_id)
    assert (done.state, done.items_read, done.items_processed, done.items_stored,
            done.payments_posted, done.fees_billed) == (SUCCEEDED, 4, 4, 4, 4, 1)
    assert whole.stored == {0, 1, 2, 3}

    refused_id = await uploaded(jobs, who, b"refuse\n")
    await runner.process(UUID(refused_id))
    refused = await jobs.get(who, refused_id)
    assert (refused.state, refused.error, refused.findings_total) == (
        FAILED, "the file was refused", 1)
    assert [f.message for f in await jobs.findings(refused)] == ["refused whole"]


def test_pickled_items_unpickle_only_the_slices_a_batch_reads():
    items = list(range(1_234))
    lazy = PickledItems(pack(items, 100), len(items), 100, convert=lambda n: n * 2)
    assert len(lazy) == 1_234 and lazy[-1] == 2_466 and list(lazy) == [n * 2 for n in items]
    for start, stop in [(0, 250), (250, 500), (1_000, 1_234), (1_200, 1_300), (99, 101)]:
        assert list(lazy[start:stop]) == [n * 2 for n in items[start:stop]]
    window = lazy[0:250]
    assert window._items is None and len(window) == 250  # nothing unpickled until read
    assert window[249] == 498 and window._items is not None


def test_a_batch_is_sized_to_commit_within_a_second_so_progress_moves_every_second():
    # 250 claims took 2.5 s on a loaded machine: the next batch is what fits in 0.7 s.
    assert next_batch_size(250, 2.5, 250) == 70
    # Fast again: it grows back (at most doubling) up to the runner's batch size.
    assert next_batch_size(70, 0.1, 250) == 140
    assert next_batch_size(140, 0.1, 250) == 250
    # Never below the floor (a very slow store still moves), never above the largest.
    assert next_batch_size(100, 60.0, 250) == MIN_BATCH_SIZE
    assert next_batch_size(2, 0.0, 2) == 2


async def test_watch_keeps_its_heartbeat_while_reading_the_job_is_slow(pool, monkeypatch):
    jobs, _, _ = await machinery(pool)
    who = ctx("t-watch")
    job_id = await uploaded(jobs, who, b"a\nb\n")  # PROCESSING; no worker runs it
    stream = jobs.watch(who, job_id)
    arrivals = [time.monotonic()]
    first = await anext(stream)
    read = jobs.store.get

    async def slow(tenant_id: str, job: UUID) -> Any:  # a loaded database: 3 s a read
        await asyncio.sleep(3.0)
        return await read(tenant_id, job)

    monkeypatch.setattr(jobs.store, "get", slow)
    while arrivals[-1] - arrivals[0] < 4.0:
        assert await anext(stream) == first  # the last state again, on time
        arrivals.append(time.monotonic())
    await stream.aclose()
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert max(gaps) < WATCH_HEARTBEAT_SECONDS + 0.3, gaps
