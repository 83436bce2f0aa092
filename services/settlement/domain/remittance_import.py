"""Aggregates of the remittance side: the imported file, each 835 transaction, each exception.

`RemittanceFile` is keyed by the content hash (the same bytes twice is a no-op); `Remittance`
by payer and TRN trace number (the same payment from a different file is refused);
`RemittanceChunk` is one bounded slice of a remittance's claims, posted in its own transaction
with the remittance-level journal of those claims; `UnmatchedClaimPayment` keeps a CLP that
could not be posted until someone resolves it; `UnmatchedServiceLine` keeps an SVC of a posted
CLP that names no single 837 line (rule 5).

Every event here is bounded whatever the size of the file (docs/decisions.md, "Bounded
messages"): no event lists the claims, journal or warnings of a whole file.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.ids import deterministic_id
from services.settlement.domain.journal import JournalTransaction
from services.settlement.domain.remittance import Remittance


def file_id_for(tenant_id: str, content_sha256: str) -> UUID:
    return deterministic_id(tenant_id, "remittance-file", content_sha256)


def remittance_id_for(tenant_id: str, payer_key: str, trace_number: str) -> UUID:
    return deterministic_id(tenant_id, "remittance", f"{payer_key}\x1f{trace_number}")


def chunk_id_for(tenant_id: str, remittance_id: UUID, number: int) -> UUID:
    return deterministic_id(tenant_id, "remittance-chunk", f"{remittance_id}:{number}")


# Claims per chunk (one transaction, one RemittanceChunkPosted). A constant, not a setting: a
# retried import must cut the file exactly as the interrupted one did. 200 unapplied-cash
# journal entries and warnings stay far below the 256 KiB event budget.
CLAIMS_PER_CHUNK = 200
# A quarantined file keeps this many reasons in its event (the response carries them all).
MAX_RECORDED_REASONS = 100


class RemittanceFile(TenantAggregate):
    class RemittanceFileReceived(TenantAggregate.Created):
        content_sha256: str
        file_name: str
        size_bytes: int

    class RemittanceFileAccepted(TenantAggregate.Event):
        """v2: the warnings travel on each chunk (the claims they are about); here their count.
        A v1 event keeps its inline `warnings` list."""

        class_version = 2
        remittance_ids: list[str]  # one per 835 transaction (ST..SE) of the file
        trace_numbers: list[str]
        warning_count: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["warning_count"] = len(state.get("warnings", []))

        def apply(self, aggregate: RemittanceFile) -> None:
            aggregate.outcome = "accepted"
            aggregate.remittance_ids = list(self.remittance_ids)

    class RemittanceFileQuarantined(TenantAggregate.Event):
        """v2: at most MAX_RECORDED_REASONS reasons (the last says how many more), and the
        count; a file unbalanced on every claim must still fit one message."""

        class_version = 2
        reasons: list[str]
        reason_count: int
        trace_numbers: list[str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["reason_count"] = len(state["reasons"])

        def apply(self, aggregate: RemittanceFile) -> None:
            aggregate.outcome = "quarantined"
            aggregate.reasons = list(self.reasons)

    def __init__(self, content_sha256: str, file_name: str, size_bytes: int) -> None:
        self.content_sha256 = content_sha256
        self.file_name = file_name
        self.size_bytes = size_bytes
        self.outcome = ""
        self.reasons: list[str] = []
        self.remittance_ids: list[str] = []

    @classmethod
    def receive(
        cls, ctx: CommandContext, *, content_sha256: str, file_name: str, size_bytes: int
    ) -> RemittanceFile:
        return cls._start(
            cls.RemittanceFileReceived,
            ctx,
            id=file_id_for(ctx.tenant_id, content_sha256),
            content_sha256=content_sha256,
            file_name=file_name,
            size_bytes=size_bytes,
        )

    def accept(
        self, ctx: CommandContext, remittance_ids: list[str], trace_numbers: list[str],
        warning_count: int,
    ) -> None:  # fmt: skip
        self._record(
            self.RemittanceFileAccepted,
            ctx,
            remittance_ids=remittance_ids,
            trace_numbers=trace_numbers,
            warning_count=warning_count,
        )

    def quarantine(self, ctx: CommandContext, reasons: list[str], trace_numbers: list[str]) -> None:
        kept = list(reasons)
        if len(kept) > MAX_RECORDED_REASONS:
            more = len(kept) - MAX_RECORDED_REASONS + 1
            kept = [*kept[: MAX_RECORDED_REASONS - 1], f"... and {more} more reasons"]
        self._record(
            self.RemittanceFileQuarantined,
            ctx,
            reasons=kept,
            reason_count=len(reasons),
            trace_numbers=trace_numbers,
        )


class RemittanceRecord(TenantAggregate):
    """One posted 835 transaction: header totals and counts, recorded with its last chunk."""

    class RemittanceImported(TenantAggregate.Created):
        """v2: no journal; the remittance-level journal is on the RemittanceChunkPosted events
        (`chunk_count` of them). A v1 event keeps its inline `journal` (chunk_count 0)."""

        class_version = 2
        file_id: str
        trace_number: str
        payer_id: str
        payer_name: str
        payee_npi: str
        payment_method: str
        payment_date: date | None
        total_paid_cents: int
        claim_count: int
        matched_count: int
        exception_count: int
        chunk_count: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["chunk_count"] = 0

    def __init__(  # the RemittanceImported fields
        self,
        file_id: str,
        trace_number: str,
        payer_id: str,
        payer_name: str,
        payee_npi: str,
        payment_method: str,
        payment_date: date | None,
        total_paid_cents: int,
        claim_count: int,
        matched_count: int,
        exception_count: int,
        chunk_count: int,
    ) -> None:
        self.file_id = file_id
        self.trace_number = trace_number
        self.payer_id = payer_id
        self.total_paid_cents = total_paid_cents
        self.claim_count = claim_count
        self.matched_count = matched_count
        self.exception_count = exception_count
        self.payment_date = payment_date
        self.chunk_count = chunk_count

    @classmethod
    def record(
        cls,
        ctx: CommandContext,
        *,
        file_id: UUID,
        remittance: Remittance,
        matched_count: int,
        exception_count: int,
        chunk_count: int,
    ) -> RemittanceRecord:
        return cls._start(
            cls.RemittanceImported,
            ctx,
            id=remittance_id_for(ctx.tenant_id, remittance.payer_key, remittance.trace_number),
            file_id=str(file_id),
            trace_number=remittance.trace_number,
            payer_id=remittance.payer_key,
            payer_name=remittance.payer_name,
            payee_npi=remittance.payee_npi,
            payment_method=remittance.payment_method,
            payment_date=remittance.payment_date,
            total_paid_cents=remittance.total_paid_cents,
            claim_count=len(remittance.claims),
            matched_count=matched_count,
            exception_count=exception_count,
            chunk_count=chunk_count,
        )


class RemittanceChunk(TenantAggregate):
    """Claims `first_ordinal`..`last_ordinal` of one remittance, posted in one transaction with
    their settlement events; the last chunk also carries the PLB (provider-level) journal.
    Its existence is what makes a retried import skip the chunk."""

    class RemittanceChunkPosted(TenantAggregate.Created):
        remittance_id: str
        file_id: str
        trace_number: str
        number: int  # 1-based
        first_ordinal: int  # CLP ordinals covered (0..0 for a remittance without claims)
        last_ordinal: int
        matched_count: int
        exception_count: int
        journal: list[dict[str, Any]]  # unapplied cash of these claims; PLBs on the last chunk
        warnings: list[str]  # about these claims

    def __init__(  # the RemittanceChunkPosted fields
        self,
        remittance_id: str,
        file_id: str,
        trace_number: str,
        number: int,
        first_ordinal: int,
        last_ordinal: int,
        matched_count: int,
        exception_count: int,
        journal: list[dict[str, Any]],
        warnings: list[str],
    ) -> None:
        self.remittance_id = remittance_id
        self.file_id = file_id
        self.number = number
        self.matched_count = matched_count
        self.exception_count = exception_count

    @classmethod
    def record(
        cls,
        ctx: CommandContext,
        *,
        file_id: UUID,
        remittance_id: UUID,
        remittance: Remittance,
        number: int,
        matched_count: int,
        exception_count: int,
        journal: list[JournalTransaction],
        warnings: list[str],
    ) -> RemittanceChunk:
        ordinals = [c.ordinal for c in remittance.claims] or [0]
        return cls._start(
            cls.RemittanceChunkPosted,
            ctx,
            id=chunk_id_for(ctx.tenant_id, remittance_id, number),
            remittance_id=str(remittance_id),
            file_id=str(file_id),
            trace_number=remittance.trace_number,
            number=number,
            first_ordinal=min(ordinals),
            last_ordinal=max(ordinals),
            matched_count=matched_count,
            exception_count=exception_count,
            journal=[t.as_dict() for t in journal],
            warnings=warnings,
        )
