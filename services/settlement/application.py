"""Settlement use cases on the event store: each loads aggregates, runs domain code, saves once.

Synchronous (the eventsourcing library is); the gRPC layer calls these through the worker pool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from uuid import UUID

from services.common.aggregate import TenantAggregate
from services.common.auth import ADMIN, FINANCE, SYSTEM, require_role
from services.common.context import CommandContext
from services.common.errors import InvalidArgument, NotFound
from services.common.eventstore import ServiceApplication
from services.common.gc_tuning import gc_paused
from services.common.ids import deterministic_id
from services.common.phi import PAYER_CLAIM_NUMBER
from services.common.settings import Settings
from services.settlement import published
from services.settlement.adapters.bulk_loading import load_many
from services.settlement.domain import (
    CLAIMS_PER_CHUNK,
    NO_SETTLEMENT,
    ClaimIndex,
    ClaimLine,
    ClaimPayment,
    InitialAdjudication,
    Match,
    NoMatch,
    PaymentException,
    PaymentMethod,
    PreparedImport,
    Remittance,
    RemittanceChunk,
    RemittanceFile,
    RemittanceRecord,
    Settlement,
    SettlementSource,
    SettlementWaitlist,
    UnmatchedClaimPayment,
    UnmatchedServiceLine,
    WaitingFeeLine,
    chunk_id_for,
    file_id_for,
    initial_adjudication_id_for,
    match_remittance,
    patient_responsibility_warnings,
    payment_id_for,
    post_remittance,
    post_waiting,
    post_waiting_fees,
    remittance_id_for,
    settlement_id_for,
    waitlist_id_for,
)


class ImportOutcome(StrEnum):
    POSTED = "posted"
    ALREADY_IMPORTED = "already_imported"
    QUARANTINED = "quarantined"


@dataclass
class ImportResult:
    file_id: UUID
    outcome: ImportOutcome
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    remittances: list[RemittanceRecord] = field(default_factory=list)


@dataclass(frozen=True)
class OpeningTerms:
    """What negotiation decided, plus what settlement knows about the claim."""

    claim_id: str
    source: SettlementSource
    source_ref: str
    decided_on: date
    # When the plan must pay: negotiation's fact (its rule set), never recomputed here.
    due_date: date
    # What the plan owes: negotiation's fact, never recomputed here.
    amount_owed_cents: int
    agreed_total_cents: int
    patient_cost_sharing_cents: int
    already_paid_cents: int
    payer_id: str = ""
    initial_payment_icn: str = ""
    nsa_protected: bool = True  # a claim negotiated under the NSA is protected unless known not


# -- typed commands ---------------------------------------------------------------------------
# Who may move money: finance, admin, or the services' own reactions (system).
POSTING_ROLES = (FINANCE, ADMIN, SYSTEM)


def require_poster(ctx: CommandContext) -> None:
    """Every use case that moves money (or records what moves it) checks this first."""
    require_role(ctx, POSTING_ROLES, "posting money")


@dataclass(frozen=True)
class PostPayment:
    """A manual payment (check, EFT, virtual card) on a claim's settlement."""

    claim_id: str
    amount_cents: int
    method: str  # PaymentMethod.MANUAL
    reference: str
    paid_on: date


@dataclass(frozen=True)
class ReversePayment:
    claim_id: str
    payment_id: str
    reason: str
    reversed_on: date


@dataclass(frozen=True)
class RecordPatientResponsibility:
    claim_id: str
    amount_cents: int


@dataclass(frozen=True)
class FlagOverdue:
    """Record SettlementOverdue on these claims' settlements still owed after their due date."""

    claim_ids: tuple[str, ...]
    as_of: date


@dataclass(frozen=True)
class ImportRemittance:
    """A checked 835 file and the tenant's claims it may name (by keyed hash: adapters/sql.py)."""

    prepared: PreparedImport
    claims: ClaimIndex


@dataclass(frozen=True)
class ResolveException:
    """Attach an exceptions-queue item to a claim (a CLP) or name its 837 line (an SVC).

    `known_lines`: the claim's 837 line control numbers from the read model; a line item may
    only be resolved to one of them (any name when none are known)."""

    exception_id: UUID
    claim_id: str
    line_control_number: str = ""
    known_lines: frozenset[str] = frozenset()
    reversed_payment_id: str = ""  # a negative CLP: the payment it reverses


class SettlementApplication(ServiceApplication):
    def __init__(self, settings: Settings, env: dict[str, str] | None = None) -> None:
        # Its events leave as contracts (published.py), identifiers keyed with the PHI key.
        self.phi_keys = settings.phi_keys()
        self.published_language = published.language(self.phi_keys)
        super().__init__(settings, env)

    # No snapshots: a settlement's stream is short (one per claim: opening, a few payments and
    # fee postings), and its state holds PaymentRecord dataclasses and a set, which the JSON
    # transcoder cannot store: a snapshot at version 50 failed *after* the events committed.

    # -- settlements --------------------------------------------------------------------------
    def open_settlement(self, ctx: CommandContext, terms: OpeningTerms) -> Settlement:
        """Idempotent: a second agreement event for the same claim finds the open settlement."""
        existing = self.find(settlement_id_for(ctx.tenant_id, terms.claim_id), ctx.tenant_id,
                             Settlement)  # fmt: skip
        if existing is not None:
            return existing
        settlement = Settlement.open(
            ctx,
            claim_id=terms.claim_id,
            source=terms.source,
            source_ref=terms.source_ref,
            payer_key=terms.payer_id,
            agreed_total_cents=terms.agreed_total_cents,
            patient_cost_sharing_cents=terms.patient_cost_sharing_cents,
            already_paid_cents=terms.already_paid_cents,
            decided_on=terms.decided_on,
            due_date=terms.due_date,
            amount_owed_cents=terms.amount_owed_cents,
            nsa_protected=terms.nsa_protected,
            initial_payment_icn=terms.initial_payment_icn,
        )
        return settlement

    def settlement(self, ctx: CommandContext, claim_id: str) -> Settlement:
        return self.load(settlement_id_for(ctx.tenant_id, claim_id), ctx.tenant_id, Settlement)

    def post_payment(self, ctx: CommandContext, command: PostPayment) -> tuple[str, Settlement]:
        require_poster(ctx)
        claim_id, method = command.claim_id, command.method
        if method not in PaymentMethod.MANUAL:
            raise InvalidArgument("must be check, eft or virtual_card", field="method")
        if not ctx.request_id:
            raise InvalidArgument("a request id is required", field="request_id")
        settlement = self.settlement(ctx, claim_id)
        payment_id = str(deterministic_id(ctx.tenant_id, "payment", ctx.request_id))
        settlement.post_payment(
            ctx,
            payment_id=payment_id,
            amount_cents=command.amount_cents,
            method=method,
            reference=command.reference,
            paid_on=command.paid_on,
        )
        settlement.assess_variance(ctx)
        self.save_all(settlement)
        return payment_id, settlement

    def reverse_payment(self, ctx: CommandContext, command: ReversePayment) -> Settlement:
        require_poster(ctx)
        settlement = self.settlement(ctx, command.claim_id)
        settlement.reverse_payment(ctx, payment_id=command.payment_id, reason=command.reason,
                                   reversed_on=command.reversed_on)
        settlement.assess_variance(ctx)
        self.save_all(settlement)
        return settlement

    def record_patient_responsibility(
        self, ctx: CommandContext, command: RecordPatientResponsibility
    ) -> Settlement:
        require_poster(ctx)
        settlement = self.settlement(ctx, command.claim_id)
        settlement.record_patient_responsibility(ctx, command.amount_cents)
        self.save_all(settlement)
        return settlement

    def flag_overdue(self, ctx: CommandContext, command: FlagOverdue) -> int:
        require_poster(ctx)
        as_of = command.as_of
        flagged = []
        for claim_id in command.claim_ids:
            settlement = self.find(settlement_id_for(ctx.tenant_id, claim_id), ctx.tenant_id,
                                   Settlement)  # fmt: skip
            if settlement is not None and settlement.flag_overdue(ctx, as_of):
                flagged.append(settlement)
        self.save_all(*flagged)
        return len(flagged)

    # -- remittances --------------------------------------------------------------------------
    def _records(self, ctx: CommandContext, ids: list[str]) -> list[RemittanceRecord]:
        return [self.load(UUID(i), ctx.tenant_id, RemittanceRecord) for i in ids]

    @gc_paused  # bulk work that only allocates: services/common/gc_tuning.py
    def import_remittance(self, ctx: CommandContext, command: ImportRemittance) -> ImportResult:
        """Post every transaction of a balanced file, or quarantine the whole file.

        A file is posted in bounded transactions (`CLAIMS_PER_CHUNK` claims each, with their
        settlement events and their `RemittanceChunkPosted`), so no transaction or message grows
        with the file. A retry after an interruption (same bytes, any request id) resumes: the
        received-but-not-accepted file is found by its content hash and each chunk already
        committed is skipped by its deterministic id; the file is accepted last.
        """
        require_poster(ctx)
        prepared, index = command.prepared, command.claims
        file_id = file_id_for(ctx.tenant_id, prepared.content_sha256)
        existing = self.find(file_id, ctx.tenant_id, RemittanceFile)
        if existing is not None and existing.outcome == "quarantined":
            return ImportResult(file_id, ImportOutcome.QUARANTINED, existing.reasons)
        if existing is not None and existing.outcome == "accepted":
            return ImportResult(
                file_id,
                ImportOutcome.ALREADY_IMPORTED,
                warnings=list(prepared.warnings),  # the same bytes give the same warnings
                remittances=self._records(ctx, existing.remittance_ids),
            )
        remittance_file = existing or RemittanceFile.receive(
            ctx,
            content_sha256=prepared.content_sha256,
            file_name=prepared.file_name,
            size_bytes=prepared.size_bytes,
        )
        reasons = list(prepared.reasons) + self._traces_imported_elsewhere(ctx, file_id, prepared)
        if reasons:
            remittance_file.quarantine(ctx, reasons, prepared.trace_numbers)
            self.save_all(remittance_file)
            return ImportResult(file_id, ImportOutcome.QUARANTINED, reasons)
        # The file's RemittanceFileReceived commits with the first chunk (a file of one chunk
        # is all or nothing); it claims the file: a concurrent import of it conflicts.
        all_matches = [match_remittance(r, index) for r in prepared.remittances]
        records = [
            self._post_remittance(ctx, remittance_file, remittance, index, matches)
            for remittance, matches in zip(prepared.remittances, all_matches, strict=True)
        ]
        remittance_file.accept(
            ctx, [str(r.id) for r in records], prepared.trace_numbers, len(prepared.warnings)
        )
        self.save_all(remittance_file)
        return ImportResult(
            file_id, ImportOutcome.POSTED, warnings=list(prepared.warnings), remittances=records
        )

    def _traces_imported_elsewhere(
        self, ctx: CommandContext, file_id: UUID, prepared: PreparedImport
    ) -> list[str]:
        """A payer's trace number posts once: refused when another file posted (any of) it."""
        reasons = []
        for remittance in prepared.remittances:
            rid = remittance_id_for(ctx.tenant_id, remittance.payer_key, remittance.trace_number)
            record = self.find(rid, ctx.tenant_id, RemittanceRecord)
            first = self.find(chunk_id_for(ctx.tenant_id, rid, 1), ctx.tenant_id, RemittanceChunk)
            owner = record.file_id if record is not None else first.file_id if first else None
            if owner is not None and owner != str(file_id):
                reasons.append(
                    f"trace number {remittance.trace_number} of payer {remittance.payer_key} "
                    "was already imported from a different file"
                )
        return reasons

    def _post_remittance(
        self, ctx: CommandContext, remittance_file: RemittanceFile, remittance: Remittance,
        index: ClaimIndex, matches: dict[int, Match | NoMatch],
    ) -> RemittanceRecord:  # fmt: skip
        """Post one 835 transaction chunk by chunk; its record is saved with the last chunk."""
        rid = remittance_id_for(ctx.tenant_id, remittance.payer_key, remittance.trace_number)
        done = self.find(rid, ctx.tenant_id, RemittanceRecord)
        if done is not None:
            return done
        claims = remittance.claims
        chunks = [claims[i : i + CLAIMS_PER_CHUNK] for i in range(0, len(claims), CLAIMS_PER_CHUNK)]
        chunks = chunks or [()]
        matched = exceptions = 0
        record: RemittanceRecord | None = None
        for number, chunk_claims in enumerate(chunks, start=1):
            last = number == len(chunks)
            part = replace(
                remittance,
                claims=chunk_claims,
                provider_adjustments=remittance.provider_adjustments if last else (),
            )
            posted = self.find(chunk_id_for(ctx.tenant_id, rid, number), ctx.tenant_id,
                               RemittanceChunk)  # fmt: skip
            if posted is None:
                posted, record = self._post_chunk(
                    ctx, remittance_file, rid, remittance, part, number, index, matches,
                    totals=(matched, exceptions), chunk_count=len(chunks) if last else 0,
                )  # fmt: skip
            else:  # committed by an interrupted attempt; what it linked, link again
                _link_matched_icns(index, chunk_claims, matches)
            matched += posted.matched_count
            exceptions += posted.exception_count
        assert record is not None  # the last chunk was posted here (else `done` was found)
        return record

    def _post_chunk(
        self,
        ctx: CommandContext,
        remittance_file: RemittanceFile,
        rid: UUID,
        remittance: Remittance,
        part: Remittance,
        number: int,
        index: ClaimIndex,
        matches: dict[int, Match | NoMatch],
        *,
        totals: tuple[int, int],
        chunk_count: int,
    ) -> tuple[RemittanceChunk, RemittanceRecord | None]:
        """One transaction: the chunk's settlements, exceptions, initial adjudications and
        RemittanceChunkPosted, on
        the last chunk (`chunk_count` > 0) the remittance's RemittanceImported, and the file's
        pending events if any."""
        file_id = remittance_file.id
        claim_ids = {
            m.claim_id for c in part.claims if isinstance(m := matches[c.ordinal], Match)
        }
        claim_ids |= _claims_named_by_provider_adjustments([part], index)
        ids = [settlement_id_for(ctx.tenant_id, claim_id) for claim_id in claim_ids]
        loaded = load_many(self, ids, ctx.tenant_id, Settlement)
        settlements = {s.claim_id: s for s in loaded.values()}
        # A matched claim without a settlement may get its initial adjudication here, once.
        unsettled = claim_ids - settlements.keys()
        remitted = {
            a.claim_id
            for a in load_many(
                self,
                [initial_adjudication_id_for(ctx.tenant_id, c) for c in unsettled],
                ctx.tenant_id,
                InitialAdjudication,
            ).values()
        }
        outcome = post_remittance(ctx, part, str(rid), index, matches, settlements, remitted)
        adjudications = [
            InitialAdjudication.record(
                ctx.with_request(f"{ctx.request_id}|{payment_id_for(str(rid), facts.ordinal)}"),
                remittance_id=str(rid),
                remittance=remittance,
                facts=facts,
            )
            for facts in outcome.initial_adjudications
        ]
        chunk = RemittanceChunk.record(
            ctx,
            file_id=file_id,
            remittance_id=rid,
            remittance=part,
            number=number,
            matched_count=len(outcome.matched),
            exception_count=len(outcome.exceptions),
            journal=outcome.remittance_journal,
            warnings=[str(w) for w in patient_responsibility_warnings(part)],
        )
        claim_items = [
            UnmatchedClaimPayment.queue(ctx, remittance_id=rid, remittance=remittance, item=e)
            for e in outcome.exceptions
        ]
        waitlists = self._waitlist(ctx, outcome.exceptions, claim_items)
        queued: list[UnmatchedClaimPayment | UnmatchedServiceLine] = list(claim_items)
        queued.extend(
            UnmatchedServiceLine.queue(
                ctx, remittance_id=rid, trace_number=remittance.trace_number, item=e
            )
            for e in outcome.line_exceptions
        )
        record = None
        if chunk_count:
            record = RemittanceRecord.record(
                ctx,
                file_id=file_id,
                remittance=remittance,
                matched_count=totals[0] + chunk.matched_count,
                exception_count=totals[1] + chunk.exception_count,
                chunk_count=chunk_count,
            )
        self.save_all(
            remittance_file, chunk, *queued, *waitlists, *adjudications,
            *outcome.touched.values(), record,
        )  # fmt: skip
        return chunk, record

    def _waitlist(
        self, ctx: CommandContext, exceptions: list[PaymentException],
        items: list[UnmatchedClaimPayment],
    ) -> list[SettlementWaitlist]:  # fmt: skip
        """List each item that waits only for its claim's settlement on that claim's waitlist
        (saved in the chunk's transaction: domain/settlement_waitlist.py)."""
        return self.list_on_waitlists(ctx, [
            (e.candidate_claim_id, item)
            for e, item in zip(exceptions, items, strict=True)
            if e.reason == NO_SETTLEMENT and e.candidate_claim_id
        ])  # fmt: skip

    def list_on_waitlists(
        self, ctx: CommandContext, waiting: list[tuple[str, UnmatchedClaimPayment]]
    ) -> list[SettlementWaitlist]:
        """Each (claim id, item) listed on that claim's waitlist (started when the claim has
        none; an item listed already is left): the waitlists that changed, for the caller to
        save (the import with its chunk, the upgrade backfill on its own)."""
        if not waiting:
            return []
        claims = {claim_id for claim_id, _ in waiting}
        found = load_many(self, [waitlist_id_for(ctx.tenant_id, c) for c in claims],
                          ctx.tenant_id, SettlementWaitlist)  # fmt: skip
        lists = {w.claim_id: w for w in found.values()}
        for claim_id, item in waiting:
            waitlist = lists.get(claim_id)
            if waitlist is None:
                waitlist = lists[claim_id] = SettlementWaitlist.start(ctx, claim_id)
            waitlist.add(ctx.with_request(f"{ctx.request_id}|waitlist:{item.id}"), item)
        return [w for w in lists.values() if w.pending_events]

    def post_waiting_payments(
        self, ctx: CommandContext, claim_id: str,
        claim_lines: Callable[[], Sequence[ClaimLine]] = tuple,
    ) -> list[TenantAggregate]:  # fmt: skip
        """Post the queued payments that waited for this claim's settlement, now open
        (domain/settlement_waitlist.py). Returns what changed, for the caller to save with its
        tracking record; nothing when the settlement is not open or nothing waits.
        `claim_lines` reads the claim's 837 lines (rule 5), only when something waits.
        An item whose posting a business rule refused is returned with its new
        AutomaticPostingRefused (recorded once), the others posted all the same.

        Called after the settlement's opening and after each listing were committed (the
        `awaiting-settlement` reaction to settlement's own SettlementOpened and
        ClaimPaymentWaitlisted): whichever of the two committed last sees the other, so an
        item listed while the settlement was opening is not missed."""
        require_poster(ctx)
        # The waitlist first: most settlements open with nothing waiting (one cheap miss).
        waitlist = self.find(waitlist_id_for(ctx.tenant_id, claim_id), ctx.tenant_id,
                             SettlementWaitlist)  # fmt: skip
        if waitlist is None:
            return []
        settlement = self.find(settlement_id_for(ctx.tenant_id, claim_id), ctx.tenant_id,
                               Settlement)  # fmt: skip
        if settlement is None:
            return []
        items = [
            item
            for exception_id in waitlist.exception_ids
            if (item := self.find(UUID(exception_id), ctx.tenant_id, UnmatchedClaimPayment))
            and item.awaits_settlement_of(claim_id)
        ]
        changed: list[TenantAggregate] = []
        if items:
            done = post_waiting(ctx, settlement, items, claim_lines(), icn_key=lambda icn: (
                self.phi_keys.index(ctx.tenant_id, PAYER_CLAIM_NUMBER, icn)))
            changed = list(done.refused)  # each with AutomaticPostingRefused
            if done.attached:
                changed[:0] = [settlement, *done.attached, *done.line_items]
        if post_waiting_fees(ctx, settlement, waitlist) and settlement not in changed:
            changed.insert(0, settlement)
        return changed

    def list_fee_line_on_waitlist(self, ctx: CommandContext, claim_id: str,
                                  line: WaitingFeeLine) -> list[SettlementWaitlist]:  # fmt: skip
        """A fee line for a claim whose settlement is not open: listed on the claim's waitlist
        (started when it has none) to post when it opens; the waitlist if it changed."""
        waitlist = self.find(waitlist_id_for(ctx.tenant_id, claim_id), ctx.tenant_id,
                             SettlementWaitlist) or SettlementWaitlist.start(ctx, claim_id)
        waitlist.add_fee_line(ctx.with_request(f"{ctx.request_id}|waitlist:{line.line_id}"), line)
        return [waitlist] if waitlist.pending_events else []

    def resolve_exception(
        self, ctx: CommandContext, command: ResolveException
    ) -> tuple[UnmatchedClaimPayment | UnmatchedServiceLine, Settlement]:
        require_poster(ctx)
        exception_id, claim_id = command.exception_id, command.claim_id
        line_control_number, known_lines = command.line_control_number, command.known_lines
        line_item = self.find(exception_id, ctx.tenant_id, UnmatchedServiceLine)
        if line_item is not None:
            named = line_control_number and line_item.claim_id == claim_id
            if named and known_lines and line_control_number not in known_lines:
                raise InvalidArgument(
                    f"claim {claim_id} has no 837 line {line_control_number!r} "
                    f"(its lines: {', '.join(sorted(known_lines))})",
                    field="line_control_number",
                )
            return self._resolve_line(ctx, line_item, claim_id, line_control_number)
        item = self.load(exception_id, ctx.tenant_id, UnmatchedClaimPayment)
        settlement = self.find(settlement_id_for(ctx.tenant_id, claim_id), ctx.tenant_id,
                               Settlement)  # fmt: skip
        if settlement is None:
            raise NotFound(f"no settlement for claim {claim_id}")
        if command.reversed_payment_id:
            if item.resolve_reversal(ctx, settlement, command.reversed_payment_id):
                settlement.assess_variance(ctx)
                self.save_all(item, settlement)
            return item, settlement
        if not item.resolve(ctx, claim_id):
            return item, settlement
        if item.paid_cents > 0:
            item.post_payment_on(
                ctx.with_request(f"{ctx.request_id}|exception"),
                settlement,
                payment_id=f"exception:{item.id}",
            )
            settlement.assess_variance(ctx)
        self.save_all(item, settlement)
        return item, settlement

    def _resolve_line(
        self, ctx: CommandContext, item: UnmatchedServiceLine, claim_id: str,
        line_control_number: str,
    ) -> tuple[UnmatchedServiceLine, Settlement]:  # fmt: skip
        """Attribute a service line to the 837 line someone named; the money stays where it is."""
        settlement = self.load(settlement_id_for(ctx.tenant_id, item.claim_id), ctx.tenant_id,
                               Settlement)  # fmt: skip
        if item.resolve(ctx, claim_id, line_control_number):
            self.save_all(item)
        return item, settlement


def _link_matched_icns(
    index: ClaimIndex, claims: tuple[ClaimPayment, ...], matches: dict[int, Match | NoMatch]
) -> None:
    """What posting a chunk teaches the index (a reversal later in the file finds its claim)."""
    for claim in claims:
        found = matches[claim.ordinal]
        if isinstance(found, Match):
            index.link_icn(found.claim_id, claim.payer_claim_control_number)


def _claims_named_by_provider_adjustments(
    remittances: Iterable[Remittance], index: ClaimIndex
) -> set[str]:
    ids: set[str] = set()
    for remittance in remittances:
        for adjustment in remittance.provider_adjustments:
            for claim in index.with_icn(adjustment.reference):
                ids.add(claim.claim_id)
            for claim in index.with_pcn(adjustment.reference):
                ids.add(claim.claim_id)
    return ids
