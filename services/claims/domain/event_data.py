"""JSON-friendly forms of the claim value objects, as events store them and the wire carries them.

Events hold plain dicts (str/int/bool/lists, ISO dates) so the stored form and the published
form are the same mechanical JSON; the aggregate turns them back into value objects.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

from services.claims.domain.appeals import (
    AppealChannel,
    AppealLevel,
    AppealRecord,
)
from services.claims.domain.claim_data import (
    Address,
    Adjudication,
    ClaimData,
    ClaimType,
    Document,
    DocumentKind,
    Facility,
    NetworkStatus,
    Patient,
    Payer,
    Plan,
    PlanFunding,
    Provider,
    Route,
    ServiceLine,
)
from services.claims.domain.clean_claim import CleanClaimReport, Finding
from services.claims.domain.denials import DenialRemedy, Remedy
from services.claims.domain.service_class import ServiceClass
from services.claims.domain.triage import Reason, TriageDecision


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""


def _date(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


def claim_to_dict(data: ClaimData) -> dict[str, Any]:
    """The claim without its PHI (the patient travels in a separate, PHI-flagged field)."""
    return {
        "client_id": data.client_id,
        "claim_type": data.claim_type.value,
        "patient_control_number": data.patient_control_number,
        "provider": {
            "name": data.provider.name,
            "npi": data.provider.npi,
            "tin": data.provider.tin,
            "address": {
                "line1": data.provider.address.line1,
                "city": data.provider.address.city,
                "state": data.provider.address.state,
                "postal_code": data.provider.address.postal_code,
            },
        },
        "payer": {"payer_id": data.payer.payer_id, "name": data.payer.name},
        "plan": {
            "name": data.plan.name,
            "funding": data.plan.funding.value,
            "situs_state": data.plan.situs_state,
            "marketplace": data.plan.marketplace,
            "narrow_network": data.plan.narrow_network,
            "state_law_opt_in": data.plan.state_law_opt_in,
        },
        "facility": {
            "name": data.facility.name,
            "npi": data.facility.npi,
            "network_status": data.facility.network_status.value,
            "state": data.facility.state,
            **_facility_address(data.facility.address),
        },
        "emergency": data.emergency,
        "diagnosis_codes": list(data.diagnosis_codes),
        "lines": [line_to_dict(line) for line in data.lines],
        "total_billed_cents": data.total_billed_cents,
        "billed_cents": data.billed_cents,
        "bill_type": data.bill_type,
        "admission_type_code": data.admission_type_code,
        "patient_status_code": data.patient_status_code,
    }


def line_to_dict(line: ServiceLine) -> dict[str, Any]:
    return {
        "procedure_code": line.procedure_code,
        "modifiers": list(line.modifiers),
        "units": line.units,
        "billed_cents": line.billed_cents,
        "service_date": _iso(line.service_date),
        "place_of_service": line.place_of_service,
        "revenue_code": line.revenue_code,
        "diagnosis_pointers": list(line.diagnosis_pointers),
        "line_control_number": line.line_control_number,
    }


def _facility_address(address: Address) -> dict[str, Any]:
    # Written only when stated: events (and request fingerprints) of claims without a facility
    # address keep the form they had before the field existed.
    return {"address": asdict(address)} if address != Address() else {}


def patient_to_dict(patient: Patient) -> dict[str, Any]:
    out = {
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "birth_date": _iso(patient.birth_date),
        "member_id": patient.member_id,
    }
    if patient.gender:  # absent from events recorded before gender existed: "" (not stated)
        out["gender"] = patient.gender
    return out


def claim_from_dict(d: dict[str, Any], patient: dict[str, Any]) -> ClaimData:
    plan, facility, provider = d["plan"], d["facility"], d["provider"]
    return ClaimData(
        client_id=d["client_id"],
        claim_type=ClaimType(d["claim_type"]),
        patient_control_number=d["patient_control_number"],
        provider=Provider(
            name=provider["name"],
            npi=provider["npi"],
            tin=provider["tin"],
            address=Address(**provider["address"]),
        ),
        payer=Payer(**d["payer"]),
        plan=Plan(
            name=plan["name"],
            funding=PlanFunding(plan["funding"]),
            situs_state=plan["situs_state"],
            marketplace=plan["marketplace"],
            narrow_network=plan["narrow_network"],
            state_law_opt_in=plan["state_law_opt_in"],
        ),
        facility=Facility(
            name=facility["name"],
            npi=facility["npi"],
            network_status=NetworkStatus(facility["network_status"]),
            state=facility["state"],
            address=Address(**facility.get("address", {})),
        ),
        emergency=d["emergency"],
        diagnosis_codes=tuple(d["diagnosis_codes"]),
        lines=tuple(
            ServiceLine(
                procedure_code=line["procedure_code"],
                modifiers=tuple(line["modifiers"]),
                units=line["units"],
                billed_cents=line["billed_cents"],
                service_date=date.fromisoformat(line["service_date"]),
                place_of_service=line["place_of_service"],
                revenue_code=line["revenue_code"],
                diagnosis_pointers=tuple(line["diagnosis_pointers"]),
                line_control_number=line["line_control_number"],
            )
            for line in d["lines"]
        ),
        patient=Patient(
            first_name=patient["first_name"],
            last_name=patient["last_name"],
            birth_date=_date(patient["birth_date"]),
            member_id=patient["member_id"],
            gender=patient.get("gender", ""),
        ),
        total_billed_cents=d["total_billed_cents"],
        bill_type=d["bill_type"],
        admission_type_code=d["admission_type_code"],
        patient_status_code=d["patient_status_code"],
    )


def adjudication_to_dict(a: Adjudication) -> dict[str, Any]:
    return {
        "received_date": a.received_date.isoformat(),
        "billed_cents": a.billed_cents,
        "allowed_cents": a.allowed_cents,
        "paid_cents": a.paid_cents,
        "patient_responsibility_cents": a.patient_responsibility_cents,
        "qpa_cents": a.qpa_cents,
        "qpa_disclosed": a.qpa_disclosed,
        "carc_codes": list(a.carc_codes),
        "rarc_codes": list(a.rarc_codes),
        "payer_claim_control_number": a.payer_claim_control_number,
        "denied": a.denied,
    }


def adjudication_from_dict(d: dict[str, Any]) -> Adjudication:
    return Adjudication(
        received_date=date.fromisoformat(d["received_date"]),
        billed_cents=d["billed_cents"],
        allowed_cents=d["allowed_cents"],
        paid_cents=d["paid_cents"],
        patient_responsibility_cents=d["patient_responsibility_cents"],
        qpa_cents=d["qpa_cents"],
        qpa_disclosed=d["qpa_disclosed"],
        carc_codes=tuple(d["carc_codes"]),
        rarc_codes=tuple(d["rarc_codes"]),
        payer_claim_control_number=d["payer_claim_control_number"],
        denied=d["denied"],
    )


def document_to_dict(doc: Document) -> dict[str, Any]:
    return {
        "document_id": doc.document_id,
        "kind": doc.kind.value,
        "sha256": doc.sha256,
        "location": doc.location,
        "size_bytes": doc.size_bytes,
    }


def document_from_dict(d: dict[str, Any]) -> Document:
    return Document(
        document_id=d["document_id"],
        kind=DocumentKind(d["kind"]),
        sha256=d["sha256"],
        location=d["location"],
        size_bytes=d["size_bytes"],
    )


def remedy_to_dict(r: DenialRemedy) -> dict[str, Any]:
    return {
        "code": r.code,
        "meaning": r.meaning,
        "remedy": r.remedy.value,
        "explanation": r.explanation,
    }


def remedy_from_dict(d: dict[str, Any]) -> DenialRemedy:
    return DenialRemedy(d["code"], d["meaning"], Remedy(d["remedy"]), d["explanation"])


def reason_to_dict(r: Reason) -> dict[str, str]:
    return {"code": r.code, "explanation": r.explanation}


def triage_from_dict(d: dict[str, Any]) -> TriageDecision:
    return TriageDecision(
        rule_set_version=d["rule_set_version"],
        route=Route(d["route"]),
        nsa_protected=d["nsa_protected"],
        worth_negotiating=d["worth_negotiating"],
        reasons=tuple(Reason(r["code"], r["explanation"]) for r in d["reasons"]),
        missing_documents=tuple(DocumentKind(k) for k in d["missing_documents"]),
        service_class=ServiceClass(d["service_class"]),
    )


def finding_to_dict(f: Finding) -> dict[str, Any]:
    return {"rule_id": f.rule_id, "field": f.field, "message": f.message, "blocking": f.blocking,
            "rule_version": f.rule_version}


def clean_report_from_dict(
    rule_set_version: str, findings: list[dict[str, Any]]
) -> CleanClaimReport:
    return CleanClaimReport(rule_set_version, tuple(Finding(**f) for f in findings))


def appeal_to_dict(record: AppealRecord) -> dict[str, Any]:
    """The appeal as AppealFiled stores it (its grounds, PHI, travel in their own field)."""
    return {
        "appeal_id": record.appeal_id,
        "level": record.level.value,
        "cited_document_ids": list(record.cited_document_ids),
        "channel": record.channel.value,
        "adverse_determination_date": record.adverse_determination_date.isoformat(),
        "filed_date": record.filed_date.isoformat(),
        "deadline": record.deadline.isoformat(),
        "window_rule": record.window_rule,
        "decision_due": record.decision_due.isoformat(),
    }


def appeal_from_dict(d: dict[str, Any], grounds: str) -> AppealRecord:
    return AppealRecord(
        appeal_id=d["appeal_id"],
        level=AppealLevel(d["level"]),
        grounds=grounds,
        cited_document_ids=tuple(d["cited_document_ids"]),
        channel=AppealChannel(d["channel"]),
        adverse_determination_date=date.fromisoformat(d["adverse_determination_date"]),
        filed_date=date.fromisoformat(d["filed_date"]),
        deadline=date.fromisoformat(d["deadline"]),
        window_rule=d["window_rule"],
        decision_due=date.fromisoformat(d["decision_due"]),
    )
