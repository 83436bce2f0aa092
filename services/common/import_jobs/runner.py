"""The background worker of import jobs: read the file once, store it in committed batches.

A service plugs in one `ImportProcessor` per kind of file (its methods are coroutines; the
synchronous parts run in the service's worker pool): `read` turns the whole file into items
(each read, or the reason it could not be), `store` stores a batch of them under ids derived
from the job and each item's position, so that a batch run again after a restart finds what it
stored before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from services.common.context import CommandContext
from services.common.errors import DomainError, InvalidArgument
from services.common.import_jobs.store import (
    FAILED,
    SUCCEEDED,
    FindingRow,
    ImportJobStore,
    JobRow,
    Progress,
)

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 250
# Progress moves at least once a second: a batch is sized from the last one's time so that it
# commits within about PROGRESS_SECONDS (a loaded machine stores 250 claims in 2-3 s), between
# MIN_BATCH_SIZE and the runner's batch size. Ids come from each item's position, so the
# batch boundaries may move between runs.
PROGRESS_SECONDS = 1.0
MIN_BATCH_SIZE = 20
# A job whose run fails this many times in a row (not a domain refusal: a fault, or a bug) ends
# FAILED instead of holding the worker forever; a transient fault (the database restarting)
# is retried with a growing pause until then.
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class JobFinding:
    """Why the item at `position` (or, at -1, the whole file) was not stored."""

    position: int
    location: str
    field: str
    message: str


@dataclass(frozen=True)
class BatchResult:
    stored: int = 0
    rejected: int = 0
    payments_posted: int = 0
    fees_billed: int = 0
    findings: tuple[JobFinding, ...] = ()


@dataclass(frozen=True)
class JobOutcome:
    """How a whole-file job ended: its final counts, its findings, and, when the file was
    refused as a whole, why (the job ends FAILED with that reason)."""

    progress: Progress
    findings: tuple[JobFinding, ...] = ()
    error: str = ""


Report = Callable[[Progress], Awaitable[None]]


class ImportProcessor(Protocol):
    kind: str
    # The finding of a file that holds nothing to store ("the file holds no claims").
    empty_message: str

    async def read(self, content: bytes, params: bytes) -> Sequence[Any]: ...

    async def store(
        self, ctx: CommandContext, job_id: UUID, start: int, items: Sequence[Any]
    ) -> BatchResult: ...


def _plain(exc: Exception) -> str:
    """A domain error's own words; anything else is not shown to a clerk."""
    if isinstance(exc, InvalidArgument):
        return "; ".join(
            f"{v.field}: {v.description}" if v.field else v.description for v in exc.violations
        )
    if isinstance(exc, DomainError):
        return str(exc)
    return "the file could not be read (an internal error; the operators were told)"


def _now() -> datetime:
    return datetime.now(UTC)


def next_batch_size(stored: int, seconds: float, largest: int,
                    target: float = PROGRESS_SECONDS) -> int:
    """The next batch's size after `stored` items took `seconds`: what would take about 70 %
    of `target` at that rate (at most twice the last size), within [MIN_BATCH_SIZE, largest]."""
    if stored <= 0:
        return largest
    fitting = int(stored * 0.7 * target / seconds) if seconds > 0 else largest
    return max(min(MIN_BATCH_SIZE, largest), min(fitting, 2 * stored, largest))


class WholeFileProcessorBase(ABC):
    """A processor whose service stores the file in one resumable use case (settlement's 835:
    the remittance is posted in chunks with deterministic ids, so a run again after a restart
    skips what was committed). `run` reports progress through `report` while it works and
    answers the final counts; `read` may answer no items (`run` then says why)."""

    kind: str
    empty_message: str

    @abstractmethod
    async def read(self, content: bytes, params: bytes) -> Sequence[Any]: ...

    @abstractmethod
    async def run(
        self, ctx: CommandContext, job_id: UUID, items: Sequence[Any], report: Report
    ) -> JobOutcome: ...


class ImportJobRunner:
    """Processes every job in PROCESSING, oldest first, one at a time per replica (a
    PostgreSQL advisory lock per job keeps two replicas off the same job)."""

    def __init__(
        self,
        store: ImportJobStore,
        processors: Mapping[str, ImportProcessor | WholeFileProcessorBase],
        batch_size: int = DEFAULT_BATCH_SIZE,
        poll_seconds: float = 1.0,
        retry_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.processors = dict(processors)
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.retry_seconds = retry_seconds
        self._wake = asyncio.Event()
        self._failures: dict[UUID, int] = {}

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            for job_id in await self.store.runnable():
                await self._attempt(job_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def _attempt(self, job_id: UUID) -> None:
        try:
            await self._locked(job_id)
            self._failures.pop(job_id, None)
        except Exception:
            failures = self._failures.get(job_id, 0) + 1
            self._failures[job_id] = failures
            log.exception("import job %s: run %d failed", job_id, failures)
            if failures >= MAX_ATTEMPTS:
                self._failures.pop(job_id, None)
                job = await self.store.get_any(job_id)
                if job is not None:
                    await self._fail(job, f"stopped after {failures} failed attempts: an "
                                          "internal error (the operators were told)")
                return
            await asyncio.sleep(min(self.retry_seconds * 2.0 ** (failures - 1), 30.0))

    async def _locked(self, job_id: UUID) -> None:
        async with self.store.pool.acquire() as conn:
            key = f"import-job:{job_id}"
            if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key):
                return  # another replica is on it
            try:
                await self.process(job_id)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)

    async def process(self, job_id: UUID) -> None:
        job = await self.store.get_any(job_id)
        if job is None or job.ended:
            return
        processor = self.processors.get(job.kind)
        if processor is None:
            await self._fail(job, f"no reader for {job.kind} files in this service")
            return
        content = await self.store.content(job_id)
        try:
            items = await processor.read(content, job.params)
        except Exception as exc:
            if not isinstance(exc, DomainError):
                log.exception("import job %s: reading the file failed", job_id)
            await self._fail(job, _plain(exc))
            return
        await self.store.mark_read(job_id, len(items), _now())
        ctx = CommandContext(
            tenant_id=job.tenant_id, actor=job.actor, now=_now(), roles=frozenset(job.roles),
            request_id=job.request_id, correlation_id=str(job_id),
        )
        if isinstance(processor, WholeFileProcessorBase):
            await self._whole(job, processor, ctx, items)
            return
        if not items:
            await self._fail(job, processor.empty_message)
            return
        cursor = job.items_processed
        size = self.batch_size
        while cursor < len(items):
            batch = items[cursor : cursor + size]
            began = time.monotonic()
            try:
                result = await processor.store(replace(ctx, now=_now()), job_id, cursor, batch)
            except DomainError as exc:  # a rule refuses the whole job (e.g. the caller's role)
                await self._fail(job, _plain(exc))
                return
            size = next_batch_size(len(batch), time.monotonic() - began, self.batch_size)
            findings = [FindingRow(f.position, f.location, f.field, f.message)
                        for f in result.findings]
            counts = (result.stored, result.rejected, result.payments_posted, result.fees_billed)
            if not await self.store.commit_batch(
                job_id, cursor, len(batch), counts, findings, _now()
            ):
                current = await self.store.get_any(job_id)
                if current is None or current.ended:
                    return
                cursor = current.items_processed
                continue
            cursor += len(batch)
        await self.store.end(job_id, SUCCEEDED, "", _now())

    async def _whole(
        self, job: JobRow, processor: WholeFileProcessorBase, ctx: CommandContext,
        items: Sequence[Any],
    ) -> None:
        async def report(progress: Progress) -> None:
            await self.store.set_progress(job.job_id, progress, _now())

        try:
            outcome = await processor.run(ctx, job.job_id, items, report)
        except DomainError as exc:
            await self._fail(job, _plain(exc))
            return
        findings = [FindingRow(f.position, f.location, f.field, f.message)
                    for f in outcome.findings]
        await self.store.set_progress(job.job_id, outcome.progress, _now())
        await self.store.end(job.job_id, FAILED if outcome.error else SUCCEEDED, outcome.error,
                             _now(), findings=findings)

    async def _fail(self, job: JobRow, message: str) -> None:
        await self.store.end(job.job_id, FAILED, message, _now(), FindingRow(-1, "", "", message))
