"""The Claim aggregate: intake, adjudication, documents, triage, clean check, corrections, appeals.

Pure: commands take a `CommandContext` (tenant, actor, request id, `now`) and either record
past-tense events or raise the errors of `services.common.errors`. No I/O, no clock, no uuid4.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from services.claims.domain import appeals, clean_claim, corrections, denials, event_data, intake
from services.claims.domain.adjudication_rules import is_adverse as _is_adverse
from services.claims.domain.adjudication_rules import (
    validate_adjudication as _validate_adjudication,
)
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
        # The action's due date ("" when nothing is due), the rule that set it and why.
        action_due_date: str
        action_rule: str
        action_reason: str
        rule_set_version: str

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
        expected_additional_cents: int
        paid_cents: int
        denied: bool
        next_level: str
        next_level_deadline: str
        next_level_rule: str
        appeals_exhausted: bool

        def apply(self, aggregate: Claim) -> None:
            aggregate.appeals[self.appeal_id] = replace(
                aggregate.appeals[self.appeal_id],
                outcome=AppealOutcome(self.outcome),
                decision_date=date.fromisoformat(self.decision_date),
                additional_paid_cents=self.additional_paid_cents,
                expected_additional_cents=getattr(self, "expected_additional_cents", 0),
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

    class NegotiationRefusalRecorded(TenantAggregate.Event):
        """Negotiation refused to open a case for the claim (its NegotiationRefused)."""

        reason: str
        source_event_id: str
        notice_due_on: str
        rule_set_version: str

        def apply(self, aggregate: Claim) -> None:
            aggregate.negotiation_refusal = self.reason

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
        self.negotiation_refusal = ""

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
        adverse = _is_adverse(adjudication, self.data)
        action = denials.work_action(remedies if adverse else (), adjudication.received_date)
        if self.status is ClaimStatus.IN_APPEAL:
            status = ClaimStatus.IN_APPEAL
        else:
            status = ClaimStatus.DENIED if adjudication.denied else ClaimStatus.PAID
        self._record(
            self.AdjudicationRecorded,
            ctx,
            adjudication=event_data.adjudication_to_dict(adjudication),
            remedies=[event_data.remedy_to_dict(r) for r in remedies],
            primary_remedy=action.remedy.value,
            status=status.value,
            client_id=self.data.client_id,
            payer_id=self.data.payer.payer_id,
            appeal_filing_deadline=(
                appeals.filing_window(
                    AppealLevel.FIRST_INTERNAL, adjudication.received_date
                ).deadline.isoformat()
                if adverse
                else ""
            ),
            action_due_date=action.due.isoformat() if action.due else "",
            action_rule=action.rule,
            action_reason=action.reason,
            rule_set_version=action.rule_set_version,
        )

    # -- documents --------------------------------------------------------------------------
    def attach_document(self, ctx: CommandContext, document: Document) -> None:
        if self.has_handled(ctx):
            return
        bad = intake.document_violations(document)
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
        bad = appeals.filing_violations(grounds, cited_document_ids, self.documents)
        if bad:
            raise InvalidArgument([FieldViolation(f, d) for f, d in bad])
        self._require_open("appeal")
        if self.adjudication is None:
            raise FailedPrecondition("nothing to appeal: the payer has not adjudicated the claim")
        if any(not a.decided for a in self.appeals.values()):
            raise FailedPrecondition("an appeal is already pending on this claim")
        refusal = appeals.ladder_refusal(level, self.appeals.values())
        if refusal:
            raise FailedPrecondition(refusal)
        adverse = adverse_determination_date or appeals.adverse_anchor(
            level, self.adjudication.received_date, self.appeals.values())
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

    def record_appeal_decision(
        self,
        ctx: CommandContext,
        appeal_id: str,
        outcome: AppealOutcome,
        decision_date: date,
        additional_paid_cents: int,
        policy: TriagePolicy,
        expected_additional_cents: int = 0,
    ) -> AppealRecord:
        if appeal_id not in self.appeals:
            raise NotFound(f"appeal {appeal_id} not found on this claim")
        if self.has_handled(ctx):
            return self.appeals[appeal_id]
        record = self.appeals[appeal_id]
        adjudication = self.adjudication
        if adjudication is None:  # an appeal is only filed on an adjudicated claim
            raise FailedPrecondition("the claim has no adjudication to decide an appeal on")
        problem = appeals.decision_amount_problem(
            outcome, additional_paid_cents, expected_additional_cents, self.paid_cents,
            adjudication.billed_cents or self.data.billed_cents)
        if problem:
            raise InvalidArgument(problem[1], problem[0])
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
        step = appeals.after_decision(record.level, outcome, decision_date)
        self._record(
            self.AppealDecisionRecorded,
            ctx,
            appeal_id=appeal_id,
            outcome=outcome.value,
            decision_date=decision_date.isoformat(),
            additional_paid_cents=additional_paid_cents,
            status=status.value,
            expected_additional_cents=expected_additional_cents,
            paid_cents=self.paid_cents + additional_paid_cents,
            denied=adjudication.denied and outcome is AppealOutcome.UPHELD,
            next_level=step.level.value if step.level else "",
            next_level_deadline=step.deadline.isoformat() if step.deadline else "",
            next_level_rule=step.rule,
            appeals_exhausted=step.exhausted,
        )
        if outcome is not AppealOutcome.OVERTURNED:
            # An upheld (or partly upheld) denial goes back to triage: negotiation/IDR or not,
            # with what the payer has paid by now.
            self._record_triage(
                ctx, triage(self.data, self.paid_adjudication, self.document_kinds, policy)
            )
        return self.appeals[appeal_id]

    @property
    def paid_cents(self) -> int:
        """The adjudication's payment plus what decided appeals added."""
        initial = self.adjudication.paid_cents if self.adjudication else 0
        return initial + sum(a.additional_paid_cents for a in self.appeals.values())

    @property
    def expected_additional_cents(self) -> int:
        return sum(a.expected_additional_cents for a in self.appeals.values())

    @property
    def paid_adjudication(self) -> Adjudication | None:
        """The adjudication as the appeals left it: paid what was added, denied unless lifted."""
        if self.adjudication is None:
            return None
        overturned = any(a.outcome is not None and a.outcome is not AppealOutcome.UPHELD
                         for a in self.appeals.values())
        return replace(self.adjudication, paid_cents=self.paid_cents,
                       denied=self.adjudication.denied and not overturned)

    def record_negotiation_refusal(
        self, ctx: CommandContext, reason: str, source_event_id: str, notice_due_on: str,
        rule_set_version: str,
    ) -> None:
        if self.has_handled(ctx) or self.negotiation_refusal == reason:
            return
        self._record(
            self.NegotiationRefusalRecorded, ctx, reason=reason, source_event_id=source_event_id,
            notice_due_on=notice_due_on, rule_set_version=rule_set_version,
        )

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
