"""Domain → proto for the claims service: the only place its messages are built, and the tables
between proto enums and domain vocabularies (requests are read in adapters/commands.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from oonledger.claims.v1 import claims_pb2 as pb
from services.claims.adapters.sql import ClaimRow, WorkRow
from services.claims.adapters.x12 import Exported, ParsedFile
from services.claims.application import (
    ImportOutcome,
)
from services.claims.domain import (
    AppealChannel,
    AppealLevel,
    AppealOutcome,
    AppealRecord,
    Claim,
    ClaimData,
    ClaimStatus,
    ClaimType,
    CleanClaimReport,
    DenialRemedy,
    DocumentKind,
    Frequency,
    NetworkStatus,
    PlanFunding,
    Remedy,
    Route,
    TriageDecision,
)
from services.x12.findings import Finding

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
    ClaimStatus.WITHDRAWN: pb.CLAIM_STATUS_WITHDRAWN,
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
    Remedy.CLOSE_DUPLICATE: pb.REMEDY_CLOSE_DUPLICATE,
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


# -- domain → responses -----------------------------------------------------------------------
def _timestamp(value: datetime | None) -> Timestamp | None:
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
            gender=data.patient.gender,
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
            address=pb.Address(
                line1=data.facility.address.line1,
                city=data.facility.address.city,
                state=data.facility.address.state,
                postal_code=data.facility.address.postal_code,
            ),
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


def triage_message(decision: TriageDecision, triaged_at: datetime | None = None) -> pb.Triage:
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
                rule_id=x.rule_id, field=x.field, message=x.message, blocking=x.blocking,
                rule_version=x.rule_version,
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
        expected_additional_cents=record.expected_additional_cents,
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
        paid_cents=claim.paid_cents,
        expected_additional_cents=claim.expected_additional_cents,
        negotiation_refusal=claim.negotiation_refusal,
    )


def got_claim(claim: Claim) -> pb.GetClaimResponse:
    return pb.GetClaimResponse(claim=claim_message(claim))


def adjudication_recorded(claim: Claim) -> pb.RecordAdjudicationResponse:
    return pb.RecordAdjudicationResponse(claim=claim_message(claim))


def document_attached(claim: Claim, document_id: str) -> pb.AttachDocumentResponse:
    return pb.AttachDocumentResponse(claim=claim_message(claim), document_id=document_id)


def triaged(claim: Claim, decision: TriageDecision) -> pb.TriageClaimResponse:
    return pb.TriageClaimResponse(
        claim=claim_message(claim), triage=triage_message(decision, claim.triaged_at)
    )


def clean_claim_checked(claim: Claim, report: CleanClaimReport) -> pb.CheckCleanClaimResponse:
    return pb.CheckCleanClaimResponse(claim=claim_message(claim), report=clean_report(report))


def corrected_claim_submitted(
    original: Claim, replacement: Claim
) -> pb.SubmitCorrectedClaimResponse:
    return pb.SubmitCorrectedClaimResponse(
        original=claim_message(original), corrected=claim_message(replacement)
    )


def claim_updated(claim: Claim) -> pb.UpdateClaimResponse:
    return pb.UpdateClaimResponse(claim=claim_message(claim))


def claim_withdrawn(claim: Claim) -> pb.WithdrawClaimResponse:
    return pb.WithdrawClaimResponse(claim=claim_message(claim))


def appeal_filed(claim: Claim, record: AppealRecord) -> pb.FileAppealResponse:
    return pb.FileAppealResponse(claim=claim_message(claim), appeal=appeal(record))


def appeal_decision_recorded(claim: Claim, record: AppealRecord) -> pb.RecordAppealDecisionResponse:
    return pb.RecordAppealDecisionResponse(claim=claim_message(claim), appeal=appeal(record))


def registered(claim: Claim, created: bool) -> pb.RegisterClaimResponse:
    return pb.RegisterClaimResponse(claim=claim_message(claim), created=created)


def import_response(outcomes: Sequence[ImportOutcome]) -> pb.ImportClaimsResponse:
    results = [
        pb.ImportResult(
            index=o.index,
            claim_id=o.claim_id,
            created=o.created,
            errors=[pb.FieldError(field=e.field, description=e.description) for e in o.errors],
        )
        for o in outcomes
    ]
    created = sum(1 for o in outcomes if o.created)
    rejected = sum(1 for o in outcomes if o.errors)
    return pb.ImportClaimsResponse(
        results=results,
        created_count=created,
        existing_count=len(outcomes) - created - rejected,
        rejected_count=rejected,
    )


def x12_finding(finding: Finding) -> pb.X12Finding:
    return pb.X12Finding(
        location=finding.location,
        segment=finding.segment,
        position=finding.position,
        element=finding.element,
        rule=finding.rule,
        value=finding.value,
        blocking=finding.blocking,
    )


def import_837_response(
    outcomes: Sequence[ImportOutcome], parsed: ParsedFile
) -> pb.Import837Response:
    # A transaction-level finding stops each of its claims; it is listed once. A claims rule
    # that refused a claim read from the file is placed at the segment the field came from.
    found: list[Finding] = [f for c in parsed.claims for f in c.findings]
    for outcome in outcomes:
        claim = parsed.claims[outcome.index] if outcome.index < len(parsed.claims) else None
        if claim is not None and claim.data is not None:
            found.extend(claim.finding(e.field, e.description) for e in outcome.errors)
    findings = dict.fromkeys([*found, *parsed.notes])
    return pb.Import837Response(
        **{"import": import_response(outcomes)},
        locations=[c.location for c in parsed.claims],
        findings=[x12_finding(f) for f in findings],
    )


def claim_summary(row: ClaimRow) -> pb.ClaimSummary:
    return pb.ClaimSummary(
        claim_id=str(row.claim_id),
        client_id=row.client_id,
        payer_id=row.payer_id,
        patient_control_number=row.patient_control_number,
        status=STATUS[ClaimStatus(row.status)],
        route=ROUTE[Route(row.route)] if row.route else 0,
        nsa_protected=row.nsa_protected,
        total_billed_cents=row.total_billed_cents,
        paid_cents=row.paid_cents,
        first_service_date=row.first_service_date.isoformat(),
        version=row.version,
    )


def claims_page(rows: Sequence[ClaimRow], token: str) -> pb.ListClaimsResponse:
    return pb.ListClaimsResponse(claims=[claim_summary(r) for r in rows], next_page_token=token)


WORK_KINDS = {
    "blocking_findings": pb.WORK_ITEM_KIND_BLOCKING_FINDINGS,
    "awaiting_adjudication": pb.WORK_ITEM_KIND_AWAITING_ADJUDICATION,
    "appeal_due": pb.WORK_ITEM_KIND_APPEAL_DUE,
    "appeal": pb.WORK_ITEM_KIND_APPEAL_DUE,
    "resubmit_corrected": pb.WORK_ITEM_KIND_RESUBMIT_CORRECTED,
    "attach_documentation": pb.WORK_ITEM_KIND_ATTACH_DOCUMENTS,
    "negotiate": pb.WORK_ITEM_KIND_NEGOTIATE,
    "close_duplicate": pb.WORK_ITEM_KIND_CLOSE_DUPLICATE,
    "write_off": pb.WORK_ITEM_KIND_WRITE_OFF,
    "bill_other_payer": pb.WORK_ITEM_KIND_BILL_OTHER_PAYER,
    "negotiation_refused": pb.WORK_ITEM_KIND_NEGOTIATION_REFUSED,
}


def work_queue(rows: Sequence[WorkRow]) -> pb.ClaimsWorkQueueResponse:
    return pb.ClaimsWorkQueueResponse(
        items=[
            pb.WorkItem(
                kind=WORK_KINDS[r.kind],
                claim_id=str(r.claim_id),
                patient_control_number=r.patient_control_number,
                detail=r.detail,
                due_date=r.due.isoformat() if r.due else "",
                due_rule=r.rule,
                rule_set_version=r.rule_set_version,
            )
            for r in rows
        ]
    )


def exported_837(exported: Exported) -> pb.Export837Response:
    return pb.Export837Response(
        x12=exported.text, implementation_guide=exported.implementation_guide
    )

