"""Use cases of the AuditService: replay, as-of state, verification, proofs and export.

Every read is scoped to the caller's tenant in SQL (chains are keyed by tenant as well), and
every use case needs the `auditor` or `admin` role (`require_role`, services/common/auth.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from services.common.auth import ADMIN, AUDITOR, require_role
from services.common.context import CommandContext
from services.common.errors import (
    DataLoss,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from services.ledger.adapters.checkpointer import Checkpointer
from services.ledger.adapters.replay_rows import ReplayRow
from services.ledger.adapters.report_html import render_html
from services.ledger.adapters.report_pdf import render_pdf
from services.ledger.adapters.sql_reader import LogReader
from services.ledger.adapters.witness import Witness
from services.ledger.domain.bundle import Bundle
from services.ledger.domain.chain_verification import AnchoredVerdict, verify_anchored
from services.ledger.domain.checkpoint import (
    ChainHead,
    SignedChainHead,
    SignedCheckpoint,
    witness_disagreements,
)
from services.ledger.domain.claim_state import ClaimState, fold_claim
from services.ledger.domain.entry import AuditEntry, claim_chain, format_instant
from services.ledger.domain.report import ClaimReport, Verification, build_report
from services.ledger.domain.signing import Signer

AUDIT_ROLES = (AUDITOR, ADMIN)
MAX_ID_LENGTH = 200
TENANT_CHUNK = 500
"""Entries per message of a tenant replay (each carries its inclusion proof)."""
T = TypeVar("T")
REPORT_RENDERERS: dict[str, tuple[Callable[[ClaimReport], bytes], str]] = {
    "pdf": (render_pdf, "application/pdf"),
    "html": (render_html, "text/html; charset=utf-8"),
}


@dataclass(frozen=True)
class ClaimVerification:
    verdict: AnchoredVerdict
    log_problems: list[str]
    checkpoint: SignedCheckpoint | None

    @property
    def ok(self) -> bool:
        return self.verdict.ok and not self.log_problems


@dataclass(frozen=True)
class TenantLog:
    """What a tenant replay is proven against."""

    tenant_id: str
    checkpoint: SignedCheckpoint
    log_size: int
    problems: list[str]


@dataclass(frozen=True)
class ChainChunk:
    """Consecutive entries of one chain with their proofs; `head` closes the chain."""

    chain: str
    entries: list[AuditEntry]
    proofs: dict[int, list[bytes]]
    stored_leaves: dict[int, bytes]
    head: SignedChainHead | None
    ends_chain: bool


@dataclass(frozen=True)
class RenderedReport:
    content: bytes
    content_type: str
    file_name: str
    status: str


@dataclass(frozen=True)
class InclusionProof:
    entry: AuditEntry
    hashes: list[bytes]
    checkpoint: SignedCheckpoint


@dataclass(frozen=True)
class ConsistencyProof:
    hashes: list[bytes]
    first_size: int
    first: SignedCheckpoint | None
    second: SignedCheckpoint


class AuditApplication:
    def __init__(
        self,
        reader: LogReader,
        checkpointer: Checkpointer,
        signer: Signer,
        origin: str,
        retired_keys: Iterable[bytes] = (),
        witness: Witness | None = None,
    ) -> None:
        self.witness = witness
        self.reader = reader
        self.checkpointer = checkpointer
        self.signer = signer
        # Checkpoints signed before a key rotation stay trusted when their key is listed.
        self.trusted_keys = frozenset({signer.public_key, *retired_keys})
        self.origin = origin

    # -- reads of one claim ------------------------------------------------------------------

    async def replay(
        self, ctx: CommandContext, claim_id: str, up_to: datetime | None = None
    ) -> list[AuditEntry]:
        return await self._read_chain(ctx, claim_id, up_to, self.reader.chain_entries)

    async def replay_rows(
        self, ctx: CommandContext, claim_id: str, up_to: datetime | None = None
    ) -> list[ReplayRow]:
        """replay's entries as rows ReplayClaim sends as they are (adapters/replay_rows.py)."""
        return await self._read_chain(ctx, claim_id, up_to, self.reader.replay_rows)

    async def _read_chain(
        self, ctx: CommandContext, claim_id: str, up_to: datetime | None,
        read: Callable[[str, str, datetime | None], Awaitable[list[T]]],
    ) -> list[T]:
        """The claim's chain up to `up_to`, read by `read`; none is NOT_FOUND or
        FAILED_PRECONDITION, said by `_explain_empty`."""
        _require_auditor(ctx)
        _require_id(claim_id, "claim_id")
        found = await read(ctx.tenant_id, self._chain(ctx, claim_id), up_to)
        if not found:
            await self._explain_empty(ctx, claim_id, up_to, "up_to")
        return found

    async def state_as_of(
        self, ctx: CommandContext, claim_id: str, as_of: datetime | None = None
    ) -> ClaimState:
        moment = as_of or ctx.now
        entries = await self.replay(ctx, claim_id, moment)
        return fold_claim(claim_id, entries, moment)

    async def verify(self, ctx: CommandContext, claim_id: str) -> ClaimVerification:
        _require_auditor(ctx)
        _require_id(claim_id, "claim_id")
        chain = self._chain(ctx, claim_id)
        entries = await self.reader.chain_entries(ctx.tenant_id, chain)
        if not entries:
            raise NotFound(f"claim {claim_id} has no audit entries")
        checkpoint = await self.reader.latest_checkpoint()
        proofs: dict[int, list[bytes]] = {}
        problems = [
            f"the appender halted this chain on {format_instant(at)}: {detail}"
            for at, detail in await self.reader.integrity_findings(chain)
        ]
        if checkpoint is not None:
            if error := self._untrusted(checkpoint):
                problems.append(f"latest checkpoint: {error}")
            size = checkpoint.checkpoint.tree_size
            anchored = [e.log_index for e in entries if 0 <= e.log_index < size]
            proofs = await self.reader.inclusion_proofs(anchored, size)
            missing = await self.reader.missing_log_indexes(size)
            problems.extend(
                f"log index {index} is missing although the signed checkpoint of size {size} "
                "covers it: an entry was deleted"
                for index in missing
            )
        signed_size = checkpoint.checkpoint.tree_size if checkpoint else 0
        log_size = await self.reader.tree_size()
        problems.extend(await self._witness_disagreements(log_size))
        unsigned = [e.log_index for e in entries if signed_size <= e.log_index < log_size]
        verdict = verify_anchored(
            chain,
            entries,
            checkpoint.checkpoint if checkpoint else None,
            proofs,
            log_size=log_size,
            stored_leaves=await self.reader.leaves(unsigned),
        )
        return ClaimVerification(verdict, problems, checkpoint)

    async def export(self, ctx: CommandContext, claim_id: str) -> Bundle:
        _require_auditor(ctx)
        _require_id(claim_id, "claim_id")
        chain = self._chain(ctx, claim_id)
        entries = await self.reader.chain_entries(ctx.tenant_id, chain)
        if not entries:
            raise NotFound(f"claim {claim_id} has no audit entries")
        signed = await self.checkpointer.checkpoint(at_least=entries[-1].log_index + 1)
        if signed is None:
            raise FailedPrecondition("the log has no checkpoint yet")
        size = signed.checkpoint.tree_size
        # Re-read so the bundle is exactly the chain as the checkpoint covers it.
        covered = [
            e for e in await self.reader.chain_entries(ctx.tenant_id, chain) if e.log_index < size
        ]
        last = covered[-1]
        head = ChainHead(self.origin, ctx.tenant_id, chain, last.chain_seq, last.entry_hash, size)
        proofs = await self.reader.inclusion_proofs([e.log_index for e in covered], size)
        return Bundle(
            tenant_id=ctx.tenant_id,
            claim_id=claim_id,
            chain=chain,
            checkpoint=signed,
            chain_head=SignedChainHead.sign(head, self.signer),
            entries=covered,
            proofs=proofs,
        )

    async def report(
        self, ctx: CommandContext, claim_id: str, fmt: str, as_of: datetime | None = None
    ) -> RenderedReport:
        """The printable audit report: state as of `as_of` (default now), verification now."""
        if fmt not in REPORT_RENDERERS:
            raise InvalidArgument(f"must be one of {', '.join(REPORT_RENDERERS)}", field="format")
        moment = as_of or ctx.now
        entries = await self.replay(ctx, claim_id, moment)
        refused: list[str] = []
        try:
            await self.checkpointer.checkpoint()  # the report rests on a head covering the claim
        except DataLoss as exc:  # the log was altered: the report says so (BROKEN)
            refused.append(f"no new checkpoint is signed: {exc}")
        verification = await self.verify(ctx, claim_id)
        if refused:
            verification = replace(
                verification, log_problems=[*verification.log_problems, *refused]
            )
        report = build_report(claim_id, entries, _report_verification(verification), moment)
        render, content_type = REPORT_RENDERERS[fmt]
        return RenderedReport(
            render(report), content_type, f"{report.file_stem}.{fmt}",
            report.verification.status,
        )

    # -- the log as a whole ------------------------------------------------------------------

    async def checkpoint(self, ctx: CommandContext, tree_size: int = 0) -> SignedCheckpoint:
        _require_auditor(ctx)
        if tree_size < 0:
            raise InvalidArgument("must not be negative", field="tree_size")
        found = (
            await self.reader.checkpoint_of_size(tree_size)
            if tree_size
            else await self.checkpointer.checkpoint()
        )
        if found is None:
            raise NotFound(
                f"no checkpoint of size {tree_size}" if tree_size else "the log is empty"
            )
        return found

    async def witnessed_checkpoints(
        self, ctx: CommandContext, since_tree_size: int = 0
    ) -> list[SignedCheckpoint]:
        _require_auditor(ctx)
        if since_tree_size < 0:
            raise InvalidArgument("must not be negative", field="since_tree_size")
        if self.witness is None:
            raise FailedPrecondition("this ledger has no checkpoint witness configured")
        return await self.witness.history(since_tree_size)

    async def _witness_disagreements(self, log_size: int) -> list[str]:
        if self.witness is None:
            return []
        witnessed = await self.witness.latest()
        if witnessed is None:
            return []
        stored = await self.reader.checkpoint_of_size(witnessed.checkpoint.tree_size)
        found = witness_disagreements(witnessed, stored, log_size)
        return [f"witness: {problem}" for problem in found]

    async def inclusion(
        self, ctx: CommandContext, event_id: str, tree_size: int = 0
    ) -> InclusionProof:
        _require_auditor(ctx)
        _require_id(event_id, "event_id")
        if tree_size < 0:
            raise InvalidArgument("must not be negative", field="tree_size")
        entry = await self.reader.entry_of_event(ctx.tenant_id, event_id)
        if entry is None:
            raise NotFound(f"event {event_id} is not in the audit log")
        if tree_size:
            signed = await self.reader.checkpoint_of_size(tree_size)
            if signed is None:
                raise NotFound(f"no checkpoint of size {tree_size}")
            if entry.log_index >= tree_size:
                raise FailedPrecondition(
                    f"event {event_id} was appended at index {entry.log_index}, after the "
                    f"checkpoint of size {tree_size}"
                )
        else:
            latest = await self.checkpointer.checkpoint(at_least=entry.log_index + 1)
            if latest is None:
                raise FailedPrecondition("the log has no checkpoint yet")
            signed = latest
        size = signed.checkpoint.tree_size
        proofs = await self.reader.inclusion_proofs([entry.log_index], size)
        return InclusionProof(entry, proofs[entry.log_index], signed)

    async def consistency(
        self, ctx: CommandContext, first_size: int, second_size: int = 0
    ) -> ConsistencyProof:
        _require_auditor(ctx)
        if first_size <= 0:
            raise InvalidArgument("must be a positive tree size", field="first_tree_size")
        if second_size < 0:
            raise InvalidArgument("must not be negative", field="second_tree_size")
        if second_size:
            second = await self.reader.checkpoint_of_size(second_size)
            if second is None:
                raise NotFound(f"no checkpoint of size {second_size}")
        else:
            latest = await self.checkpointer.checkpoint()
            if latest is None:
                raise NotFound("the log is empty")
            second = latest
        size = second.checkpoint.tree_size
        if first_size > size:
            raise InvalidArgument(
                f"must not exceed the second tree size {size}", field="first_tree_size"
            )
        hashes = await self.reader.consistency_proof(first_size, size)
        first = await self.reader.checkpoint_of_size(first_size)
        return ConsistencyProof(hashes, first_size, first, second)

    async def tenant_log(self, ctx: CommandContext, tree_size: int = 0) -> TenantLog:
        """The checkpoint a tenant replay is proven against, and the problems already known."""
        refused: list[str] = []
        try:
            signed = await self.checkpoint(ctx, tree_size)
        except DataLoss as exc:
            # The checkpointer will not vouch for an altered tree: prove against the last
            # checkpoint it did sign, and say why nothing newer is signed.
            latest = await self.reader.latest_checkpoint()
            if latest is None:
                raise
            signed, refused = latest, [f"no new checkpoint is signed: {exc}"]
        size = signed.checkpoint.tree_size
        problems = refused + [
            f"chain {chain}: the appender halted it on {format_instant(at)}: {detail}"
            for chain, at, detail in await self.reader.tenant_integrity_findings(ctx.tenant_id)
        ]
        if error := self._untrusted(signed):
            problems.append(f"checkpoint: {error}")
        problems.extend(
            f"log index {index} is missing although the signed checkpoint of size {size} "
            "covers it: an entry was deleted"
            for index in await self.reader.missing_log_indexes(size)
        )
        return TenantLog(ctx.tenant_id, signed, await self.reader.tree_size(), problems)

    async def tenant_chains(
        self, ctx: CommandContext, log: TenantLog
    ) -> AsyncIterator[ChainChunk]:
        """Every chain of the tenant, in chunks, each entry with its proof (or, beyond the
        checkpoint, its stored leaf) and each chain closed by a signed head."""
        size = log.checkpoint.checkpoint.tree_size
        last_covered: AuditEntry | None = None
        async for batch in self.reader.tenant_batches(ctx.tenant_id, size, TENANT_CHUNK):
            covered = [e for e in batch.entries if 0 <= e.log_index < size]
            last_covered = covered[-1] if covered else last_covered
            head = None
            if batch.ends_chain and last_covered is not None:
                head = SignedChainHead.sign(
                    ChainHead(
                        self.origin, ctx.tenant_id, batch.entries[0].chain,
                        last_covered.chain_seq, last_covered.entry_hash, size,
                    ),
                    self.signer,
                )
            yield ChainChunk(
                batch.entries[0].chain, batch.entries, batch.proofs, batch.stored_leaves, head,
                batch.ends_chain,
            )
            if batch.ends_chain:
                last_covered = None

    # -- helpers -----------------------------------------------------------------------------

    def _untrusted(self, signed: SignedCheckpoint) -> str | None:
        if error := signed.check(None):
            return error
        if signed.signature.public_key not in self.trusted_keys:
            return f"signed by key {signed.signature.key_id}, which this ledger does not trust"
        return None

    @staticmethod
    def _chain(ctx: CommandContext, claim_id: str) -> str:
        return claim_chain(ctx.tenant_id, claim_id)

    async def _explain_empty(
        self, ctx: CommandContext, claim_id: str, moment: datetime | None, field: str
    ) -> None:
        if moment is not None:
            everything = await self.reader.chain_entries(ctx.tenant_id, self._chain(ctx, claim_id))
            if everything:
                first = everything[0].facts.occurred_at
                raise FailedPrecondition(
                    f"claim {claim_id} did not exist yet at {format_instant(moment)}: its first "
                    f"event occurred at {format_instant(first)} ({field})"
                )
        raise NotFound(f"claim {claim_id} has no audit entries")


def _require_auditor(ctx: CommandContext) -> None:
    require_role(ctx, AUDIT_ROLES, "the audit trail")


def _require_id(value: str, field: str) -> None:
    if not value.strip():
        raise InvalidArgument("is required", field=field)
    if len(value) > MAX_ID_LENGTH:
        raise InvalidArgument(f"must be at most {MAX_ID_LENGTH} characters", field=field)


def _report_verification(result: ClaimVerification) -> Verification:
    verdict, signed = result.verdict, result.checkpoint
    return Verification(
        status=verdict.status(result.log_problems).name,
        entries_checked=verdict.chain.entries_checked,
        entries_anchored=verdict.anchored,
        entries_pending=verdict.pending,
        checkpoint_size=signed.checkpoint.tree_size if signed else None,
        checkpoint_root=signed.checkpoint.root_hash if signed else b"",
        checkpoint_issued_at=signed.checkpoint.issued_at if signed else None,
        key_id=signed.signature.key_id if signed else "",
        breaks=[(b.log_index, b.kind.value, b.describe()) for b in verdict.chain.breaks],
        log_problems=list(result.log_problems),
    )
