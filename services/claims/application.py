"""Claims use cases: load the claim of the caller's tenant, run one domain command, save.

Synchronous (the eventsourcing library is); the gRPC layer runs these in a worker pool.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from services.claims import event_data
from services.claims.appeals import AppealChannel, AppealLevel, AppealOutcome
from services.claims.clean_claim import CleanClaimReport
from services.claims.domain import AppealRecord, Claim
from services.claims.model import (
    Adjudication,
    ClaimData,
    ClaimStatus,
    Document,
    DocumentKind,
    Frequency,
)
from services.claims.published import LANGUAGE
from services.claims.triage import TriageDecision, TriagePolicy
from services.common.context import CommandContext
from services.common.errors import AlreadyExists, Conflict, FieldViolation, InvalidArgument
from services.common.eventstore import ServiceApplication
from services.common.group_commit import GroupCommitter
from services.common.ids import deterministic_id
from services.common.settings import Settings
from services.common.wire import canonical_json

# Claims per Application.save in bulk intake: one transaction, one round of inserts.
IMPORT_BATCH_SIZE = 500


@dataclass(frozen=True)
class ImportOutcome:
    index: int
    claim_id: str = ""
    created: bool = False
    errors: tuple[FieldViolation, ...] = ()


def creation_context(ctx: CommandContext, request_id: str, data: ClaimData) -> CommandContext:
    """The context a claim is registered under. Its fingerprint is the claim's data, not the
    whole request: the same claim under the same request id is a retry whichever call carries
    it (RegisterClaim, an ImportClaims item, a resumed import with more items)."""
    stated = {"claim": event_data.claim_to_dict(data),
              "patient": event_data.patient_to_dict(data.patient)}
    return ctx.with_request(request_id, hashlib.sha256(canonical_json(stated)).hexdigest())


def _parse_uuid(value: str, field: str = "claim_id") -> UUID:
    try:
        return UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise InvalidArgument("not a claim id (UUID)", field) from None


class ClaimsApplication(ServiceApplication):
    """The claims service's event store and use cases."""

    published_language = LANGUAGE  # its integration events leave as contracts (published.py)

    def __init__(self, settings: Settings, env: dict[str, str] | None = None) -> None:
        super().__init__(settings, env)
        self._bulk_saver = ThreadPoolExecutor(max_workers=2, thread_name_prefix="claims-bulk")
        self._creations = GroupCommitter(self.save_events)

    def close(self) -> None:
        self._creations.close()
        self._bulk_saver.shutdown(wait=True)
        super().close()

    def claim_id_for(self, ctx: CommandContext) -> UUID:
        return deterministic_id(ctx.tenant_id, "claim", ctx.request_id)

    def get_claim(self, ctx: CommandContext, claim_id: str) -> Claim:
        return self.load(_parse_uuid(claim_id), ctx.tenant_id, Claim)

    def _load_for_write(self, ctx: CommandContext, claim_id: str, expected_version: int) -> Claim:
        claim = self.get_claim(ctx, claim_id)
        if expected_version and expected_version != claim.version and not claim.has_handled(ctx):
            raise Conflict(
                f"claim is at version {claim.version}, not {expected_version}: re-read and retry"
            )
        return claim

    # -- intake -----------------------------------------------------------------------------
    def register_claim(self, ctx: CommandContext, data: ClaimData) -> tuple[Claim, bool]:
        ctx = creation_context(ctx, ctx.request_id, data)
        claim_id = self.claim_id_for(ctx)
        claim = Claim.register(ctx, claim_id, data)
        events = claim.collect_events()
        try:
            self._creations.save(events)
        except Conflict:
            # A retry of the same request id: the claim exists (the id is the primary key).
            # AlreadyExists when the id was first used for a different claim.
            existing = self.load(claim_id, ctx.tenant_id, Claim)
            existing.has_handled(ctx)
            return existing, False
        return claim, True

    def import_claims(
        self,
        ctx: CommandContext,
        items: Sequence[tuple[str, ClaimData | InvalidArgument]],
    ) -> list[ImportOutcome]:
        """Register many claims; each item is (request id, data or the reason it was unreadable).

        Valid claims are saved IMPORT_BATCH_SIZE at a time in one `save` (one transaction);
        a retried batch falls back to per-claim lookups and reports the existing claims.
        """
        outcomes: list[ImportOutcome | None] = [None] * len(items)
        pending: list[tuple[int, Claim]] = []
        seen: dict[UUID, int] = {}
        for index, (request_id, data) in enumerate(items):
            prefix = f"items[{index}]."
            if isinstance(data, InvalidArgument):
                outcomes[index] = ImportOutcome(index, errors=tuple(data.violations))
                continue
            item_ctx = creation_context(ctx, request_id, data)
            claim_id = self.claim_id_for(item_ctx)
            if claim_id in seen:  # the same request id twice in one call: one claim
                outcomes[index] = ImportOutcome(index, str(claim_id), False)
                continue
            try:
                claim = Claim.register(item_ctx, claim_id, data, field_prefix=prefix + "claim.")
            except InvalidArgument as exc:
                outcomes[index] = ImportOutcome(index, errors=tuple(exc.violations))
                continue
            seen[claim_id] = index
            pending.append((index, claim))
        batches = [
            pending[start : start + IMPORT_BATCH_SIZE]
            for start in range(0, len(pending), IMPORT_BATCH_SIZE)
        ]
        # Two batches in flight: one encodes (CPU) while the other is written (I/O).
        for saved in self._bulk_saver.map(lambda batch: self._save_batch(ctx, batch), batches):
            for index, claim_id, created in saved:
                if isinstance(created, AlreadyExists):
                    reused = FieldViolation(f"items[{index}].request_id", str(created))
                    outcomes[index] = ImportOutcome(index, errors=(reused,))
                else:
                    outcomes[index] = ImportOutcome(index, str(claim_id), created)
        return [o for o in outcomes if o is not None]

    def _save_batch(
        self, ctx: CommandContext, batch: list[tuple[int, Claim]]
    ) -> list[tuple[int, UUID, bool | AlreadyExists]]:
        # Collected once: a failed save drains an aggregate's pending events.
        events = {index: claim.collect_events() for index, claim in batch}
        try:
            self.save_events([e for index, _ in batch for e in events[index]])
            return [(index, claim.id, True) for index, claim in batch]
        except (Conflict, AlreadyExists):
            pass  # a retried import: some claims of this batch exist; handled below
        # Some claims already exist (a retried import): save only the new ones; an item whose
        # request id registered a different claim is refused (AlreadyExists, reported per item).
        outcomes: list[tuple[int, UUID, bool | AlreadyExists]] = []
        fresh: set[int] = set()
        for index, claim in batch:
            existing = self.find(claim.id, ctx.tenant_id, Claim)
            if existing is None:
                fresh.add(index)
                outcomes.append((index, claim.id, True))
                continue
            reused = [
                request_id
                for request_id, fingerprint in claim.request_fingerprints.items()
                if existing.recorded_fingerprint(request_id) not in ("", fingerprint)
            ]
            if reused:
                outcomes.append((index, claim.id, AlreadyExists(
                    f"request_id {reused[0]} was already used for a different claim"
                )))
            else:
                outcomes.append((index, claim.id, False))
        if fresh:
            self.save_events([e for index, _ in batch if index in fresh for e in events[index]])
        return outcomes

    def save_events(self, events: Sequence[Any]) -> None:
        """Save already-collected events in one transaction (version clash → Conflict)."""
        try:
            self.save(*events)
        except IntegrityError as exc:
            raise Conflict("concurrent modification; re-read and retry") from exc

    # -- commands on one claim --------------------------------------------------------------
    def record_adjudication(
        self, ctx: CommandContext, claim_id: str, adjudication: Adjudication, expected_version: int
    ) -> Claim:
        claim = self._load_for_write(ctx, claim_id, expected_version)
        claim.record_adjudication(ctx, adjudication)
        self.save_all(claim)
        return claim

    def attach_document(
        self,
        ctx: CommandContext,
        claim_id: str,
        kind: DocumentKind,
        sha256: str,
        location: str,
        size_bytes: int,
        expected_version: int,
    ) -> tuple[Claim, str]:
        claim = self._load_for_write(ctx, claim_id, expected_version)
        document_id = str(
            deterministic_id(ctx.tenant_id, "document", f"{claim.id}:{kind.value}:{sha256}")
        )
        claim.attach_document(
            ctx, Document(document_id, kind, sha256.strip(), location.strip(), size_bytes)
        )
        self.save_all(claim)
        return claim, document_id

    def triage_claim(
        self, ctx: CommandContext, claim_id: str, policy: TriagePolicy, expected_version: int
    ) -> tuple[Claim, TriageDecision]:
        claim = self._load_for_write(ctx, claim_id, expected_version)
        decision = claim.triage_claim(ctx, policy)
        self.save_all(claim)
        return claim, decision

    def check_clean_claim(
        self, ctx: CommandContext, claim_id: str, expected_version: int
    ) -> tuple[Claim, CleanClaimReport]:
        claim = self._load_for_write(ctx, claim_id, expected_version)
        report = claim.check_clean(ctx)
        self.save_all(claim)
        return claim, report

    def submit_corrected_claim(
        self,
        ctx: CommandContext,
        original_claim_id: str,
        frequency: Frequency,
        corrected: ClaimData | None,
        reason: str,
        expected_version: int,
    ) -> tuple[Claim, Claim]:
        """A replacement (7) or void (8): a new claim linked to the original, saved together."""
        original = self._load_for_write(ctx, original_claim_id, expected_version)
        new_id = self.claim_id_for(ctx)
        existing = self.find(new_id, ctx.tenant_id, Claim)
        if existing is not None and existing.original_claim_id == str(original.id):
            return original, existing  # a retry
        original.check_correctable(frequency, reason)
        if frequency is Frequency.REPLACEMENT and corrected is None:
            raise InvalidArgument("a replacement needs the corrected claim", "corrected")
        data = corrected if frequency is Frequency.REPLACEMENT and corrected else original.data
        if data.patient_control_number != original.data.patient_control_number:
            raise InvalidArgument(
                "a correction keeps the original patient control number",
                "corrected.patient_control_number",
            )
        replacement = Claim.register(
            ctx,
            new_id,
            data,
            frequency=frequency,
            original=original,
            correction_reason=reason.strip(),
            field_prefix="corrected.",
        )
        original.supersede(ctx, frequency, new_id, reason.strip())
        self.save_all(original, replacement)
        return original, replacement

    def file_appeal(
        self,
        ctx: CommandContext,
        claim_id: str,
        level: AppealLevel,
        grounds: str,
        cited_document_ids: tuple[str, ...],
        channel: AppealChannel,
        adverse_determination_date: date | None,
        expected_version: int,
    ) -> tuple[Claim, AppealRecord]:
        claim = self._load_for_write(ctx, claim_id, expected_version)
        appeal_id = str(deterministic_id(ctx.tenant_id, "appeal", ctx.request_id))
        record = claim.file_appeal(
            ctx,
            appeal_id,
            level,
            grounds.strip(),
            cited_document_ids,
            channel,
            adverse_determination_date,
        )
        self.save_all(claim)
        return claim, record

    def record_appeal_decision(
        self,
        ctx: CommandContext,
        claim_id: str,
        appeal_id: str,
        outcome: AppealOutcome,
        decision_date: date,
        additional_paid_cents: int,
        expected_version: int,
    ) -> tuple[Claim, AppealRecord]:
        claim = self._load_for_write(ctx, claim_id, expected_version)
        record = claim.record_appeal_decision(
            ctx, appeal_id, outcome, decision_date, additional_paid_cents, TriagePolicy()
        )
        self.save_all(claim)
        return claim, record

    def reach_stage(
        self, ctx: CommandContext, claim_id: str, stage: ClaimStatus, source: str
    ) -> Claim:
        claim = self.get_claim(ctx, claim_id)
        claim.reach_stage(ctx, stage, source)
        return claim
