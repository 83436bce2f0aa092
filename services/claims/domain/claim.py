"""The Claim aggregate: intake, adjudication, documents, triage, clean check, corrections, appeals.

Pure: commands take a `CommandContext` (tenant, actor, request id, `now`) and either record
past-tense events or raise the errors of `services.common.errors`. No I/O, no clock, no uuid4.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from services.claims.domain import appeals, clean_claim, corrections, denials, event_data, intake
from services.claims.domain.appeals import (
    AppealChannel,
    AppealLevel,
    AppealOutcome,
    AppealRecord,
)
from services.claims.domain.claim_data import (
    Adjudication,
    ClaimData,
    ClaimStatus,
    Document,
    DocumentKind,
    Frequency,
)
from services.claims.domain.corrections import changed_fields
from services.claims.domain.triage import TriageDecision, TriagePolicy, triage
from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_LOCATION = re.compile(r"^(s3|gs|az|https|file)://\S+$")
MAX_DOCUMENT_BYTES = 2**40

# States in which the claim is closed to new payer-facing actions.
_SUPERSEDED = corrections.SUPERSEDED
_CLOSED = _SUPERSEDED | {ClaimStatus.WITHDRAWN}


class Claim(TenantAggregate):
    IS_CLAIM_ROOT = True

    class ClaimRegistered(TenantAggregate.Created):
        claim: dict[str, Any]
        patient: dict[str, Any]
        frequency: str
        original_claim_id: str
        original_payer_claim_control_number: str
        changed_fields: list[str]
        correction_reason: str
        PHI_FIELDS: ClassVar[frozenset[str]] = frozenset({"patient"})

    class AdjudicationRecorded(TenantAggregate.Event):
        adjudication: dict[str, Any]
        remedies: list[dict[str, Any]]
        primary_remedy: str
        status: str
        client_id: str
        payer_id: str
        # Last day to file a first-level appeal ("" when nothing was denied or reduced).
        appeal_filing_deadline: str

        def apply(self, aggregate: Claim) -> None:
            aggregate.adjudication = event_data.adjudication_from_dict(self.adjudication)
            aggregate.remedies = tuple(event_data.remedy_from_dict(r) for r in self.remedies)
            aggregate.status = ClaimStatus(self.status)

    class DocumentAttached(TenantAggregate.Event):
        document: dict[str, Any]

        def apply(self, aggregate: Claim) -> None:
            doc = event_data.document_from_dict(self.document)
            aggregate.documents[doc.document_id] = doc

    class ClaimTriaged(TenantAggregate.Event):
        # v2 adds `adjudicated`: whether the payer's adjudication preceded this triage, so a
        # consumer can tell "not adjudicated" from "adjudication not processed yet".
        class_version = 2
        adjudicated: bool
        rule_set_version: str
        route: str
        nsa_protected: bool
        worth_negotiating: bool
        service_class: str
        reasons: list[dict[str, str]]
        missing_documents: list[str]
        client_id: str
        payer_id: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Recorded before v2: the fact was not kept; "no" keeps the old readers' behaviour.
            state["adjudicated"] = False

        def apply(self, aggregate: Claim) -> None:
            aggregate.triage = event_data.triage_from_dict(self.__dict__)
            aggregate.triaged_at = self.timestamp

    class CleanClaimChecked(TenantAggregate.Event):
        rule_set_version: str
        clean: bool
        findings: list[dict[str, Any]]
        status: str

        def apply(self, aggregate: Claim) -> None:
            aggregate.clean_report = event_data.clean_report_from_dict(
                self.rule_set_version, self.findings
            )
            aggregate.status = ClaimStatus(self.status)

    class ClaimReplaced(TenantAggregate.Event):
        replacement_claim_id: str
        reason: str

        def apply(self, aggregate: Claim) -> None:
            aggregate.replaced_by_claim_id = self.replacement_claim_id
            aggregate.status = ClaimStatus.REPLACED

    class ClaimVoided(TenantAggregate.Event):
        void_claim_id: str
        reason: str

        def apply(self, aggregate: Claim) -> None:
            aggregate.replaced_by_claim_id = self.void_claim_id
            aggregate.status = ClaimStatus.VOIDED

    class AppealFiled(TenantAggregate.Event):
        appeal: dict[str, Any]
        # Free text about the patient's care: personal health information.
        grounds: str
        rule_set_version: str
        PHI_FIELDS: ClassVar[frozenset[str]] = frozenset({"grounds"})

        def apply(self, aggregate: Claim) -> None:
            record = event_data.appeal_from_dict(self.appeal, self.grounds)
            aggregate.appeals[record.appeal_id] = record
            aggregate.status = ClaimStatus.IN_APPEAL

    class AppealDecisionRecorded(TenantAggregate.Event):
        appeal_id: str
        outcome: str
        decision_date: str
        additional_paid_cents: int
        status: str

        def apply(self, aggregate: Claim) -> None:
            aggregate.appeals[self.appeal_id] = replace(
                aggregate.appeals[self.appeal_id],
                outcome=AppealOutcome(self.outcome),
                decision_date=date.fromisoformat(self.decision_date),
                additional_paid_cents=self.additional_paid_cents,
            )
            aggregate.status = ClaimStatus(self.status)

    class ClaimUpdated(TenantAggregate.Event):  # completed or fixed before any adjudication
        claim: dict[str, Any]
        patient: dict[str, Any]
        changed_fields: list[str]
        PHI_FIELDS: ClassVar[frozenset[str]] = frozenset({"patient"})

        def apply(self, aggregate: Claim) -> None:
            aggregate._stored_claim, aggregate._data = (self.claim, self.patient), None
            aggregate.clean_report, aggregate.triage = None, None  # both judged the old data
            aggregate.status = ClaimStatus.REGISTERED

    class ClaimWithdrawn(TenantAggregate.Event):
        reason: str

        def apply(self, aggregate: Claim) -> None:
            aggregate.status = ClaimStatus.WITHDRAWN

    class ClaimStageReached(TenantAggregate.Event):
        """A downstream service moved the claim on (negotiation started, IDR, settled)."""

        status: str
        source_event_id: str

        def apply(self, aggregate: Claim) -> None:
            aggregate.status = ClaimStatus(self.status)

    def __init__(
        self,
        claim: dict[str, Any],
        patient: dict[str, Any],
        frequency: str,
        original_claim_id: str,
        original_payer_claim_control_number: str,
        changed_fields: list[str],
        correction_reason: str,
    ) -> None:
        # The registration event's stored form, decoded into the ClaimData value object on first
        # use (`data`): bulk intake never reads it back, and decoding costs about 40 µs a claim.
        self._stored_claim = (claim, patient)
        self._data: ClaimData | None = None
        self.frequency = Frequency(frequency)
        self.original_claim_id = original_claim_id
        self.original_payer_claim_control_number = original_payer_claim_control_number
        self.changed_fields = tuple(changed_fields)
        self.correction_reason = correction_reason
        self.status = ClaimStatus.REGISTERED
        self.replaced_by_claim_id = ""
        self.adjudication: Adjudication | None = None
        self.remedies: tuple[denials.DenialRemedy, ...] = ()
        self.documents: dict[str, Document] = {}
        self.triage: TriageDecision | None = None
        self.triaged_at: datetime | None = None
        self.tenant_id: str  # set by the creation event (TenantAggregate)
        self.clean_report: clean_claim.CleanClaimReport | None = None
        self.appeals: dict[str, AppealRecord] = {}

    @property
    def data(self) -> ClaimData:
        if self._data is None:
            self._data = event_data.claim_from_dict(*self._stored_claim)
        return self._data

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def register(
        cls,
        ctx: CommandContext,
        claim_id: UUID,
        data: ClaimData,
        *,
        frequency: Frequency = Frequency.ORIGINAL,
        original: Claim | None = None,
        correction_reason: str = "",
        original_reference: str = "",
        field_prefix: str = "claim.",
    ) -> Claim:
        """A new claim; a correction names its `original` claim, else at least the payer's claim
        number of the original (`original_reference`, an 837's REF*F8)."""
        violations = intake.validate_claim(data, field_prefix)
        if violations:
            raise InvalidArgument(violations)
        data = intake.canonical(data)
        changes: tuple[str, ...] = ()
        if original is not None:
            changes = changed_fields(original.data, data)
        claim: Claim = cls._start(
            cls.ClaimRegistered,
            ctx,
            id=claim_id,
            claim=event_data.claim_to_dict(data),
            patient=event_data.patient_to_dict(data.patient),
            frequency=frequency.value,
            original_claim_id=str(original.id) if original else "",
            original_payer_claim_control_number=(
                original.adjudication.payer_claim_control_number
                if original and original.adjudication
                else ""
            )
            or original_reference,
            changed_fields=list(changes),
            correction_reason=correction_reason,
        )
        return claim

    # -- adjudication -----------------------------------------------------------------------
    def record_adjudication(self, ctx: CommandContext, adjudication: Adjudication) -> None:
        if self.has_handled(ctx):
            return
        self._require_open("record an adjudication")
        _validate_adjudication(adjudication, self.data, ctx.now.date())
        remedies = denials.remedies_for(adjudication.carc_codes, adjudication.rarc_codes)
        if self.status is ClaimStatus.IN_APPEAL:
            status = ClaimStatus.IN_APPEAL
        else:
            status = ClaimStatus.DENIED if adjudication.denied else ClaimStatus.PAID
        self._record(
            self.AdjudicationRecorded,
            ctx,
            adjudication=event_data.adjudication_to_dict(adjudication),
            remedies=[event_data.remedy_to_dict(r) for r in remedies],
            primary_remedy=denials.primary_remedy(remedies).value,
            status=status.value,
            client_id=self.data.client_id,
            payer_id=self.data.payer.payer_id,
            appeal_filing_deadline=(
                appeals.filing_window(
                    AppealLevel.FIRST_INTERNAL, adjudication.received_date
                ).deadline.isoformat()
                if _is_adverse(adjudication, self.data)
                else ""
            ),
        )

    # -- documents --------------------------------------------------------------------------
    def attach_document(self, ctx: CommandContext, document: Document) -> None:
        if self.has_handled(ctx):
            return
        bad: list[FieldViolation] = []
        if not _SHA256.match(document.sha256):
            bad.append(FieldViolation("sha256", "lower-case hex SHA-256 (64 characters)"))
        if not _LOCATION.match(document.location) or len(document.location) > 1024:
            bad.append(FieldViolation("location", "an s3, gs, az, https or file URI"))
        if not 0 <= document.size_bytes <= MAX_DOCUMENT_BYTES:
            bad.append(FieldViolation("size_bytes", "must be between 0 and 1 TiB"))
        if bad:
            raise InvalidArgument(bad)
        if document.document_id in self.documents:
            return  # the same file attached again: nothing new to record
        self._record(self.DocumentAttached, ctx, document=event_data.document_to_dict(document))

    @property
    def document_kinds(self) -> frozenset[DocumentKind]:
        return frozenset(doc.kind for doc in self.documents.values())

    # -- triage and clean-claim check -------------------------------------------------------
    def triage_claim(self, ctx: CommandContext, policy: TriagePolicy) -> TriageDecision:
        if self.has_handled(ctx) and self.triage is not None:
            return self.triage
        self._require_open("triage")
        decision = triage(self.data, self.adjudication, self.document_kinds, policy)
        self._record_triage(ctx, decision)
        return decision

    def _record_triage(self, ctx: CommandContext, decision: TriageDecision) -> None:
        self._record(
            self.ClaimTriaged,
            ctx,
            rule_set_version=decision.rule_set_version,
            route=decision.route.value,
            nsa_protected=decision.nsa_protected,
            worth_negotiating=decision.worth_negotiating,
            service_class=decision.service_class.value,
            reasons=[event_data.reason_to_dict(r) for r in decision.reasons],
            missing_documents=[k.value for k in decision.missing_documents],
            client_id=self.data.client_id,
            payer_id=self.data.payer.payer_id,
            adjudicated=self.adjudication is not None,
        )

    def check_clean(self, ctx: CommandContext) -> clean_claim.CleanClaimReport:
        if self.has_handled(ctx) and self.clean_report is not None:
            return self.clean_report
        self._require_open("check")
        report = clean_claim.check(self.data, ctx.now.date())
        status = self.status
        if status is ClaimStatus.REGISTERED and report.clean:
            status = ClaimStatus.READY_TO_FILE
        elif status is ClaimStatus.READY_TO_FILE and not report.clean:
            status = ClaimStatus.REGISTERED
        self._record(
            self.CleanClaimChecked,
            ctx,
            rule_set_version=report.rule_set_version,
            clean=report.clean,
            findings=[event_data.finding_to_dict(f) for f in report.findings],
            status=status.value,
        )
        return report

    # -- corrections ------------------------------------------------------------------------
    def check_correctable(self, frequency: Frequency, reason: str, reference: str = "") -> None:
        """Preconditions for a replacement (7) or void (8) of this claim (corrections.py)."""
        self._require_open("correct")
        corrections.check_correctable(self.status, self.adjudication, frequency, reason, reference)

    def update(self, ctx: CommandContext, data: ClaimData) -> None:
        """Complete or fix the claim before the payer adjudicated it (the clean check and the
        triage are then due again)."""
        if self.has_handled(ctx):
            return
        self._require_open("update")
        corrections.require_unfiled(self.status, self.adjudication, "update")
        data = corrections.updated_data(self.data, self.frequency, data)
        self._record(
            self.ClaimUpdated,
            ctx,
            claim=event_data.claim_to_dict(data),
            patient=event_data.patient_to_dict(data.patient),
            changed_fields=list(changed_fields(self.data, data)),
        )

    def withdraw(self, ctx: CommandContext, reason: str) -> None:
        """The provider takes back a claim never adjudicated: it leaves the work queue and is
        neither exported nor changed again."""
        if self.has_handled(ctx):
            return
        self._require_open("withdraw")
        corrections.require_unfiled(self.status, self.adjudication, "withdraw")
        if not reason.strip():
            raise InvalidArgument("say why the claim is withdrawn", "reason")
        self._record(self.ClaimWithdrawn, ctx, reason=reason.strip())

    def check_exportable(self) -> None:
        self._require_open_or_superseded("export")
        corrections.check_exportable(self.status, self.replaced_by_claim_id)

    def supersede(
        self, ctx: CommandContext, frequency: Frequency, by: UUID, reason: str, reference: str = ""
    ) -> None:
        self.check_correctable(frequency, reason, reference)
        if frequency is Frequency.VOID:
            self._record(self.ClaimVoided, ctx, void_claim_id=str(by), reason=reason)
        else:
            self._record(self.ClaimReplaced, ctx, replacement_claim_id=str(by), reason=reason)

    # -- appeals ----------------------------------------------------------------------------
    def file_appeal(
        self,
        ctx: CommandContext,
        appeal_id: str,
        level: AppealLevel,
        grounds: str,
        cited_document_ids: tuple[str, ...],
        channel: AppealChannel,
        adverse_determination_date: date | None,
    ) -> AppealRecord:
        if self.has_handled(ctx) and appeal_id in self.appeals:
            return self.appeals[appeal_id]
        bad: list[FieldViolation] = []
        if not grounds.strip():
            bad.append(FieldViolation("grounds", "required"))
        elif len(grounds) > 4000:
            bad.append(FieldViolation("grounds", "at most 4000 characters"))
        for i, doc_id in enumerate(cited_document_ids):
            if doc_id not in self.documents:
                bad.append(
                    FieldViolation(f"cited_document_ids[{i}]", "no such document on the claim")
                )
        if bad:
            raise InvalidArgument(bad)
        self._require_open("appeal")
        if self.adjudication is None:
            raise FailedPrecondition("nothing to appeal: the payer has not adjudicated the claim")
        if any(not a.decided for a in self.appeals.values()):
            raise FailedPrecondition("an appeal is already pending on this claim")
        adverse = adverse_determination_date or self._adverse_date(level, self.adjudication)
        today = ctx.now.date()
        if adverse > today:
            raise InvalidArgument("in the future", "adverse_determination_date")
        if adverse < self.adjudication.received_date:
            raise InvalidArgument(
                "before the payer's adjudication was received", "adverse_determination_date"
            )
        if not _is_adverse(self.adjudication, self.data):
            raise FailedPrecondition(
                "the claim was paid in full: there is no adverse determination to appeal"
            )
        window = appeals.filing_window(level, adverse)
        if today > window.deadline:
            raise FailedPrecondition(
                f"appeal window closed on {window.deadline.isoformat()} ({window.rule})"
            )
        record = AppealRecord(
            appeal_id=appeal_id,
            level=level,
            grounds=grounds,
            cited_document_ids=cited_document_ids,
            channel=channel,
            adverse_determination_date=adverse,
            filed_date=today,
            deadline=window.deadline,
            window_rule=window.rule,
            decision_due=appeals.decision_due(level, today),
        )
        self._record(
            self.AppealFiled,
            ctx,
            appeal=event_data.appeal_to_dict(record),
            grounds=record.grounds,
            rule_set_version=appeals.RULE_SET_VERSION,
        )
        return self.appeals[appeal_id]

    def _adverse_date(self, level: AppealLevel, adjudication: Adjudication) -> date:
        """Default anchor: the last upheld appeal's decision for later levels, else the EOB."""
        if level is AppealLevel.FIRST_INTERNAL:
            return adjudication.received_date
        upheld = [a for a in self.appeals.values() if a.outcome is AppealOutcome.UPHELD]
        if not upheld:
            raise FailedPrecondition(f"a {level.value} appeal needs an upheld internal appeal")
        return max(a.decision_date for a in upheld if a.decision_date)

    def record_appeal_decision(
        self,
        ctx: CommandContext,
        appeal_id: str,
        outcome: AppealOutcome,
        decision_date: date,
        additional_paid_cents: int,
        policy: TriagePolicy,
    ) -> AppealRecord:
        if appeal_id not in self.appeals:
            raise NotFound(f"appeal {appeal_id} not found on this claim")
        if self.has_handled(ctx):
            return self.appeals[appeal_id]
        record = self.appeals[appeal_id]
        if additional_paid_cents < 0:
            raise InvalidArgument("must not be negative", "additional_paid_cents")
        if outcome is AppealOutcome.UPHELD and additional_paid_cents:
            raise InvalidArgument("an upheld denial pays nothing more", "additional_paid_cents")
        if decision_date < record.filed_date:
            raise InvalidArgument("before the appeal was filed", "decision_date")
        if decision_date > ctx.now.date():
            raise InvalidArgument("in the future", "decision_date")
        if record.decided:
            raise FailedPrecondition(f"appeal {appeal_id} was already decided")
        status = (
            ClaimStatus.APPEAL_UPHELD
            if outcome is AppealOutcome.UPHELD
            else ClaimStatus.APPEAL_OVERTURNED
        )
        self._record(
            self.AppealDecisionRecorded,
            ctx,
            appeal_id=appeal_id,
            outcome=outcome.value,
            decision_date=decision_date.isoformat(),
            additional_paid_cents=additional_paid_cents,
            status=status.value,
        )
        if outcome is not AppealOutcome.OVERTURNED:
            # An upheld (or partly upheld) denial goes back to triage: negotiation/IDR or not.
            self._record_triage(
                ctx, triage(self.data, self.adjudication, self.document_kinds, policy)
            )
        return self.appeals[appeal_id]

    # -- downstream progress ----------------------------------------------------------------
    def reach_stage(self, ctx: CommandContext, status: ClaimStatus, source_event_id: str) -> None:
        if self.has_handled(ctx) or self.status is status or self.status in _CLOSED:
            return
        self._record(
            self.ClaimStageReached, ctx, status=status.value, source_event_id=source_event_id
        )

    def _require_open_or_superseded(self, action: str) -> None:
        if self.status is ClaimStatus.WITHDRAWN:
            raise FailedPrecondition(f"cannot {action}: the claim was withdrawn")

    def _require_open(self, action: str) -> None:
        self._require_open_or_superseded(action)
        if self.status in _SUPERSEDED:
            raise FailedPrecondition(
                f"cannot {action}: the claim was {self.status.value} by {self.replaced_by_claim_id}"
            )


def _is_adverse(adjudication: Adjudication, data: ClaimData) -> bool:
    """Denied, or paid less than billed: an adverse benefit determination one may appeal."""
    billed = adjudication.billed_cents or data.billed_cents
    return (
        adjudication.denied
        or adjudication.paid_cents + (adjudication.patient_responsibility_cents) < billed
    )


def _validate_adjudication(a: Adjudication, data: ClaimData, today: date) -> None:
    bad: list[FieldViolation] = []
    prefix = "adjudication."
    for name in (
        "billed_cents",
        "allowed_cents",
        "paid_cents",
        "patient_responsibility_cents",
        "qpa_cents",
    ):
        if getattr(a, name) < 0:
            bad.append(FieldViolation(prefix + name, "must not be negative"))
    billed = a.billed_cents or data.billed_cents
    if a.allowed_cents > billed:
        bad.append(FieldViolation(prefix + "allowed_cents", "exceeds the billed amount"))
    if a.paid_cents + a.patient_responsibility_cents > billed:
        bad.append(
            FieldViolation(
                prefix + "paid_cents", "paid plus patient responsibility exceeds the billed amount"
            )
        )
    if a.received_date > today:
        bad.append(FieldViolation(prefix + "received_date", "in the future"))
    if data.lines and a.received_date < data.first_service_date:
        bad.append(FieldViolation(prefix + "received_date", "before the first date of service"))
    if a.qpa_disclosed and a.qpa_cents <= 0:
        bad.append(FieldViolation(prefix + "qpa_cents", "a disclosed QPA must be positive"))
    if a.denied and a.paid_cents:
        bad.append(FieldViolation(prefix + "paid_cents", "a denied claim pays nothing"))
    for i, code in enumerate(a.carc_codes):
        if not re.match(r"^([1-9]\d{0,3}|[A-Z]\d{1,2}|[A-Z])$", code):
            bad.append(FieldViolation(f"{prefix}carc_codes[{i}]", f"{code!r} is not a CARC"))
    for i, code in enumerate(a.rarc_codes):
        if not re.match(r"^(M|MA|N)\d{1,4}$", code):
            bad.append(FieldViolation(f"{prefix}rarc_codes[{i}]", f"{code!r} is not a RARC"))
    if len(a.payer_claim_control_number) > 50:
        bad.append(FieldViolation(prefix + "payer_claim_control_number", "at most 50 characters"))
    if bad:
        raise InvalidArgument(bad)
