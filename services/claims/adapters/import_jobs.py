"""The 837 as an import job (services/common/import_jobs): how the claims service reads a file
and stores a batch of its claims.

Reading goes through the existing adapter (`x12.read_837`, which maps the shared reader's
claims to `ClaimData`); storing through `ClaimsApplication.import_claims`, each claim under the
request id `import:<job id>:<position in the file>`, so its claim id is fixed by the job and the
claim's position: a batch stored again after a restart finds its claims and stores nothing.

The file is read in a separate process (`readers`, a spawned process pool from main.py) when
one is given: reading 50,000 claims holds the interpreter lock for seconds at a time, which in
a thread would stall the service's event loop (and WatchImportJob's once-a-second progress).
What it read comes back as pickled slices (services/common/import_jobs/lazy.py), each
unpickled by the batch that stores it: unpickling the whole read at once held the lock for
10 s and more (the progress gaps of the 50,000-claim test).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from oonledger.claims.v1 import claims_pb2 as pb
from services.claims.adapters import commands, x12
from services.claims.adapters.sql import ClaimsQueries
from services.claims.adapters.x12 import ParsedClaim
from services.claims.application import ClaimsApplication, ImportClaims, ImportItem
from services.common.context import CommandContext
from services.common.errors import DomainError, FailedPrecondition, FieldViolation, InvalidArgument
from services.common.grpc_server import Blocking
from services.common.import_jobs import BatchResult, JobFinding
from services.common.import_jobs.lazy import PickledItems, pack

KIND = "837"


def decode(content: bytes) -> str:
    """The file's text: UTF-8 (a byte-order mark dropped), else Latin-1 (every byte is a
    character, so nothing is lost)."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("latin-1")


def claim_request_id(job_id: UUID, position: int) -> str:
    return f"import:{job_id}:{position}"


@dataclass(frozen=True)
class FileRead:
    """What reading a file gave, in a form that crosses a process boundary intact (an
    exception pickles without its field violations, so each claim's travel separately)."""

    claims: tuple[tuple[ParsedClaim, tuple[FieldViolation, ...]], ...] = ()
    refused: tuple[FieldViolation, ...] = ()  # the whole file is unreadable (InvalidArgument)
    failed: str = ""  # another rule refused the whole file


@dataclass(frozen=True)
class PackedRead:
    """A FileRead whose claims travel as pickled slices (lazy.pack)."""

    slices: tuple[bytes, ...]
    count: int
    refused: tuple[FieldViolation, ...] = ()
    failed: str = ""


def read_file(content: bytes, params: bytes) -> FileRead:
    """Read an 837 with the facts its start request stated (runs in the reader process)."""
    try:
        stated = commands.read_start_import(pb.StartImportRequest.FromString(params))
        parsed = x12.read_837(decode(content), stated.client_id, stated.plan, stated.facility)
    except InvalidArgument as exc:
        return FileRead(refused=tuple(exc.violations))
    except DomainError as exc:
        return FileRead(failed=str(exc))
    return FileRead(claims=tuple(
        (replace(c, error=None), tuple(c.error.violations) if c.error is not None else ())
        for c in parsed
    ))


def read_file_packed(content: bytes, params: bytes) -> PackedRead:
    """read_file, its claims packed in pickled slices (runs in the reader process)."""
    read = read_file(content, params)
    return PackedRead(pack(read.claims), len(read.claims), read.refused, read.failed)


def _with_errors(item: tuple[ParsedClaim, tuple[FieldViolation, ...]]) -> ParsedClaim:
    claim, errors = item
    return replace(claim, error=InvalidArgument(list(errors))) if errors else claim


def claims_read(read: FileRead | PackedRead) -> Sequence[ParsedClaim]:
    if read.refused:
        raise InvalidArgument(list(read.refused))
    if read.failed:
        raise FailedPrecondition(read.failed)
    if isinstance(read, PackedRead):
        return PickledItems(read.slices, read.count, convert=_with_errors)
    return [_with_errors(item) for item in read.claims]


class Claims837Import:
    kind = KIND
    empty_message = "the file holds no 837 claims (no CLM segment was found in any transaction)"

    def __init__(
        self, app: ClaimsApplication, blocking: Blocking, readers: Executor | None = None,
        queries: ClaimsQueries | None = None,
    ) -> None:
        self.app = app
        self.blocking = blocking
        self.readers = readers
        self.queries = queries

    async def read(self, content: bytes, params: bytes) -> Sequence[ParsedClaim]:
        read: FileRead | PackedRead
        if self.readers is None:
            read = await self.blocking(read_file, content, params)
        else:
            loop = asyncio.get_running_loop()
            read = await loop.run_in_executor(self.readers, read_file_packed, content, params)
        return claims_read(read)

    async def store(
        self, ctx: CommandContext, job_id: UUID, start: int, items: Sequence[Any]
    ) -> BatchResult:
        candidates: Mapping[str, tuple[str, ...]] = {}
        if self.queries is not None:  # a 7/8 links to its original (REF*F8 + PCN)
            # In the worker pool: looking at the batch unpickles it (a lazy slice of the
            # reader's claims), which on the event loop stopped the service - and the
            # once-a-second progress - for up to seconds a batch on a loaded machine.
            pcns = await self.blocking(commands.correction_pcns, items)
            candidates = await self.queries.claims_by_pcn(ctx.tenant_id, pcns)
        return await self.blocking(self.store_now, ctx, job_id, start, items, candidates)

    def store_now(
        self, ctx: CommandContext, job_id: UUID, start: int, items: Sequence[Any],
        candidates: Mapping[str, tuple[str, ...]] | None = None,
    ) -> BatchResult:
        parsed: Sequence[ParsedClaim] = list(items)  # a lazy batch is unpickled here
        batch: list[ImportItem] = []
        for offset, claim in enumerate(parsed):
            read = claim.data if claim.data is not None else claim.error
            if read is None:
                read = InvalidArgument("the claim could not be read", "claim")
            batch.append(commands.import_item(claim_request_id(job_id, start + offset), claim,
                                              read, candidates or {}))
        outcomes = self.app.import_claims(ctx, ImportClaims(tuple(batch)))
        stored = rejected = 0
        findings: list[JobFinding] = []
        for outcome in outcomes:
            if not outcome.errors:
                stored += 1
                continue
            rejected += 1
            position = start + outcome.index
            prefix = f"items[{outcome.index}]."
            plain = [f for f in parsed[outcome.index].findings if f.blocking]
            for note in plain:  # the reader's own words: segment, position, rule, value
                findings.append(JobFinding(position, note.location, note.field or note.element,
                                           note.text()))
            if plain:
                continue
            for violation in outcome.errors:
                findings.append(JobFinding(
                    position,
                    parsed[outcome.index].location,
                    violation.field.removeprefix(prefix),
                    violation.description,
                ))
        return BatchResult(stored=stored, rejected=rejected, findings=tuple(findings))
