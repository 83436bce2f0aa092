"""Proto ↔ domain conversions for the claims service (the only place that knows both)."""

from __future__ import annotations

from datetime import date
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from oonledger.claims.v1 import claims_pb2 as pb
from services.claims import intake
from services.claims.appeals import AppealChannel, AppealLevel, AppealOutcome
from services.claims.clean_claim import CleanClaimReport
from services.claims.denials import DenialRemedy, Remedy
from services.claims.domain import AppealRecord, Claim
from services.claims.model import (
    Address,
    Adjudication,
    ClaimData,
    ClaimStatus,
    ClaimType,
    DocumentKind,
    Facility,
    Frequency,
    NetworkStatus,
    Patient,
    Payer,
    Plan,
    PlanFunding,
    Provider,
    Route,
    ServiceLine,
)
from services.claims.triage import TriageDecision, TriagePolicy
from services.common.errors import FieldViolation, InvalidArgument

MAX_TEXT_FIELD = 200

CLAIM_TYPES = {
    pb.CLAIM_TYPE_PROFESSIONAL: ClaimType.PROFESSIONAL,
    pb.CLAIM_TYPE_INSTITUTIONAL: ClaimType.INSTITUTIONAL,
}
PLAN_FUNDING = {
    pb.PLAN_FUNDING_UNSPECIFIED: PlanFunding.UNSPECIFIED,
    pb.PLAN_FUNDING_FULLY_INSURED: PlanFunding.FULLY_INSURED,
    pb.PLAN_FUNDING_SELF_FUNDED_ERISA: PlanFunding.SELF_FUNDED_ERISA,
    pb.PLAN_FUNDING_NON_FEDERAL_GOVERNMENTAL: PlanFunding.NON_FEDERAL_GOVERNMENTAL,
    pb.PLAN_FUNDING_CHURCH: PlanFunding.CHURCH,
    pb.PLAN_FUNDING_FEHB: PlanFunding.FEHB,
    pb.PLAN_FUNDING_MEDICARE: PlanFunding.MEDICARE,
    pb.PLAN_FUNDING_MEDICARE_ADVANTAGE: PlanFunding.MEDICARE_ADVANTAGE,
    pb.PLAN_FUNDING_MEDICAID: PlanFunding.MEDICAID,
    pb.PLAN_FUNDING_CHIP: PlanFunding.CHIP,
    pb.PLAN_FUNDING_TRICARE: PlanFunding.TRICARE,
    pb.PLAN_FUNDING_VA_IHS: PlanFunding.VA_IHS,
    pb.PLAN_FUNDING_UNINSURED: PlanFunding.UNINSURED,
}
NETWORK = {
    pb.NETWORK_STATUS_UNSPECIFIED: NetworkStatus.UNSPECIFIED,
    pb.NETWORK_STATUS_IN_NETWORK: NetworkStatus.IN_NETWORK,
    pb.NETWORK_STATUS_OUT_OF_NETWORK: NetworkStatus.OUT_OF_NETWORK,
    pb.NETWORK_STATUS_NOT_APPLICABLE: NetworkStatus.NOT_APPLICABLE,
}
STATUS = {
    ClaimStatus.REGISTERED: pb.CLAIM_STATUS_REGISTERED,
    ClaimStatus.READY_TO_FILE: pb.CLAIM_STATUS_READY_TO_FILE,
    ClaimStatus.PAID: pb.CLAIM_STATUS_PAID,
    ClaimStatus.DENIED: pb.CLAIM_STATUS_DENIED,
    ClaimStatus.REPLACED: pb.CLAIM_STATUS_REPLACED,
    ClaimStatus.VOIDED: pb.CLAIM_STATUS_VOIDED,
    ClaimStatus.IN_APPEAL: pb.CLAIM_STATUS_IN_APPEAL,
    ClaimStatus.APPEAL_OVERTURNED: pb.CLAIM_STATUS_APPEAL_OVERTURNED,
    ClaimStatus.APPEAL_UPHELD: pb.CLAIM_STATUS_APPEAL_UPHELD,
    ClaimStatus.IN_NEGOTIATION: pb.CLAIM_STATUS_IN_NEGOTIATION,
    ClaimStatus.IN_IDR: pb.CLAIM_STATUS_IN_IDR,
    ClaimStatus.SETTLED: pb.CLAIM_STATUS_SETTLED,
}
STATUS_FROM_PB = {v: k for k, v in STATUS.items()}
ROUTE = {
    Route.FEDERAL_IDR: pb.ROUTE_FEDERAL_IDR,
    Route.STATE_PROCESS: pb.ROUTE_STATE_PROCESS,
    Route.ALL_PAYER_MODEL: pb.ROUTE_ALL_PAYER_MODEL,
    Route.NOT_ELIGIBLE: pb.ROUTE_NOT_ELIGIBLE,
}
ROUTE_FROM_PB = {v: k for k, v in ROUTE.items()}
DOCUMENT_KIND = {
    pb.DOCUMENT_KIND_CLAIM_FORM: DocumentKind.CLAIM_FORM,
    pb.DOCUMENT_KIND_ITEMIZED_BILL: DocumentKind.ITEMIZED_BILL,
    pb.DOCUMENT_KIND_MEDICAL_RECORDS: DocumentKind.MEDICAL_RECORDS,
    pb.DOCUMENT_KIND_EOB: DocumentKind.EOB,
    pb.DOCUMENT_KIND_ERA_835: DocumentKind.ERA_835,
    pb.DOCUMENT_KIND_NOTICE_AND_CONSENT: DocumentKind.NOTICE_AND_CONSENT,
    pb.DOCUMENT_KIND_APPEAL_LETTER: DocumentKind.APPEAL_LETTER,
    pb.DOCUMENT_KIND_PAYER_CORRESPONDENCE: DocumentKind.PAYER_CORRESPONDENCE,
    pb.DOCUMENT_KIND_AUTHORIZATION: DocumentKind.AUTHORIZATION,
    pb.DOCUMENT_KIND_OTHER: DocumentKind.OTHER,
}
DOCUMENT_KIND_TO_PB = {v: k for k, v in DOCUMENT_KIND.items()}
REMEDY = {
    Remedy.NOTHING_TO_DO: pb.REMEDY_NOTHING_TO_DO,
    Remedy.RESUBMIT_CORRECTED: pb.REMEDY_RESUBMIT_CORRECTED,
    Remedy.ATTACH_DOCUMENTATION: pb.REMEDY_ATTACH_DOCUMENTATION,
    Remedy.APPEAL: pb.REMEDY_APPEAL,
    Remedy.NEGOTIATE: pb.REMEDY_NEGOTIATE,
    Remedy.BILL_OTHER_PAYER: pb.REMEDY_BILL_OTHER_PAYER,
    Remedy.WRITE_OFF: pb.REMEDY_WRITE_OFF,
}
FREQUENCY = {
    pb.FREQUENCY_CODE_ORIGINAL: Frequency.ORIGINAL,
    pb.FREQUENCY_CODE_REPLACEMENT: Frequency.REPLACEMENT,
    pb.FREQUENCY_CODE_VOID: Frequency.VOID,
}
FREQUENCY_TO_PB = {v: k for k, v in FREQUENCY.items()}
APPEAL_LEVEL = {
    pb.APPEAL_LEVEL_FIRST_INTERNAL: AppealLevel.FIRST_INTERNAL,
    pb.APPEAL_LEVEL_SECOND_INTERNAL: AppealLevel.SECOND_INTERNAL,
    pb.APPEAL_LEVEL_EXTERNAL_REVIEW: AppealLevel.EXTERNAL_REVIEW,
}
APPEAL_LEVEL_TO_PB = {v: k for k, v in APPEAL_LEVEL.items()}
APPEAL_CHANNEL = {
    pb.APPEAL_CHANNEL_PORTAL: AppealChannel.PORTAL,
    pb.APPEAL_CHANNEL_FAX: AppealChannel.FAX,
    pb.APPEAL_CHANNEL_MAIL: AppealChannel.MAIL,
    pb.APPEAL_CHANNEL_EDI: AppealChannel.EDI,
}
APPEAL_CHANNEL_TO_PB = {v: k for k, v in APPEAL_CHANNEL.items()}
APPEAL_OUTCOME = {
    pb.APPEAL_OUTCOME_OVERTURNED: AppealOutcome.OVERTURNED,
    pb.APPEAL_OUTCOME_PARTIALLY_OVERTURNED: AppealOutcome.PARTIALLY_OVERTURNED,
    pb.APPEAL_OUTCOME_UPHELD: AppealOutcome.UPHELD,
}
APPEAL_OUTCOME_TO_PB = {v: k for k, v in APPEAL_OUTCOME.items()}


class _Fields:
    """Collects field violations while reading a request, so all are reported at once."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.violations: list[FieldViolation] = []

    def bad(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(self.prefix + field, description))

    def date(self, field: str, value: str, required: bool = True) -> date | None:
        if not value:
            if required:
                self.bad(field, "required (YYYY-MM-DD)")
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.bad(field, f"{value!r} is not a YYYY-MM-DD date")
            return None

    def enum(self, field: str, value: int, table: dict[int, Any], required: bool = True) -> Any:
        if value in table:
            return table[value]
        if required or value != 0:
            self.bad(field, "required" if value == 0 else f"unknown value {value}")
        return None

    def text(
        self, field: str, value: str, required: bool = False, limit: int = MAX_TEXT_FIELD
    ) -> str:
        value = value.strip()
        if required and not value:
            self.bad(field, "required")
        if len(value) > limit:
            self.bad(field, f"at most {limit} characters")
        return value

    def raise_if_any(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)


# -- requests → domain ------------------------------------------------------------------------
def claim_data(msg: pb.ClaimInput, prefix: str = "claim.") -> ClaimData:
    """A ClaimInput as domain data; unreadable fields raise InvalidArgument (all at once)."""
    f = _Fields(prefix)
    claim_type = f.enum("claim_type", msg.claim_type, CLAIM_TYPES)
    lines = []
    for i, line in enumerate(msg.lines):
        at = f"lines[{i}]."
        service_date = f.date(at + "service_date", line.service_date)
        lines.append(
            ServiceLine(
                procedure_code=line.procedure_code.strip().upper(),
                modifiers=tuple(m.strip().upper() for m in line.modifiers),
                units=line.units,
                billed_cents=line.billed_cents,
                service_date=service_date or date.min,
                place_of_service=line.place_of_service.strip(),
                revenue_code=line.revenue_code.strip(),
                diagnosis_pointers=tuple(line.diagnosis_pointers),
                line_control_number=f.text(
                    at + "line_control_number", line.line_control_number, limit=50
                ),
            )
        )
    birth = f.date("patient.birth_date", msg.patient.birth_date, required=False)
    data = ClaimData(
        client_id=f.text("client_id", msg.client_id, limit=100),
        claim_type=claim_type or ClaimType.PROFESSIONAL,
        patient_control_number=msg.patient_control_number.strip(),
        provider=Provider(
            name=msg.provider.name.strip(),
            npi=msg.provider.npi.strip(),
            tin=msg.provider.tin.strip(),
            address=Address(
                line1=f.text("provider.address.line1", msg.provider.address.line1),
                city=f.text("provider.address.city", msg.provider.address.city),
                state=msg.provider.address.state.strip().upper(),
                postal_code=msg.provider.address.postal_code.strip().replace("-", ""),
            ),
        ),
        patient=Patient(
            first_name=f.text("patient.first_name", msg.patient.first_name),
            last_name=f.text("patient.last_name", msg.patient.last_name),
            birth_date=birth,
            member_id=f.text("patient.member_id", msg.patient.member_id, limit=80),
        ),
        payer=Payer(
            payer_id=f.text("payer.payer_id", msg.payer.payer_id, limit=80),
            name=msg.payer.name.strip(),
        ),
        plan=plan(msg.plan, f, "plan."),
        facility=facility(msg.facility, f, "facility."),
        emergency=msg.emergency,
        diagnosis_codes=tuple(dx.replace(".", "").strip().upper() for dx in msg.diagnosis_codes),
        lines=tuple(lines),
        total_billed_cents=msg.total_billed_cents,
        bill_type=msg.bill_type.strip(),
        admission_type_code=msg.admission_type_code.strip(),
        patient_status_code=msg.patient_status_code.strip(),
    )
    if f.violations:
        # Report the intake rules' findings in the same answer, not after the caller fixes
        # these (a field already named here is not named twice).
        named = {v.field for v in f.violations}
        f.violations += [v for v in intake.validate_claim(data, prefix) if v.field not in named]
    f.raise_if_any()
    return data


def plan(msg: pb.Plan, f: _Fields, at: str) -> Plan:
    return Plan(
        name=msg.name.strip(),
        funding=f.enum(at + "funding", msg.funding, PLAN_FUNDING, required=False)
        or PlanFunding.UNSPECIFIED,
        situs_state=msg.situs_state.strip().upper(),
        marketplace=msg.marketplace,
        narrow_network=msg.narrow_network,
        state_law_opt_in=msg.state_law_opt_in,
    )


def facility(msg: pb.Facility, f: _Fields, at: str) -> Facility:
    return Facility(
        name=msg.name.strip(),
        npi=msg.npi.strip(),
        network_status=f.enum(at + "network_status", msg.network_status, NETWORK, required=False)
        or NetworkStatus.UNSPECIFIED,
        state=msg.state.strip().upper(),
    )


def plan_facts(msg_plan: pb.Plan, msg_facility: pb.Facility) -> tuple[Plan, Facility]:
    f = _Fields()
    result = plan(msg_plan, f, "plan."), facility(msg_facility, f, "facility.")
    f.raise_if_any()
    return result


def adjudication(msg: pb.Adjudication) -> Adjudication:
    f = _Fields("adjudication.")
    received = f.date("received_date", msg.received_date)
    f.raise_if_any()
    return Adjudication(
        received_date=received or date.min,
        billed_cents=msg.billed_cents,
        allowed_cents=msg.allowed_cents,
        paid_cents=msg.paid_cents,
        patient_responsibility_cents=msg.patient_responsibility_cents,
        qpa_cents=msg.qpa_cents,
        qpa_disclosed=msg.qpa_disclosed,
        carc_codes=tuple(c.strip().upper() for c in msg.carc_codes),
        rarc_codes=tuple(c.strip().upper() for c in msg.rarc_codes),
        payer_claim_control_number=msg.payer_claim_control_number.strip(),
        denied=msg.denied,
    )


def document_kind(value: int) -> DocumentKind:
    f = _Fields()
    kind = f.enum("kind", value, DOCUMENT_KIND)
    f.raise_if_any()
    return kind  # type: ignore[no-any-return]


def triage_policy(msg: pb.TriagePolicy) -> TriagePolicy:
    f = _Fields("policy.")
    if msg.high_dollar_threshold_cents < 0:
        f.bad("high_dollar_threshold_cents", "must not be negative")
    if not 0 <= msg.underpaid_below_billed_bps <= 10_000:
        f.bad("underpaid_below_billed_bps", "between 0 and 10000 basis points")
    f.raise_if_any()
    default = TriagePolicy()
    return TriagePolicy(
        high_dollar_threshold_cents=msg.high_dollar_threshold_cents
        or default.high_dollar_threshold_cents,
        underpaid_below_billed_bps=msg.underpaid_below_billed_bps
        or default.underpaid_below_billed_bps,
    )


def frequency(value: int) -> Frequency:
    f = _Fields()
    freq = f.enum("frequency", value, FREQUENCY)
    f.raise_if_any()
    return freq  # type: ignore[no-any-return]


def appeal_request(msg: pb.FileAppealRequest) -> tuple[AppealLevel, AppealChannel, date | None]:
    f = _Fields()
    level = f.enum("level", msg.level, APPEAL_LEVEL)
    channel = f.enum("channel", msg.channel, APPEAL_CHANNEL)
    adverse = f.date("adverse_determination_date", msg.adverse_determination_date, required=False)
    f.raise_if_any()
    return level, channel, adverse


def appeal_decision(msg: pb.RecordAppealDecisionRequest) -> tuple[AppealOutcome, date]:
    f = _Fields()
    outcome = f.enum("outcome", msg.outcome, APPEAL_OUTCOME)
    decided = f.date("decision_date", msg.decision_date)
    f.raise_if_any()
    return outcome, decided or date.min


def list_filters(msg: pb.ListClaimsRequest) -> dict[str, Any]:
    f = _Fields()
    status = f.enum("status", msg.status, STATUS_FROM_PB, required=False)
    route = f.enum("route", msg.route, ROUTE_FROM_PB, required=False)
    date_from = f.date("service_date_from", msg.service_date_from, required=False)
    date_to = f.date("service_date_to", msg.service_date_to, required=False)
    if date_from and date_to and date_from > date_to:
        f.bad("service_date_to", "before service_date_from")
    if not 0 <= msg.page_size <= 1000:
        f.bad("page_size", "between 1 and 1000 (0 = default 100)")
    f.raise_if_any()
    return {
        "client_id": msg.client_id.strip(),
        "payer_id": msg.payer_id.strip(),
        "patient_control_number": msg.patient_control_number.strip(),
        "status": status,
        "route": route,
        "date_from": date_from,
        "date_to": date_to,
        "page_size": msg.page_size or 100,
        "page_token": msg.page_token,
    }


# -- domain → responses -----------------------------------------------------------------------
def _timestamp(value: Any) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def claim_input(data: ClaimData) -> pb.ClaimInput:
    return pb.ClaimInput(
        client_id=data.client_id,
        claim_type=pb.CLAIM_TYPE_PROFESSIONAL
        if data.claim_type is ClaimType.PROFESSIONAL
        else pb.CLAIM_TYPE_INSTITUTIONAL,
        patient_control_number=data.patient_control_number,
        provider=pb.Provider(
            name=data.provider.name,
            npi=data.provider.npi,
            tin=data.provider.tin,
            address=pb.Address(
                line1=data.provider.address.line1,
                city=data.provider.address.city,
                state=data.provider.address.state,
                postal_code=data.provider.address.postal_code,
            ),
        ),
        patient=pb.Patient(
            first_name=data.patient.first_name,
            last_name=data.patient.last_name,
            birth_date=data.patient.birth_date.isoformat() if data.patient.birth_date else "",
            member_id=data.patient.member_id,
        ),
        payer=pb.Payer(payer_id=data.payer.payer_id, name=data.payer.name),
        plan=pb.Plan(
            name=data.plan.name,
            funding={v: k for k, v in PLAN_FUNDING.items()}[data.plan.funding],
            situs_state=data.plan.situs_state,
            marketplace=data.plan.marketplace,
            narrow_network=data.plan.narrow_network,
            state_law_opt_in=data.plan.state_law_opt_in,
        ),
        facility=pb.Facility(
            name=data.facility.name,
            npi=data.facility.npi,
            network_status={v: k for k, v in NETWORK.items()}[data.facility.network_status],
            state=data.facility.state,
        ),
        emergency=data.emergency,
        diagnosis_codes=list(data.diagnosis_codes),
        lines=[
            pb.ServiceLine(
                procedure_code=line.procedure_code,
                modifiers=list(line.modifiers),
                units=line.units,
                billed_cents=line.billed_cents,
                service_date=line.service_date.isoformat(),
                place_of_service=line.place_of_service,
                revenue_code=line.revenue_code,
                diagnosis_pointers=list(line.diagnosis_pointers),
                line_control_number=line.line_control_number,
            )
            for line in data.lines
        ],
        total_billed_cents=data.total_billed_cents,
        bill_type=data.bill_type,
        admission_type_code=data.admission_type_code,
        patient_status_code=data.patient_status_code,
    )


def triage_message(decision: TriageDecision, triaged_at: Any = None) -> pb.Triage:
    return pb.Triage(
        rule_set_version=decision.rule_set_version,
        route=ROUTE[decision.route],
        nsa_protected=decision.nsa_protected,
        worth_negotiating=decision.worth_negotiating,
        reasons=[pb.TriageReason(code=r.code, explanation=r.explanation) for r in decision.reasons],
        missing_documents=[DOCUMENT_KIND_TO_PB[k] for k in decision.missing_documents],
        triaged_at=_timestamp(triaged_at),
    )


def clean_report(report: CleanClaimReport) -> pb.CleanClaimReport:
    return pb.CleanClaimReport(
        rule_set_version=report.rule_set_version,
        clean=report.clean,
        findings=[
            pb.CleanClaimFinding(
                rule_id=x.rule_id, field=x.field, message=x.message, blocking=x.blocking
            )
            for x in report.findings
        ],
    )


def remedy(r: DenialRemedy) -> pb.DenialRemedy:
    return pb.DenialRemedy(
        code=r.code, meaning=r.meaning, remedy=REMEDY[r.remedy], explanation=r.explanation
    )


def appeal(record: AppealRecord) -> pb.Appeal:
    return pb.Appeal(
        appeal_id=record.appeal_id,
        level=APPEAL_LEVEL_TO_PB[record.level],
        grounds=record.grounds,
        cited_document_ids=list(record.cited_document_ids),
        channel=APPEAL_CHANNEL_TO_PB[record.channel],
        adverse_determination_date=record.adverse_determination_date.isoformat(),
        filed_date=record.filed_date.isoformat(),
        deadline=record.deadline.isoformat(),
        window_rule=record.window_rule,
        outcome=APPEAL_OUTCOME_TO_PB[record.outcome] if record.outcome else 0,
        decision_date=record.decision_date.isoformat() if record.decision_date else "",
        additional_paid_cents=record.additional_paid_cents,
        decision_due=record.decision_due.isoformat(),
    )


def claim_message(claim: Claim) -> pb.Claim:
    adj = claim.adjudication
    return pb.Claim(
        claim_id=str(claim.id),
        tenant_id=claim.tenant_id,
        version=claim.version,
        status=STATUS[claim.status],
        input=claim_input(claim.data),
        total_billed_cents=claim.data.billed_cents,
        frequency=FREQUENCY_TO_PB[claim.frequency],
        original_claim_id=claim.original_claim_id,
        changed_fields=list(claim.changed_fields),
        replaced_by_claim_id=claim.replaced_by_claim_id,
        adjudication=pb.Adjudication(
            received_date=adj.received_date.isoformat(),
            billed_cents=adj.billed_cents,
            allowed_cents=adj.allowed_cents,
            paid_cents=adj.paid_cents,
            patient_responsibility_cents=adj.patient_responsibility_cents,
            qpa_cents=adj.qpa_cents,
            qpa_disclosed=adj.qpa_disclosed,
            carc_codes=list(adj.carc_codes),
            rarc_codes=list(adj.rarc_codes),
            payer_claim_control_number=adj.payer_claim_control_number,
            denied=adj.denied,
        )
        if adj
        else None,
        documents=[
            pb.Document(
                document_id=d.document_id,
                kind=DOCUMENT_KIND_TO_PB[d.kind],
                sha256=d.sha256,
                location=d.location,
                size_bytes=d.size_bytes,
            )
            for d in claim.documents.values()
        ],
        triage=triage_message(claim.triage, claim.triaged_at) if claim.triage else None,
        clean_claim=clean_report(claim.clean_report) if claim.clean_report else None,
        denial_remedies=[remedy(r) for r in claim.remedies],
        appeals=[appeal(a) for a in claim.appeals.values()],
        registered_at=_timestamp(claim.created_on),
    )
