"""The 835 as an import job (services/common/import_jobs): the file is read and posted by the
existing use case, `SettlementApplication.import_remittance`, which is already resumable: it
posts each remittance in chunks of `CLAIMS_PER_CHUNK` claim payments, each chunk one
transaction under a deterministic id, and accepts the file last. A run again after a restart
(or a kill -9) finds the chunks committed before and skips them, so no payment posts twice.

Progress is measured beside the posting, never inside it: while the use case runs in the
worker pool, this adapter looks up which of the file's chunk ids are committed (their ids are
known in advance from the tenant, each remittance's payer and trace number and the chunk
number) and reports payments read, posted (matched to a claim) and sent to the exceptions
queue. Once posted, the job waits (phase "billing") for the fees service's fees on the posted
payments, counted from settlement's own read models (a `FeePosted` on the claim after the
payment), and ends when every paid claim has its fee or the count stops moving for
`fees_wait_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload
from uuid import UUID

import asyncpg

from oonledger.settlement.v1 import settlement_pb2 as pb
from services.common.context import CommandContext
from services.common.errors import InvalidArgument
from services.common.grpc_server import Blocking
from services.common.import_jobs import (
    JobFinding,
    JobOutcome,
    Progress,
    Report,
    WholeFileProcessorBase,
)
from services.settlement.adapters.bulk_loading import load_many
from services.settlement.adapters.projections import use_schema
from services.settlement.adapters.remittance_intake import prepare_import
from services.settlement.adapters.sql import SettlementReads
from services.settlement.application import (
    ImportOutcome,
    ImportRemittance,
    SettlementApplication,
)
from services.settlement.domain import (
    CLAIMS_PER_CHUNK,
    ClaimPayment,
    PreparedImport,
    RemittanceChunk,
    chunk_id_for,
    remittance_id_for,
)

KIND = "835"
PROGRESS_SECONDS = 0.5
DEFAULT_FEES_WAIT_SECONDS = 20.0
log = logging.getLogger(__name__)


def read_kind(request: pb.StartImportRequest) -> None:
    """Settlement imports 835s only: refuse another kind before the upload."""
    if request.kind.strip() not in ("", KIND):
        raise InvalidArgument(f"settlement imports 835 files only, not {request.kind!r}", "kind")


class PaymentsRead(Sequence[ClaimPayment]):
    """The file's claim payments (CLPs) in reading order, with the checked file they came
    from (what the posting use case takes)."""

    def __init__(self, prepared: PreparedImport) -> None:
        self.prepared = prepared
        self._claims = [c for r in prepared.remittances for c in r.claims]

    def __len__(self) -> int:
        return len(self._claims)

    @overload
    def __getitem__(self, index: int) -> ClaimPayment: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[ClaimPayment]: ...
    def __getitem__(self, index: int | slice) -> ClaimPayment | Sequence[ClaimPayment]:
        return self._claims[index]

    def __iter__(self) -> Iterator[ClaimPayment]:
        return iter(self._claims)


@dataclass(frozen=True)
class ChunkPlan:
    """The file's chunk ids as the use case will commit them, and the payments each holds."""

    payments: dict[UUID, int]

    @classmethod
    def of(cls, tenant_id: str, prepared: PreparedImport) -> ChunkPlan:
        payments: dict[UUID, int] = {}
        for remittance in prepared.remittances:
            rid = remittance_id_for(tenant_id, remittance.payer_key, remittance.trace_number)
            count = len(remittance.claims)
            for number in range(1, max(1, -(-count // CLAIMS_PER_CHUNK)) + 1):
                size = min(CLAIMS_PER_CHUNK, count - (number - 1) * CLAIMS_PER_CHUNK)
                payments[chunk_id_for(tenant_id, rid, number)] = max(size, 0)
        return cls(payments)


class Remittance835Import(WholeFileProcessorBase):
    kind = KIND
    empty_message = "the file holds no 835 claim payments (no CLP segment in any transaction)"

    def __init__(
        self, app: SettlementApplication, blocking: Blocking, reads: SettlementReads,
        pool: asyncpg.Pool, schema: str, fees_wait_seconds: float = DEFAULT_FEES_WAIT_SECONDS,
    ) -> None:  # fmt: skip
        self.app = app
        self.blocking = blocking
        self.reads = reads
        self.pool = pool
        self.schema = schema
        self.fees_wait_seconds = fees_wait_seconds

    async def read(self, content: bytes, params: bytes) -> Sequence[Any]:
        # A thread, not a process: the 835 reader is plain Python, so the event loop keeps
        # its turns (measured: at most 0.3 s between them while 20,000 CLPs are read).
        name = pb.StartImportRequest.FromString(params).file_name
        prepared = await self.blocking(prepare_import, content, name)
        return PaymentsRead(prepared)

    async def run(
        self, ctx: CommandContext, job_id: UUID, items: Sequence[Any], report: Report
    ) -> JobOutcome:
        assert isinstance(items, PaymentsRead)
        prepared = items.prepared
        plan = ChunkPlan.of(ctx.tenant_id, prepared)
        await report(Progress("matching"))  # finding the file's claims can take minutes
        claims = await self.reads.claim_index(ctx.tenant_id, prepared, self.app.phi_keys)
        posting = asyncio.ensure_future(
            self.blocking(self.app.import_remittance, ctx, ImportRemittance(prepared, claims))
        )
        tracker = _ChunkTracker(self, ctx.tenant_id, plan)
        while not posting.done():
            await asyncio.wait({posting}, timeout=PROGRESS_SECONDS)
            if not posting.done():
                await report(await tracker.progress())
        result = await posting
        if result.outcome == ImportOutcome.QUARANTINED:
            message = "the file was quarantined whole; nothing of it was posted"
            return JobOutcome(
                Progress("failed"),
                tuple(JobFinding(-1, "835", "", reason) for reason in result.reasons),
                f"{message}: {'; '.join(result.reasons)}",
            )
        posted = sum(r.matched_count for r in result.remittances)
        exceptions = sum(r.exception_count for r in result.remittances)
        warnings = tuple(JobFinding(-1, "835", "", w) for w in result.warnings)
        done = Progress("billing", len(items), posted, exceptions, posted, 0)
        await report(done)
        rids = [str(r.id) for r in result.remittances]
        billed, paid = await self._wait_for_fees(ctx.tenant_id, rids, done, report)
        if billed < paid:  # said, never a quiet "done": the job's findings and the log
            unbilled = (f"fees billed on {billed} of {paid} paid payments when the job ended "
                        f"(no new fee for {self.fees_wait_seconds:.0f} s); the rest are the fees "
                        "service's work: see the pipeline reconciliation")
            log.warning("835 job %s: %s", job_id, unbilled)
            warnings += (JobFinding(-1, "835", "", unbilled),)
        return JobOutcome(
            Progress("done", len(items), posted, exceptions, posted, billed), warnings
        )

    async def _wait_for_fees(
        self, tenant_id: str, remittance_ids: list[str], done: Progress, report: Report
    ) -> tuple[int, int]:
        """(billed, paid): fees on this file's payments as settlement knows them, once every
        paid claim has one or nothing moved for `fees_wait_seconds` (fees are the fees
        service's work)."""
        billed, moved = -1, time.monotonic()
        while True:
            paid, now_billed = await self.fees_billed(tenant_id, remittance_ids)
            if now_billed != billed:
                billed, moved = now_billed, time.monotonic()
                await report(Progress("billing", done.processed, done.stored, done.rejected,
                                      done.payments_posted, billed))
            if paid >= done.payments_posted and billed >= paid:
                return billed, paid
            if time.monotonic() - moved >= self.fees_wait_seconds:
                return billed, paid
            await asyncio.sleep(PROGRESS_SECONDS)

    async def fees_billed(self, tenant_id: str, remittance_ids: list[str]) -> tuple[int, int]:
        """(payments of these remittances in settlement's read model with money, how many of
        their claims have a fee posted after the payment): a reconciliation of settlement's
        own read models (payments, journal_transactions), not the fees service's tables."""
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            await use_schema(conn, self.schema)
            row = await conn.fetchrow(
                """SELECT count(*) AS paid, count(*) FILTER (WHERE EXISTS (
                        SELECT 1 FROM journal_transactions j
                        WHERE j.tenant_id = p.tenant_id AND j.claim_id = p.claim_id
                          AND j.event_type = 'FeePosted' AND j.seq > p.seq)) AS billed
                    FROM payments p
                    WHERE p.tenant_id = $1 AND p.remittance_id = ANY($2::text[])
                      AND p.amount_cents > 0 AND NOT p.reversed""",
                tenant_id, remittance_ids,
            )
        return int(row["paid"]), int(row["billed"])

    def committed_chunks(self, ids: list[UUID], tenant_id: str) -> dict[UUID, RemittanceChunk]:
        return load_many(self.app, ids, tenant_id, RemittanceChunk)


class _ChunkTracker:
    """What the posting has committed so far, from the chunk aggregates (each loaded once)."""

    def __init__(self, owner: Remittance835Import, tenant_id: str, plan: ChunkPlan) -> None:
        self.owner = owner
        self.tenant_id = tenant_id
        self.waiting = list(plan.payments)
        self.plan = plan
        self.processed = self.matched = self.exceptions = 0

    async def progress(self) -> Progress:
        if self.waiting:
            found = await self.owner.blocking(
                self.owner.committed_chunks, self.waiting, self.tenant_id
            )
            for chunk_id, chunk in found.items():
                self.processed += self.plan.payments[chunk_id]
                self.matched += chunk.matched_count
                self.exceptions += chunk.exception_count
            self.waiting = [c for c in self.waiting if c not in found]
        return Progress("posting", self.processed, self.matched, self.exceptions, self.matched)
