"""Import jobs in the service's PostgreSQL schema: one row per job, its chunks, its findings.

The job row is the job's whole state (the counters and `items_processed`, the cursor of the
last committed batch); a batch's findings and the cursor move in one transaction, guarded by
the cursor it started from, so a batch run twice (a restart between storing its items and
committing) counts once.

The file and the findings hold personal health information (patient control numbers, names):
chunks and each finding's location and message are sealed with the deployment's PHI key
(`services/common/phi.py`) like every read model's identifiers; the chunks are deleted when the
job ends.
"""

# ruff: noqa: S608 - the schema is the service's own setting, every value a bind parameter

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.common.phi import PhiKeys

UPLOADING = "uploading"
PROCESSING = "processing"
SUCCEEDED = "succeeded"
FAILED = "failed"
ENDED = (SUCCEEDED, FAILED)


@dataclass(frozen=True)
class JobRow:
    tenant_id: str
    job_id: UUID
    kind: str
    file_sha256: str
    total_bytes: int
    file_name: str
    params: bytes
    actor: str
    roles: tuple[str, ...]
    request_id: str
    state: str
    phase: str
    next_sequence: int
    bytes_received: int
    interchange_sender: str
    interchange_control_number: str
    items_read: int
    items_stored: int
    items_rejected: int
    items_processed: int
    payments_posted: int
    fees_billed: int
    findings_total: int
    error: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def ended(self) -> bool:
        return self.state in ENDED


@dataclass(frozen=True)
class Progress:
    """Where a whole-file job stands, as absolute counts (a resumed run reports them again
    from what it finds stored, so nothing is counted twice)."""

    phase: str
    processed: int = 0
    stored: int = 0
    rejected: int = 0
    payments_posted: int = 0
    fees_billed: int = 0


@dataclass(frozen=True)
class FindingRow:
    position: int
    location: str
    field: str
    message: str


def _ddl(schema: str) -> list[str]:
    return [
        f'CREATE SCHEMA IF NOT EXISTS "{schema}"',
        f"""CREATE TABLE IF NOT EXISTS "{schema}".import_jobs (
            job_id uuid PRIMARY KEY,
            tenant_id text NOT NULL,
            kind text NOT NULL,
            file_sha256 text NOT NULL,
            total_bytes bigint NOT NULL,
            file_name text NOT NULL DEFAULT '',
            params bytea NOT NULL,
            actor text NOT NULL,
            roles text[] NOT NULL,
            request_id text NOT NULL,
            state text NOT NULL,
            phase text NOT NULL,
            next_sequence bigint NOT NULL DEFAULT 0,
            bytes_received bigint NOT NULL DEFAULT 0,
            interchange_sender text NOT NULL DEFAULT '',
            interchange_control_number text NOT NULL DEFAULT '',
            items_read bigint NOT NULL DEFAULT 0,
            items_stored bigint NOT NULL DEFAULT 0,
            items_rejected bigint NOT NULL DEFAULT 0,
            items_processed bigint NOT NULL DEFAULT 0,
            payments_posted bigint NOT NULL DEFAULT 0,
            fees_billed bigint NOT NULL DEFAULT 0,
            findings_total bigint NOT NULL DEFAULT 0,
            error text NOT NULL DEFAULT '',
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            finished_at timestamptz
        )""",
        f"""CREATE INDEX IF NOT EXISTS import_jobs_running
            ON "{schema}".import_jobs (state, created_at)""",
        # ListImportJobs: a tenant's jobs of a kind, newest first, by keyset (created_at, job_id).
        f"""CREATE INDEX IF NOT EXISTS import_jobs_listing
            ON "{schema}".import_jobs (tenant_id, kind, created_at DESC, job_id DESC)""",
        f"""CREATE INDEX IF NOT EXISTS import_jobs_interchange
            ON "{schema}".import_jobs (tenant_id, kind, interchange_sender,
                                       interchange_control_number)""",
        f"""CREATE TABLE IF NOT EXISTS "{schema}".import_job_chunks (
            job_id uuid NOT NULL,
            sequence bigint NOT NULL,
            sealed text NOT NULL,
            PRIMARY KEY (job_id, sequence)
        )""",
        f"""CREATE TABLE IF NOT EXISTS "{schema}".import_job_findings (
            job_id uuid NOT NULL,
            position bigint NOT NULL,
            ordinal int NOT NULL,
            location text NOT NULL,
            field text NOT NULL,
            message text NOT NULL,
            PRIMARY KEY (job_id, position, ordinal)
        )""",
    ]


def _row(record: Any) -> JobRow:
    values = dict(record)
    values["roles"] = tuple(values["roles"])
    values["params"] = bytes(values["params"])
    return JobRow(**values)


class ImportJobStore:
    def __init__(
        self, pool: asyncpg.Pool, schema: str, keys: PhiKeys, database_url: str = ""
    ) -> None:
        # With `database_url`, the jobs get a small pool of their own at start (`open`): the
        # worker holds a connection for a whole job (its advisory lock), and the progress
        # writes and WatchImportJob's reads must never queue behind the service's heavy work
        # (projection batches, queries) for a connection of the shared pool.
        self.pool = pool
        self.database_url = database_url
        self._own: asyncpg.Pool | None = None
        self.keys = keys
        self.schema = schema
        self.jobs = f'"{schema}".import_jobs'
        self.chunks = f'"{schema}".import_job_chunks'
        self.findings = f'"{schema}".import_job_findings'

    async def migrate(self, pool: asyncpg.Pool | None = None) -> None:
        async with (pool or self.pool).acquire() as conn:
            for statement in _ddl(self.schema):
                await conn.execute(statement)
        if self.database_url and self._own is None:
            self._own = await asyncpg.create_pool(self.database_url, min_size=1, max_size=3)
            self.pool = self._own

    async def close(self) -> None:
        if self._own is not None:
            own, self._own = self._own, None
            try:  # the worker was cancelled before; do not wait forever for a connection
                await asyncio.wait_for(own.close(), timeout=5)
            except TimeoutError:
                own.terminate()

    async def insert(self, job: JobRow) -> bool:
        """Record a new job; False when a job of that id exists already."""
        status = await self.pool.execute(
            f"""INSERT INTO {self.jobs} (job_id, tenant_id, kind, file_sha256, total_bytes,
                file_name, params, actor, roles, request_id, state, phase, created_at,
                updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
            ON CONFLICT (job_id) DO NOTHING""",
            job.job_id, job.tenant_id, job.kind, job.file_sha256, job.total_bytes,
            job.file_name, job.params, job.actor, list(job.roles), job.request_id, job.state,
            job.phase, job.created_at,
        )
        return bool(status.endswith(" 1"))

    async def get(self, tenant_id: str, job_id: UUID) -> JobRow | None:
        record = await self.pool.fetchrow(
            f"SELECT * FROM {self.jobs} WHERE job_id = $1 AND tenant_id = $2", job_id, tenant_id
        )
        return _row(record) if record else None

    async def page(
        self, tenant_id: str, kind: str, limit: int,
        after: tuple[datetime, UUID] | None = None, state: str | None = None,
    ) -> list[JobRow]:
        """The tenant's jobs of `kind`, newest first (created_at, then job_id, descending), at
        most `limit`, starting after the keyset `after` (the last job of the previous page),
        only those in `state` when given."""
        where = ["tenant_id = $1", "kind = $2"]
        args: list[Any] = [tenant_id, kind]
        if state is not None:
            args.append(state)
            where.append(f"state = ${len(args)}")
        if after is not None:
            args.extend(after)
            where.append(f"(created_at, job_id) < (${len(args) - 1}, ${len(args)})")
        args.append(limit)
        rows = await self.pool.fetch(
            f"""SELECT * FROM {self.jobs} WHERE {' AND '.join(where)}
            ORDER BY created_at DESC, job_id DESC LIMIT ${len(args)}""",
            *args,
        )
        return [_row(r) for r in rows]

    async def get_any(self, job_id: UUID) -> JobRow | None:
        record = await self.pool.fetchrow(f"SELECT * FROM {self.jobs} WHERE job_id = $1", job_id)
        return _row(record) if record else None

    async def append_chunk(
        self, job_id: UUID, sequence: int, data: bytes, now: datetime
    ) -> JobRow | None:
        """Store chunk `sequence` if it is the next one (None when it is not: the caller
        decides between a retry and an out-of-order chunk)."""
        async with self.pool.acquire() as conn, conn.transaction():
            record = await conn.fetchrow(
                f"""UPDATE {self.jobs} SET next_sequence = next_sequence + 1,
                    bytes_received = bytes_received + $3, updated_at = $4
                WHERE job_id = $1 AND next_sequence = $2 AND state = '{UPLOADING}'
                    AND bytes_received + $3 <= total_bytes
                RETURNING *""",
                job_id, sequence, len(data), now,
            )
            if record is None:
                return None
            await conn.execute(
                f"INSERT INTO {self.chunks} (job_id, sequence, sealed) VALUES ($1, $2, $3)",
                job_id, sequence, self._seal_bytes(data),
            )
            return _row(record)

    def _seal_bytes(self, data: bytes) -> str:
        return self.keys.seal(data.decode("latin-1"))  # latin-1: every byte is one character

    def _unseal_bytes(self, sealed: str) -> bytes:
        return self.keys.unseal(sealed).encode("latin-1")

    async def chunk(self, job_id: UUID, sequence: int) -> bytes | None:
        sealed = await self.pool.fetchval(
            f"SELECT sealed FROM {self.chunks} WHERE job_id = $1 AND sequence = $2",
            job_id, sequence,
        )
        return self._unseal_bytes(sealed) if sealed is not None else None

    async def content(self, job_id: UUID) -> bytes:
        rows = await self.pool.fetch(
            f"SELECT sealed FROM {self.chunks} WHERE job_id = $1 ORDER BY sequence", job_id
        )
        return b"".join(self._unseal_bytes(r["sealed"]) for r in rows)

    async def reset_upload(self, job_id: UUID, now: datetime) -> None:
        """Discard what was uploaded (the bytes did not match the stated file)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"""UPDATE {self.jobs} SET next_sequence = 0, bytes_received = 0, updated_at = $2
                WHERE job_id = $1 AND state = '{UPLOADING}'""",
                job_id, now,
            )
            await conn.execute(f"DELETE FROM {self.chunks} WHERE job_id = $1", job_id)

    async def same_interchange(self, job: JobRow, sender: str, control: str) -> JobRow | None:
        """An earlier job of the tenant that carried the same interchange (sender, ISA13)."""
        record = await self.pool.fetchrow(
            f"""SELECT * FROM {self.jobs} WHERE tenant_id = $1 AND kind = $2
                AND interchange_sender = $3 AND interchange_control_number = $4
                AND job_id <> $5 AND state <> '{FAILED}' ORDER BY created_at LIMIT 1""",
            job.tenant_id, job.kind, sender, control, job.job_id,
        )
        return _row(record) if record else None

    async def begin_processing(
        self, job_id: UUID, sender: str, control: str, now: datetime
    ) -> None:
        await self.pool.execute(
            f"""UPDATE {self.jobs} SET state = '{PROCESSING}', phase = 'reading',
                interchange_sender = $2, interchange_control_number = $3, updated_at = $4
            WHERE job_id = $1 AND state = '{UPLOADING}'""",
            job_id, sender, control, now,
        )

    async def runnable(self) -> list[UUID]:
        rows = await self.pool.fetch(
            f"SELECT job_id FROM {self.jobs} WHERE state = '{PROCESSING}' ORDER BY created_at"
        )
        return [r["job_id"] for r in rows]

    async def mark_read(self, job_id: UUID, items: int, now: datetime) -> None:
        await self.pool.execute(
            f"""UPDATE {self.jobs} SET items_read = $2, phase = 'storing', updated_at = $3
            WHERE job_id = $1 AND state = '{PROCESSING}'""",
            job_id, items, now,
        )

    async def commit_batch(
        self,
        job_id: UUID,
        cursor: int,
        processed: int,
        counts: tuple[int, int, int, int],
        findings: Sequence[FindingRow],
        now: datetime,
    ) -> bool:
        """Move the cursor from `cursor` by `processed` items with their counts
        (stored, rejected, payments posted, fees billed) and findings, in one transaction;
        False (nothing changed) when the cursor had already moved."""
        stored, rejected, posted, billed = counts
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                f"""UPDATE {self.jobs} SET items_processed = items_processed + $3,
                    items_stored = items_stored + $4, items_rejected = items_rejected + $5,
                    payments_posted = payments_posted + $6, fees_billed = fees_billed + $7,
                    findings_total = findings_total + $8, updated_at = $9
                WHERE job_id = $1 AND items_processed = $2 AND state = '{PROCESSING}'""",
                job_id, cursor, processed, stored, rejected, posted, billed, len(findings), now,
            )
            if not status.endswith(" 1"):
                return False
            if findings:
                ordinals: dict[int, int] = {}
                rows = []
                for f in findings:
                    ordinal = ordinals.get(f.position, 0)
                    ordinals[f.position] = ordinal + 1
                    rows.append((job_id, f.position, ordinal, self.keys.seal(f.location),
                                 f.field, self.keys.seal(f.message)))
                await conn.executemany(
                    f"""INSERT INTO {self.findings}
                        (job_id, position, ordinal, location, field, message)
                    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
                    rows,
                )
            return True

    async def set_progress(self, job_id: UUID, progress: Progress, now: datetime) -> None:
        """A whole-file job's absolute counts (services/common/import_jobs/runner.py)."""
        await self.pool.execute(
            f"""UPDATE {self.jobs} SET phase = $2, items_processed = $3, items_stored = $4,
                items_rejected = $5, payments_posted = $6, fees_billed = $7, updated_at = $8
            WHERE job_id = $1 AND state = '{PROCESSING}'""",
            job_id, progress.phase, progress.processed, progress.stored, progress.rejected,
            progress.payments_posted, progress.fees_billed, now,
        )

    async def end(
        self, job_id: UUID, state: str, error: str, now: datetime,
        finding: FindingRow | None = None, findings: Sequence[FindingRow] = (),
    ) -> None:
        every = [*findings, *([finding] if finding is not None else [])]
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                f"""UPDATE {self.jobs} SET state = $2, phase = $3, error = $4, updated_at = $5,
                    finished_at = $5, findings_total = findings_total + $6
                WHERE job_id = $1 AND state NOT IN ('{SUCCEEDED}', '{FAILED}')""",
                job_id, state, "done" if state == SUCCEEDED else "failed", error, now,
                len(every),
            )
            if every and status.endswith(" 1"):
                ordinals: dict[int, int] = {}
                rows = []
                for f in every:
                    ordinal = ordinals.get(f.position, 0)
                    ordinals[f.position] = ordinal + 1
                    rows.append((job_id, f.position, ordinal, self.keys.seal(f.location),
                                 f.field, self.keys.seal(f.message)))
                await conn.executemany(
                    f"""INSERT INTO {self.findings}
                        (job_id, position, ordinal, location, field, message)
                    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
                    rows,
                )
            # The file is no longer needed once the job has ended.
            await conn.execute(f"DELETE FROM {self.chunks} WHERE job_id = $1", job_id)

    async def findings_page(self, job_id: UUID, offset: int, limit: int) -> list[FindingRow]:
        rows = await self.pool.fetch(
            f"""SELECT position, location, field, message FROM {self.findings}
            WHERE job_id = $1 ORDER BY position, ordinal OFFSET $2 LIMIT $3""",
            job_id, offset, limit,
        )
        return [
            FindingRow(r["position"], self.keys.unseal(r["location"]), r["field"],
                       self.keys.unseal(r["message"]))
            for r in rows
        ]
