"""The use cases of import jobs, as the servicers call them: start, append a chunk, finish the
upload, get, list, watch. Writes check the caller's role (`writers`, the service's line of the role
table); a job of another tenant is NOT_FOUND like an unknown one."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from services.common.auth import require_role
from services.common.context import CommandContext
from services.common.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from services.common.ids import deterministic_id
from services.common.import_jobs.runner import ImportJobRunner
from services.common.import_jobs.store import (
    FAILED,
    UPLOADING,
    FindingRow,
    ImportJobStore,
    JobRow,
)

MAX_FILE_BYTES = 50 * 1024 * 1024
DEFAULT_PAGE_SIZE = 50  # ListImportJobs (the proto comment says so)
MAX_PAGE_SIZE = 500
MAX_CHUNK_BYTES = 4 * 1024 * 1024
DEFAULT_FINDINGS = 1_000
MAX_FINDINGS = 10_000
WATCH_POLL_SECONDS = 0.125
WATCH_HEARTBEAT_SECONDS = 0.25  # a partner sees progress every second with a held loop of 0.7 s
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class StartImport:
    file_sha256: str
    total_bytes: int
    file_name: str
    # What the service needs besides the file (its own start request, serialized).
    params: bytes


def interchange_of(content: bytes) -> tuple[str, str]:
    """(ISA06 sender, ISA13 control number) of the file's first interchange, or ("", "")."""
    head = content[:4096].decode("latin-1")
    start = head.find("ISA")
    if start < 0 or len(head) < start + 4:
        return "", ""
    separator = head[start + 3]
    elements = head[start : start + 120].split(separator)
    if len(elements) < 14:
        return "", ""
    return elements[6].strip(), elements[13].strip()


def page_token(job: JobRow) -> str:
    """The opaque keyset of the job a page ended with: (created_at, job_id)."""
    raw = f"v1|{job.created_at.isoformat()}|{job.job_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def after_token(token: str) -> tuple[datetime, UUID]:
    """The keyset a page token holds; INVALID_ARGUMENT naming page_token when it holds none."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        version, when, job_id = raw.split("|")
        created_at = datetime.fromisoformat(when)
        if version != "v1" or created_at.tzinfo is None:
            raise ValueError(raw)
        return created_at, UUID(job_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidArgument("not a page token of ListImportJobs", "page_token") from None


def _now() -> datetime:
    return datetime.now(UTC)


class ImportJobs:
    def __init__(
        self,
        store: ImportJobStore,
        runner: ImportJobRunner,
        kind: str,
        writers: Iterable[str],
        noun: str,
    ) -> None:
        self.store = store
        self.runner = runner
        self.kind = kind
        self.writers = tuple(writers)
        self.action = f"importing {noun}"

    def job_id_for(self, tenant_id: str, file_sha256: str) -> UUID:
        return deterministic_id(tenant_id, f"import-{self.kind}", file_sha256)

    async def start(self, ctx: CommandContext, command: StartImport) -> tuple[JobRow, bool]:
        require_role(ctx, self.writers, self.action)
        sha = command.file_sha256.strip().lower()
        violations = []
        if not _SHA256.fullmatch(sha):
            violations.append(("file_sha256", "must be the file's SHA-256 as 64 hex digits"))
        if not 0 < command.total_bytes <= MAX_FILE_BYTES:
            violations.append(("total_bytes", f"must be 1 to {MAX_FILE_BYTES} bytes"))
        if violations:
            raise InvalidArgument([FieldViolation(f, d) for f, d in violations])
        job_id = self.job_id_for(ctx.tenant_id, sha)
        now = _now()
        created = await self.store.insert(JobRow(
            tenant_id=ctx.tenant_id, job_id=job_id, kind=self.kind, file_sha256=sha,
            total_bytes=command.total_bytes, file_name=command.file_name.strip(),
            params=command.params, actor=ctx.actor, roles=tuple(sorted(ctx.roles)),
            request_id=ctx.request_id, state=UPLOADING, phase="uploading", next_sequence=0,
            bytes_received=0, interchange_sender="", interchange_control_number="",
            items_read=0, items_stored=0, items_rejected=0, items_processed=0,
            payments_posted=0, fees_billed=0, findings_total=0, error="", created_at=now,
            updated_at=now, finished_at=None,
        ))
        return await self.get(ctx, str(job_id)), created

    async def append(
        self, ctx: CommandContext, job_id: str, sequence: int, data: bytes
    ) -> JobRow:
        require_role(ctx, self.writers, self.action)
        job = await self.get(ctx, job_id)
        if sequence < 0:
            raise InvalidArgument("chunks are numbered from 0", "sequence")
        if not data:
            raise InvalidArgument("a chunk holds at least one byte", "data")
        if len(data) > MAX_CHUNK_BYTES:
            raise InvalidArgument(f"a chunk holds at most {MAX_CHUNK_BYTES} bytes", "data")
        if sequence < job.next_sequence:
            if job.state != UPLOADING:
                return job  # a retry after the upload finished
            if await self.store.chunk(job.job_id, sequence) == data:
                return job  # a retry
            raise FailedPrecondition(
                f"chunk {sequence} was already received with other bytes"
            )
        if job.state != UPLOADING:
            raise FailedPrecondition("the upload of this job is finished")
        if sequence > job.next_sequence:
            raise FailedPrecondition(
                f"chunk {sequence} is out of order: the next chunk is {job.next_sequence}"
            )
        if job.bytes_received + len(data) > job.total_bytes:
            raise FailedPrecondition(
                f"the chunks would exceed the stated total_bytes ({job.total_bytes})"
            )
        appended = await self.store.append_chunk(job.job_id, sequence, data, _now())
        if appended is None:  # a concurrent append of the same sequence won
            raise FailedPrecondition(f"chunk {sequence} is out of order (sent twice at once?)")
        return appended

    async def finish(self, ctx: CommandContext, job_id: str) -> JobRow:
        """Check the upload against what StartImport stated and start processing; the job
        an earlier upload of the same interchange started, if there is one."""
        require_role(ctx, self.writers, self.action)
        job = await self.get(ctx, job_id)
        if job.state != UPLOADING:
            return job
        if job.bytes_received != job.total_bytes:
            raise FailedPrecondition(
                f"received {job.bytes_received} of the {job.total_bytes} bytes stated at start"
            )
        content = await self.store.content(job.job_id)
        digest = await asyncio.to_thread(lambda: hashlib.sha256(content).hexdigest())
        if digest != job.file_sha256:
            await self.store.reset_upload(job.job_id, _now())
            raise FailedPrecondition(
                f"the uploaded bytes hash to {digest}, not the file_sha256 stated at start; "
                "the upload was discarded: send the chunks again from 0"
            )
        sender, control = interchange_of(content)
        if control:
            earlier = await self.store.same_interchange(job, sender, control)
            if earlier is not None:
                message = (f"interchange {control} from {sender} was imported by job "
                           f"{earlier.job_id}")
                await self.store.end(job.job_id, FAILED, message, _now(),
                                     FindingRow(-1, "ISA", "ISA13", message))
                return earlier
        await self.store.begin_processing(job.job_id, sender, control, _now())
        self.runner.wake()
        return await self.get(ctx, job_id)

    async def get(self, ctx: CommandContext, job_id: str) -> JobRow:
        try:
            uuid = UUID(job_id.strip())
        except ValueError:
            raise InvalidArgument("not a job id (UUID)", "job_id") from None
        job = await self.store.get(ctx.tenant_id, uuid)
        if job is None:
            raise NotFound(f"no import job {job_id}")
        return job

    async def list_page(
        self, ctx: CommandContext, page_size: int = 0, token: str = "",
        state: str | None = None,
    ) -> tuple[list[JobRow], str]:
        """A page of the caller's tenant's jobs, newest first, and the token of the next page
        ("" on the last). The role check is the role table's (a read, like get)."""
        if not 0 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidArgument(
                f"between 1 and {MAX_PAGE_SIZE} (0 = default {DEFAULT_PAGE_SIZE})", "page_size"
            )
        after = after_token(token) if token else None
        size = page_size or DEFAULT_PAGE_SIZE
        rows = await self.store.page(ctx.tenant_id, self.kind, size + 1, after, state)
        if len(rows) <= size:
            return rows, ""
        return rows[:size], page_token(rows[size - 1])

    async def findings(self, job: JobRow, offset: int = 0, limit: int = 0) -> list[FindingRow]:
        limit = min(limit or DEFAULT_FINDINGS, MAX_FINDINGS)
        return await self.store.findings_page(job.job_id, max(offset, 0), max(limit, 0))

    async def watch(self, ctx: CommandContext, job_id: str) -> AsyncIterator[JobRow]:
        """The job now, then whenever it changed and at least every WATCH_HEARTBEAT_SECONDS,
        until it ends. The heartbeat is kept by time, not by the database: a read of the job
        that takes longer (a loaded database) sends the last state again meanwhile."""
        job = await self.get(ctx, job_id)
        yield job
        sent = time.monotonic()
        reading: asyncio.Task[JobRow] | None = None
        try:
            while not job.ended:
                if reading is None:
                    await asyncio.sleep(WATCH_POLL_SECONDS)
                    reading = asyncio.ensure_future(self.get(ctx, job_id))
                due = WATCH_HEARTBEAT_SECONDS - (time.monotonic() - sent)
                done, _ = await asyncio.wait({reading}, timeout=max(due, 0.0))
                if reading in done:
                    current = reading.result()
                    reading = None
                    if current == job and time.monotonic() - sent < WATCH_HEARTBEAT_SECONDS:
                        continue
                    job = current
                yield job
                sent = time.monotonic()
        finally:
            if reading is not None:
                reading.cancel()
