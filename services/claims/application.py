"""Claims use cases: typed commands in, the claim of the caller's tenant loaded, changed, saved.

Synchronous (the eventsourcing library is); the gRPC layer runs these in a worker pool. Each
use case takes one command (a frozen dataclass below) and checks the caller's role the way the
role table (services/common/auth.py) grants the claims methods: writes by negotiators and
admins, the 837 export also by finance; reads by every role. Reactions to other services'
events (`reach_stage`) run as the service itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from services.claims.commands import (  # the commands, re-exported for the adapters
    AttachDocument,
    CheckCleanClaim,
    FileAppeal,
    ImportClaims,
    ImportItem,
    ReachStage,
    RecordAdjudication,
    RecordAppealDecision,
    RecordNegotiationRefusal,
    RecordRemittedAdjudication,
    RegisterClaim,
    SubmitCorrectedClaim,
    TriageClaim,
    UpdateClaim,
    WithdrawClaim,
)
from services.claims.domain import (
    AppealRecord,
    Claim,
    ClaimData,
    CleanClaimReport,
    Document,
    Frequency,
    TriageDecision,
    TriagePolicy,
    canonical,
    event_data,
)
from services.claims.duplicate_guard import DuplicateClaim, DuplicateGuard
from services.claims.published import language
from services.common import auth
from services.common.auth import require_role
from services.common.context import CommandContext
from services.common.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
)
from services.common.eventstore import ServiceApplication
from services.common.group_commit import GroupCommitter
from services.common.ids import deterministic_id
from services.common.settings import Settings
from services.common.wire import canonical_json

# Claims per Application.save in bulk intake: one transaction, one round of inserts.
IMPORT_BATCH_SIZE = 500
# Who may change a claim, and who may export it (the role table's lines for ClaimsService).
WRITERS = (auth.NEGOTIATOR, auth.ADMIN)
EXPORTERS = (auth.NEGOTIATOR, auth.FINANCE, auth.ADMIN)




# -- results -----------------------------------------------------------------------------------
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


def _duplicate(index: int, claim_id: str) -> ImportOutcome:
    """A claim of a bulk import that duplicates an open claim: a finding of that claim only."""
    return ImportOutcome(index, errors=(FieldViolation(
        f"items[{index}].claim", "ALREADY_EXISTS: " + DuplicateClaim(claim_id).args[0]),))


def _parse_uuid(value: str, field: str = "claim_id") -> UUID:
    try:
        return UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise InvalidArgument("not a claim id (UUID)", field) from None


class ClaimsApplication(ServiceApplication):
    """The claims service's event store and use cases."""

    def __init__(self, settings: Settings, env: dict[str, str] | None = None) -> None:
        super().__init__(settings, env)
        # Its integration events leave as contracts (published.py), account identifiers
        # tokenized under the deployment's PHI key.
        self.published_language = language(settings.phi_keys())
        self._bulk_saver = ThreadPoolExecutor(max_workers=2, thread_name_prefix="claims-bulk")
        self._creations = GroupCommitter(self.save_events)
        self.duplicates = DuplicateGuard(self, settings.phi_keys())

    def close(self) -> None:
        self._creations.close()
        self._bulk_saver.shutdown(wait=True)
        super().close()

    def claim_id_for(self, ctx: CommandContext) -> UUID:
        return deterministic_id(ctx.tenant_id, "claim", ctx.request_id)

    def get_claim(self, ctx: CommandContext, claim_id: str) -> Claim:
        return self.load(_parse_uuid(claim_id), ctx.tenant_id, Claim)

    def claim_to_export(self, ctx: CommandContext, claim_id: str) -> Claim:
        """A claim for the 837 export: only a clean one (CheckCleanClaim found nothing
        blocking)."""
        require_role(ctx, EXPORTERS, "exporting an 837")
        claim = self.get_claim(ctx, claim_id)
        claim.check_exportable()
        if claim.clean_report is None or not claim.clean_report.clean:
            raise FailedPrecondition(
                "only a clean claim can be exported: run CheckCleanClaim and fix blocking findings"
            )
        return claim

    def _load_for_write(self, ctx: CommandContext, claim_id: str, expected_version: int) -> Claim:
        claim = self.get_claim(ctx, claim_id)
        if expected_version and expected_version != claim.version and not claim.has_handled(ctx):
            raise Conflict(
                f"claim is at version {claim.version}, not {expected_version}: re-read and retry"
            )
        return claim

    # -- intake -----------------------------------------------------------------------------
    def register_claim(self, ctx: CommandContext, command: RegisterClaim) -> tuple[Claim, bool]:
        require_role(ctx, WRITERS, "registering a claim")
        ctx = creation_context(ctx, ctx.request_id, command.data)
        claim_id = self.claim_id_for(ctx)
        claim = Claim.register(ctx, claim_id, command.data)
        token = self.duplicates.token(ctx.tenant_id, command.data, Frequency.ORIGINAL)
        # A retry of the same request id returns the claim; a duplicate of an open claim is
        # refused (DuplicateClaim, ALREADY_EXISTS naming it): duplicate_guard.py.
        return self.duplicates.save_new(
            ctx, claim, claim.collect_events(), token, self._creations.save)

    def import_claims(self, ctx: CommandContext, command: ImportClaims) -> list[ImportOutcome]:
        """Register many claims, each under its own request id (or the reason it was unreadable).

        Valid claims are saved IMPORT_BATCH_SIZE at a time in one `save` (one transaction);
        a retried batch falls back to per-claim lookups and reports the existing claims.
        """
        require_role(ctx, WRITERS, "importing claims")
        items = command.items
        outcomes: list[ImportOutcome | None] = [None] * len(items)
        pending: list[tuple[int, Claim, str]] = []
        seen: dict[UUID, int] = {}
        keys: dict[str, UUID] = {}  # duplicate key token -> the first claim of the call with it
        for index, item in enumerate(items):
            request_id, data = item.request_id, item.data
            prefix = f"items[{index}]."
            if isinstance(data, InvalidArgument):
                outcomes[index] = ImportOutcome(index, errors=tuple(data.violations))
                continue
            item_ctx = creation_context(ctx, request_id, data)
            claim_id = self.claim_id_for(item_ctx)
            if claim_id in seen:  # the same request id twice in one call: one claim
                outcomes[index] = ImportOutcome(index, str(claim_id), False)
                continue
            original = self._original_of(item_ctx, item)
            if original is not None:  # a 7/8 of a claim we hold: a correction of it
                outcomes[index] = self._import_correction(item_ctx, index, claim_id, original, item)
                seen[claim_id] = index
                continue
            try:
                claim = Claim.register(
                    item_ctx,
                    claim_id,
                    data,
                    frequency=item.frequency,
                    original_reference=item.original_reference,
                    field_prefix=prefix + "claim.",
                )
            except InvalidArgument as exc:
                outcomes[index] = ImportOutcome(index, errors=tuple(exc.violations))
                continue
            # From the stated data (its key fields are stored as stated): not decoding the
            # claim's stored form keeps bulk intake at its speed.
            token = self.duplicates.token(ctx.tenant_id, data, item.frequency)
            if token and keys.setdefault(token, claim_id) != claim_id:
                # Two identical claims in one file: the second is the duplicate.
                outcomes[index] = _duplicate(index, str(keys[token]))
                continue
            seen[claim_id] = index
            pending.append((index, claim, token))
        batches = [
            pending[start : start + IMPORT_BATCH_SIZE]
            for start in range(0, len(pending), IMPORT_BATCH_SIZE)
        ]
        # Two batches in flight: one encodes (CPU) while the other is written (I/O).
        for saved in self._bulk_saver.map(lambda batch: self._save_batch(ctx, batch), batches):
            for index, claim_id, created in saved:
                if isinstance(created, DuplicateClaim):
                    outcomes[index] = _duplicate(index, created.claim_id)
                elif isinstance(created, AlreadyExists):
                    reused = FieldViolation(f"items[{index}].request_id", str(created))
                    outcomes[index] = ImportOutcome(index, errors=(reused,))
                else:
                    outcomes[index] = ImportOutcome(index, str(claim_id), created)
        return [o for o in outcomes if o is not None]

    def _original_of(self, ctx: CommandContext, item: ImportItem) -> Claim | None:
        """The claim an imported 7/8 corrects: same PCN, and the payer's claim number of its
        adjudication is the file's REF*F8 (None when the tenant holds no such claim)."""
        reference = item.original_reference.strip()
        if item.frequency is Frequency.ORIGINAL or not reference:
            return None
        for candidate in item.original_candidates:
            claim = self.find(_parse_uuid(candidate), ctx.tenant_id, Claim)
            if claim is not None and claim.adjudication is not None and (
                claim.adjudication.payer_claim_control_number.strip() == reference
            ):
                return claim
        return None

    def _import_correction(
        self, ctx: CommandContext, index: int, claim_id: UUID, original: Claim, item: ImportItem
    ) -> ImportOutcome:
        """An imported 7/8 becomes a replacement/void of `original`, both saved together, as
        SubmitCorrectedClaim does; the same file again answers the same correction."""
        assert not isinstance(item.data, InvalidArgument)
        prefix = f"items[{index}]."
        by = original.replaced_by_claim_id
        if self.find(claim_id, ctx.tenant_id, Claim) is not None or by:
            existing = self.find(_parse_uuid(by), ctx.tenant_id, Claim) if by else None
            if existing is None or (existing.frequency is item.frequency
                                    and existing.data == canonical(item.data)):
                return ImportOutcome(index, str(existing.id if existing else claim_id), False)
            return ImportOutcome(index, errors=(FieldViolation(
                prefix + "claim.frequency", f"the original claim {original.id} was already "
                f"{original.status.value} by claim {by}: correct that claim instead"),))
        reason = f"837 import: frequency {item.frequency.value} of payer claim " \
                 f"{item.original_reference.strip()}"
        try:
            correction = Claim.register(
                ctx, claim_id, item.data, frequency=item.frequency, original=original,
                correction_reason=reason, original_reference=item.original_reference.strip(),
                field_prefix=prefix + "claim.",
            )
            original.supersede(ctx, item.frequency, claim_id, reason,
                               item.original_reference.strip())
            self.save_all(original, correction)
        except InvalidArgument as exc:
            return ImportOutcome(index, errors=tuple(exc.violations))
        except FailedPrecondition as exc:
            return ImportOutcome(index, errors=(
                FieldViolation(prefix + "claim.frequency", str(exc)),))
        return ImportOutcome(index, str(claim_id), True)

    def _save_batch(
        self, ctx: CommandContext, batch: list[tuple[int, Claim, str]]
    ) -> list[tuple[int, UUID, bool | AlreadyExists]]:
        # Collected once: a failed save drains an aggregate's pending events.
        events = {index: claim.collect_events() for index, claim, _ in batch}
        for index, _, token in batch:
            self.duplicates.reserve(events[index], token)
        try:
            self.save_events([e for index, _, _ in batch for e in events[index]])
            return [(index, claim.id, True) for index, claim, _ in batch]
        except (Conflict, AlreadyExists):
            pass  # a retried import, or a duplicate of a stored claim: handled below
        # Some claims already exist (a retried import): save only the new ones; an item whose
        # request id registered a different claim is refused (AlreadyExists, reported per item).
        outcomes: list[tuple[int, UUID, bool | AlreadyExists]] = []
        fresh: set[int] = set()
        for index, claim, _ in batch:
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
            try:
                self.save_events(
                    [e for index, _, _ in batch if index in fresh for e in events[index]])
            except (Conflict, AlreadyExists):
                # A duplicate of a stored claim among them: each on its own, so only it fails.
                return self._save_one_by_one(ctx, batch, events, fresh, outcomes)
        return outcomes

    def _save_one_by_one(
        self, ctx: CommandContext, batch: list[tuple[int, Claim, str]],
        events: dict[int, Sequence[Any]], fresh: set[int],
        outcomes: list[tuple[int, UUID, bool | AlreadyExists]],
    ) -> list[tuple[int, UUID, bool | AlreadyExists]]:
        saved: dict[int, bool | AlreadyExists] = {}
        for index, claim, token in batch:
            if index not in fresh:
                continue
            item_ctx = ctx.with_request(
                events[index][0].meta["request_id"],
                events[index][0].meta.get("request_fingerprint", ""))
            try:
                _, saved[index] = self.duplicates.save_new(
                    item_ctx, claim, events[index], token, self._creations.save)
            except AlreadyExists as exc:  # DuplicateClaim, or a request id reused
                saved[index] = exc
        return [(index, claim_id, saved.get(index, created))
                for index, claim_id, created in outcomes]

    def save_events(self, events: Sequence[Any]) -> None:
        """Save already-collected events in one transaction (version clash → Conflict)."""
        try:
            self.save(*events)
        except IntegrityError as exc:
            raise Conflict("concurrent modification; re-read and retry") from exc

    # -- commands on one claim --------------------------------------------------------------
    def record_adjudication(self, ctx: CommandContext, command: RecordAdjudication) -> Claim:
        require_role(ctx, WRITERS, "recording an adjudication")
        claim = self._load_for_write(ctx, command.claim_id, command.expected_version)
        claim.record_adjudication(ctx, command.adjudication)
        self.save_all(claim)
        return claim

    def attach_document(self, ctx: CommandContext, command: AttachDocument) -> tuple[Claim, str]:
        require_role(ctx, WRITERS, "attaching a document")
        claim = self._load_for_write(ctx, command.claim_id, command.expected_version)
        kind, sha256 = command.kind, command.sha256
        document_id = str(
            deterministic_id(ctx.tenant_id, "document", f"{claim.id}:{kind.value}:{sha256}")
        )
        claim.attach_document(ctx, Document(
            document_id, kind, sha256.strip(), command.location.strip(), command.size_bytes
        ))
        self.save_all(claim)
        return claim, document_id

    def triage_claim(
        self, ctx: CommandContext, command: TriageClaim
    ) -> tuple[Claim, TriageDecision]:
        require_role(ctx, WRITERS, "triaging a claim")
        claim = self._load_for_write(ctx, command.claim_id, command.expected_version)
        decision = claim.triage_claim(ctx, command.policy)
        self.save_all(claim)
        return claim, decision

    def check_clean_claim(
        self, ctx: CommandContext, command: CheckCleanClaim
    ) -> tuple[Claim, CleanClaimReport]:
        require_role(ctx, WRITERS, "checking a claim")
        claim = self._load_for_write(ctx, command.claim_id, command.expected_version)
        report = claim.check_clean(ctx)
        self.save_all(claim)
        return claim, report

    def submit_corrected_claim(
        self, ctx: CommandContext, command: SubmitCorrectedClaim
    ) -> tuple[Claim, Claim]:
        """A replacement (7) or void (8): a new claim linked to the original, saved together."""
        require_role(ctx, WRITERS, "correcting a claim")
        frequency, corrected, reason = command.frequency, command.corrected, command.reason
        original = self._load_for_write(ctx, command.original_claim_id, command.expected_version)
        new_id = self.claim_id_for(ctx)
        existing = self.find(new_id, ctx.tenant_id, Claim)
        if existing is not None and existing.original_claim_id == str(original.id):
            return original, existing  # a retry
        reference = command.original_reference
        original.check_correctable(frequency, reason, reference)
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
            original_reference=reference,
            field_prefix="corrected.",
        )
        original.supersede(ctx, frequency, new_id, reason.strip(), reference)
        self.save_all(original, replacement)
        return original, replacement

    def update_claim(self, ctx: CommandContext, command: UpdateClaim) -> Claim:
        require_role(ctx, WRITERS, "updating a claim")
        claim = self._load_for_write(ctx, command.claim_id, command.expected_version)
        before = self.duplicates.token(ctx.tenant_id, claim.data, claim.frequency)
        claim.update(ctx, command.data)
        after = self.duplicates.token(ctx.tenant_id, claim.data, claim.frequency)
        if after and after != before:
            # Changed into another claim's key: reserved as a new claim's is.
            self.duplicates.save_changed(ctx, claim.collect_events(), after, self.save_events)
        else:
            self.save_all(claim)
        return claim

    def withdraw_claim(self, ctx: CommandContext, command: WithdrawClaim) -> Claim:
        require_role(ctx, WRITERS, "withdrawing a claim")
        claim = self._load_for_write(ctx, command.claim_id, command.expected_version)
        claim.withdraw(ctx, command.reason)
        self.save_all(claim)
        return claim

    def file_appeal(
        self, ctx: CommandContext, command: FileAppeal
    ) -> tuple[Claim, AppealRecord]:
        require_role(ctx, WRITERS, "filing an appeal")
        claim = self._load_for_write(ctx, command.claim_id, command.expected_version)
        appeal_id = str(deterministic_id(ctx.tenant_id, "appeal", ctx.request_id))
        record = claim.file_appeal(
            ctx,
            appeal_id,
            command.level,
            command.grounds.strip(),
            command.cited_document_ids,
            command.channel,
            command.adverse_determination_date,
        )
        self.save_all(claim)
        return claim, record

    def record_appeal_decision(
        self, ctx: CommandContext, command: RecordAppealDecision
    ) -> tuple[Claim, AppealRecord]:
        require_role(ctx, WRITERS, "recording an appeal decision")
        claim = self._load_for_write(ctx, command.claim_id, command.expected_version)
        record = claim.record_appeal_decision(
            ctx,
            command.appeal_id,
            command.outcome,
            command.decision_date,
            command.additional_paid_cents,
            TriagePolicy(),
            command.expected_additional_cents,
        )
        self.save_all(claim)
        return claim, record

    def record_remitted_adjudication(
        self, ctx: CommandContext, command: RecordRemittedAdjudication
    ) -> Claim | None:
        """A reaction of the service itself: the payer's initial adjudication as remitted, recorded
        as RecordAdjudication records it, unless the claim already has one (recorded by hand or
        remitted before): then nothing (None). The caller saves the claim."""
        require_role(ctx, (auth.SYSTEM,), "recording a remitted adjudication")
        claim = self.get_claim(ctx, command.claim_id)
        if claim.adjudication is not None:
            return None
        claim.record_adjudication(ctx, command.adjudication)
        return claim

    def reach_stage(self, ctx: CommandContext, command: ReachStage) -> Claim:
        """A reaction of the service itself (no caller role): the caller saves the claim."""
        claim = self.get_claim(ctx, command.claim_id)
        claim.reach_stage(ctx, command.stage, command.source_event_id)
        return claim

    def record_negotiation_refusal(
        self, ctx: CommandContext, command: RecordNegotiationRefusal
    ) -> Claim:
        """A reaction of the service itself (no caller role): the caller saves the claim."""
        claim = self.get_claim(ctx, command.claim_id)
        claim.record_negotiation_refusal(
            ctx, command.reason, command.source_event_id, command.notice_due_on,
            command.rule_set_version,
        )
        return claim
