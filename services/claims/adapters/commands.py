"""Requests → typed commands (services/claims/application.py): every field read through
services/common/fields.py, every violation of a request reported at once. Builds no message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import TypeVar

from oonledger.claims.v1 import claims_pb2 as pb
from services.claims.adapters.mapping import (
    APPEAL_CHANNEL,
    APPEAL_LEVEL,
    APPEAL_OUTCOME,
    CLAIM_TYPES,
    DOCUMENT_KIND,
    FREQUENCY,
    NETWORK,
    PLAN_FUNDING,
    ROUTE_FROM_PB,
    STATUS_FROM_PB,
)
from services.claims.adapters.sql import ClaimQuery
from services.claims.adapters.x12 import ParsedClaim
from services.claims.application import (
    AttachDocument,
    CheckCleanClaim,
    FileAppeal,
    ImportClaims,
    ImportItem,
    RecordAdjudication,
    RecordAppealDecision,
    RegisterClaim,
    SubmitCorrectedClaim,
    TriageClaim,
    UpdateClaim,
    WithdrawClaim,
)
from services.claims.domain import (
    Address,
    Adjudication,
    ClaimData,
    ClaimType,
    Facility,
    Frequency,
    NetworkStatus,
    Patient,
    Payer,
    Plan,
    PlanFunding,
    Provider,
    ServiceLine,
    TriagePolicy,
    validate_claim,
)
from services.common.errors import InvalidArgument, Violations
from services.common.fields import parse_date, parse_enum, require_text

E = TypeVar("E", bound=Enum)
MAX_TEXT_FIELD = 200


def _text(
    violations: Violations, field: str, value: str, required: bool = False,
    limit: int = MAX_TEXT_FIELD,
) -> str:
    """Free text, stripped, within `limit` characters (`require_text` when required)."""
    value = require_text(violations, field, value) if required else value.strip()
    violations.check(len(value) <= limit, field, f"at most {limit} characters")
    return value


def _optional_enum(violations: Violations, field: str, value: int, table: Mapping[int, E]
                   ) -> E | None:
    """An enum that may be left unspecified (0); any other value must be known."""
    return parse_enum(violations, field, value, table, required=value != 0)


# -- requests → commands ----------------------------------------------------------------------
def claim_data(msg: pb.ClaimInput, prefix: str = "claim.") -> ClaimData:
    """A ClaimInput as domain data; unreadable fields raise InvalidArgument (all at once)."""
    v = Violations()
    claim_type = parse_enum(v, prefix + "claim_type", msg.claim_type, CLAIM_TYPES)
    lines = []
    for i, line in enumerate(msg.lines):
        at = f"{prefix}lines[{i}]."
        service_date = parse_date(v, at + "service_date", line.service_date)
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
                line_control_number=_text(
                    v, at + "line_control_number", line.line_control_number, limit=50
                ),
            )
        )
    birth = parse_date(v, prefix + "patient.birth_date", msg.patient.birth_date, required=False)
    data = ClaimData(
        client_id=_text(v, prefix + "client_id", msg.client_id, limit=100),
        claim_type=claim_type or ClaimType.PROFESSIONAL,
        patient_control_number=msg.patient_control_number.strip(),
        provider=Provider(
            name=msg.provider.name.strip(),
            npi=msg.provider.npi.strip(),
            tin=msg.provider.tin.strip(),
            address=Address(
                line1=_text(v, prefix + "provider.address.line1", msg.provider.address.line1),
                city=_text(v, prefix + "provider.address.city", msg.provider.address.city),
                state=msg.provider.address.state.strip().upper(),
                postal_code=msg.provider.address.postal_code.strip().replace("-", ""),
            ),
        ),
        patient=Patient(
            first_name=_text(v, prefix + "patient.first_name", msg.patient.first_name),
            last_name=_text(v, prefix + "patient.last_name", msg.patient.last_name),
            birth_date=birth,
            member_id=_text(v, prefix + "patient.member_id", msg.patient.member_id, limit=80),
            gender=msg.patient.gender.strip().upper(),
        ),
        payer=Payer(
            payer_id=_text(v, prefix + "payer.payer_id", msg.payer.payer_id, limit=80),
            name=msg.payer.name.strip(),
        ),
        plan=_plan(v, msg.plan, prefix + "plan."),
        facility=_facility(v, msg.facility, prefix + "facility."),
        emergency=msg.emergency,
        diagnosis_codes=tuple(dx.replace(".", "").strip().upper() for dx in msg.diagnosis_codes),
        lines=tuple(lines),
        total_billed_cents=msg.total_billed_cents,
        bill_type=msg.bill_type.strip(),
        admission_type_code=msg.admission_type_code.strip(),
        patient_status_code=msg.patient_status_code.strip(),
    )
    if v:
        # Report the intake rules' findings in the same answer, not after the caller fixes
        # these (a field already named here is not named twice).
        named = {x.field for x in v}
        v.extend(x for x in validate_claim(data, prefix) if x.field not in named)
    v.raise_if_any()
    return data


def _plan(v: Violations, msg: pb.Plan, at: str) -> Plan:
    return Plan(
        name=msg.name.strip(),
        funding=_optional_enum(v, at + "funding", msg.funding, PLAN_FUNDING)
        or PlanFunding.UNSPECIFIED,
        situs_state=msg.situs_state.strip().upper(),
        marketplace=msg.marketplace,
        narrow_network=msg.narrow_network,
        state_law_opt_in=msg.state_law_opt_in,
    )


def _facility(v: Violations, msg: pb.Facility, at: str) -> Facility:
    return Facility(
        name=msg.name.strip(),
        npi=msg.npi.strip(),
        network_status=_optional_enum(v, at + "network_status", msg.network_status, NETWORK)
        or NetworkStatus.UNSPECIFIED,
        state=msg.state.strip().upper(),
        address=Address(
            line1=_text(v, at + "address.line1", msg.address.line1),
            city=_text(v, at + "address.city", msg.address.city),
            state=msg.address.state.strip().upper(),
            postal_code=msg.address.postal_code.strip().replace("-", ""),
        ),
    )


def register_claim(request: pb.RegisterClaimRequest) -> RegisterClaim:
    return RegisterClaim(claim_data(request.claim))


def import_claims(request_id: str, items: Sequence[pb.ImportItem]) -> ImportClaims:
    """Each item read on its own: an unreadable one is reported in its result, not raised.
    An item without a request id gets `<the call's request id>:<index>`."""
    read: list[ImportItem] = []
    for index, item in enumerate(items):
        item_request = item.request_id.strip() or f"{request_id}:{index}"
        try:
            read.append(ImportItem(item_request, claim_data(item.claim, f"items[{index}].claim.")))
        except InvalidArgument as exc:
            read.append(ImportItem(item_request, exc))
    return ImportClaims(tuple(read))


def correction_pcns(parsed: Sequence[ParsedClaim]) -> set[str]:
    """The PCNs of the file's 7/8 claims that name their original (REF*F8): whose claims the
    read model is asked for, to link each correction to its original."""
    return {c.data.patient_control_number for c in parsed if c.data is not None
            and c.frequency is not Frequency.ORIGINAL and c.original_reference.strip()}


def import_item(
    request_id: str, c: ParsedClaim, read: ClaimData | InvalidArgument,
    candidates: Mapping[str, tuple[str, ...]],
) -> ImportItem:
    found = candidates.get(c.data.patient_control_number, ()) if c.data is not None else ()
    return ImportItem(request_id, read, c.frequency, c.original_reference, found)


def imported_837(
    request_id: str, parsed: Sequence[ParsedClaim],
    candidates: Mapping[str, tuple[str, ...]] | None = None,
) -> ImportClaims:
    """The claims read from an 837, each under `<request id>:<its location in the file>`; a
    7/8 with the claim ids under its PCN (`candidates`, from `correction_pcns`)."""
    items: list[ImportItem] = []
    for c in parsed:
        read = c.data if c.data is not None else c.error
        if read is not None:
            items.append(import_item(f"{request_id}:{c.location}", c, read, candidates or {}))
    return ImportClaims(tuple(items))


@dataclass(frozen=True)
class Read837:
    """What an Import837 call states besides the file: whose claims, and the plan facts an 837
    does not carry."""

    client_id: str
    plan: Plan
    facility: Facility


def read_837_request(request: pb.Import837Request, max_bytes: int) -> Read837:
    v = Violations()
    client_id = require_text(v, "client_id", request.client_id)
    v.check(len(request.x12.encode()) <= max_bytes, "x12", f"at most {max_bytes} bytes per file")
    plan, facility = _plan(v, request.plan, "plan."), _facility(v, request.facility, "facility.")
    v.raise_if_any()
    return Read837(client_id, plan, facility)


def read_start_import(request: pb.StartImportRequest) -> Read837:
    """What a StartImport states besides the file (as Import837 does), checked at start and
    again when the job reads the file (it keeps the request)."""
    v = Violations()
    client_id = require_text(v, "client_id", request.client_id)
    plan, facility = _plan(v, request.plan, "plan."), _facility(v, request.facility, "facility.")
    v.raise_if_any()
    return Read837(client_id, plan, facility)


@dataclass(frozen=True)
class ExportFrom:
    """The submitter and the envelope ids of an 837 export."""

    sender_id: str
    receiver_id: str
    contact_name: str
    contact_phone: str


def export_837_request(request: pb.Export837Request) -> ExportFrom:
    v = Violations()
    contact = request.submitter_contact_name.strip()
    phone = "".join(ch for ch in request.submitter_contact_phone if ch.isdigit())
    v.check(bool(contact), "submitter_contact_name", "required by the 837 (loop 1000A PER)")
    v.check(bool(phone), "submitter_contact_phone", "required by the 837 (loop 1000A PER)")
    v.raise_if_any()
    return ExportFrom(
        sender_id=request.sender_id.strip() or "OONLEDGER",
        receiver_id=request.receiver_id.strip() or "PAYER",
        contact_name=contact,
        contact_phone=phone,
    )


def adjudication(msg: pb.Adjudication) -> Adjudication:
    v = Violations()
    received = parse_date(v, "adjudication.received_date", msg.received_date)
    v.raise_if_any()
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


def record_adjudication(request: pb.RecordAdjudicationRequest) -> RecordAdjudication:
    return RecordAdjudication(
        request.claim_id, adjudication(request.adjudication), request.expected_version
    )


def attach_document(request: pb.AttachDocumentRequest) -> AttachDocument:
    v = Violations()
    kind = parse_enum(v, "kind", request.kind, DOCUMENT_KIND)
    v.raise_if_any()
    assert kind is not None
    return AttachDocument(
        claim_id=request.claim_id,
        kind=kind,
        sha256=request.sha256,
        location=request.location,
        size_bytes=request.size_bytes,
        expected_version=request.expected_version,
    )


def triage_policy(msg: pb.TriagePolicy) -> TriagePolicy:
    v = Violations()
    v.check(msg.high_dollar_threshold_cents >= 0, "policy.high_dollar_threshold_cents",
            "must not be negative")
    v.check(0 <= msg.underpaid_below_billed_bps <= 10_000, "policy.underpaid_below_billed_bps",
            "between 0 and 10000 basis points")
    v.raise_if_any()
    default = TriagePolicy()
    return TriagePolicy(
        high_dollar_threshold_cents=msg.high_dollar_threshold_cents
        or default.high_dollar_threshold_cents,
        underpaid_below_billed_bps=msg.underpaid_below_billed_bps
        or default.underpaid_below_billed_bps,
    )


def triage_claim(request: pb.TriageClaimRequest) -> TriageClaim:
    return TriageClaim(request.claim_id, triage_policy(request.policy), request.expected_version)


def check_clean_claim(request: pb.CheckCleanClaimRequest) -> CheckCleanClaim:
    return CheckCleanClaim(request.claim_id, request.expected_version)


def submit_corrected_claim(request: pb.SubmitCorrectedClaimRequest) -> SubmitCorrectedClaim:
    v = Violations()
    frequency = parse_enum(v, "frequency", request.frequency, FREQUENCY)
    reference = _text(
        v,
        "original_payer_claim_control_number",
        request.original_payer_claim_control_number,
        limit=50,
    )
    v.raise_if_any()
    assert frequency is not None
    corrected = (
        claim_data(request.corrected, "corrected.") if request.HasField("corrected") else None
    )
    return SubmitCorrectedClaim(
        original_claim_id=request.original_claim_id,
        frequency=frequency,
        corrected=corrected,
        reason=request.reason,
        expected_version=request.expected_version,
        original_reference=reference,
    )


def update_claim(request: pb.UpdateClaimRequest) -> UpdateClaim:
    return UpdateClaim(
        claim_id=request.claim_id,
        data=claim_data(request.claim),
        expected_version=request.expected_version,
    )


def withdraw_claim(request: pb.WithdrawClaimRequest) -> WithdrawClaim:
    v = Violations()
    reason = _text(v, "reason", request.reason, required=True)
    v.raise_if_any()
    return WithdrawClaim(request.claim_id, reason, request.expected_version)


def file_appeal(request: pb.FileAppealRequest) -> FileAppeal:
    v = Violations()
    level = parse_enum(v, "level", request.level, APPEAL_LEVEL)
    channel = parse_enum(v, "channel", request.channel, APPEAL_CHANNEL)
    adverse = parse_date(
        v, "adverse_determination_date", request.adverse_determination_date, required=False
    )
    v.raise_if_any()
    assert level is not None and channel is not None
    return FileAppeal(
        claim_id=request.claim_id,
        level=level,
        grounds=request.grounds,
        cited_document_ids=tuple(request.cited_document_ids),
        channel=channel,
        adverse_determination_date=adverse,
        expected_version=request.expected_version,
    )


def record_appeal_decision(request: pb.RecordAppealDecisionRequest) -> RecordAppealDecision:
    v = Violations()
    outcome = parse_enum(v, "outcome", request.outcome, APPEAL_OUTCOME)
    decided = parse_date(v, "decision_date", request.decision_date)
    v.raise_if_any()
    assert outcome is not None and decided is not None
    return RecordAppealDecision(
        claim_id=request.claim_id,
        appeal_id=request.appeal_id,
        outcome=outcome,
        decision_date=decided,
        additional_paid_cents=request.additional_paid_cents,
        expected_version=request.expected_version,
        expected_additional_cents=request.expected_additional_cents,
    )


def list_filters(msg: pb.ListClaimsRequest) -> ClaimQuery:
    v = Violations()
    status = _optional_enum(v, "status", msg.status, STATUS_FROM_PB)
    route = _optional_enum(v, "route", msg.route, ROUTE_FROM_PB)
    date_from = parse_date(v, "service_date_from", msg.service_date_from, required=False)
    date_to = parse_date(v, "service_date_to", msg.service_date_to, required=False)
    if date_from and date_to and date_from > date_to:
        v.add("service_date_to", "before service_date_from")
    v.check(0 <= msg.page_size <= 1000, "page_size", "between 1 and 1000 (0 = default 100)")
    v.raise_if_any()
    return ClaimQuery(
        client_id=msg.client_id.strip(),
        payer_id=msg.payer_id.strip(),
        patient_control_number=msg.patient_control_number.strip(),
        status=status,
        route=route,
        date_from=date_from,
        date_to=date_to,
        page_size=msg.page_size or 100,
        page_token=msg.page_token,
    )


def work_queue_limit(request: pb.ClaimsWorkQueueRequest) -> int:
    if not 0 <= request.limit <= 1000:
        raise InvalidArgument("between 1 and 1000 (0 = default 100)", "limit")
    return request.limit or 100
