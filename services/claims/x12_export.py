"""A claim → an X12 837P (005010X222A2) or 837I (005010X223A3) interchange, via x12sdk models.

The patient is written as the subscriber (SBR02 = 18): the ledger keeps the patient and the
member id, not a separate subscriber. Replacements and voids carry frequency 7/8 in CLM05 and
the payer's original claim number in REF*F8, as the guides require.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from x12sdk.io import write_transactions
from x12sdk.support import count_segments
from x12sdk.v5010.x12_837_005010X222A2.transaction_set import HealthCareClaimProfessional
from x12sdk.v5010.x12_837_005010X223A3.transaction_set import HealthCareClaimInstitutional

from services.claims.domain import ClaimData, ClaimType, Frequency, PlanFunding, codes
from services.common.errors import FailedPrecondition
from services.common.money import x12_amount

PROFESSIONAL_GUIDE = "005010X222A2"
INSTITUTIONAL_GUIDE = "005010X223A3"
CONTROL_NUMBER = "0001"
# SBR09 claim filing indicator by plan funding (commercial unless a program says otherwise).
FILING_INDICATOR = {
    PlanFunding.MEDICARE: "MB",
    PlanFunding.MEDICARE_ADVANTAGE: "16",
    PlanFunding.MEDICAID: "MC",
    PlanFunding.TRICARE: "CH",
    PlanFunding.VA_IHS: "VA",
    PlanFunding.FEHB: "FI",
}


@dataclass(frozen=True)
class Exported:
    text: str
    implementation_guide: str


def export_837(
    data: ClaimData,
    frequency: Frequency,
    original_payer_claim_control_number: str,
    sender_id: str,
    receiver_id: str,
    contact_name: str,
    contact_phone: str,
    created: datetime,
) -> Exported:
    """The claim as a complete interchange (ISA..IEA), validated by the library's models."""
    if frequency is not Frequency.ORIGINAL and not original_payer_claim_control_number:
        raise FailedPrecondition(
            "a replacement or void needs the payer's original claim number "
            "(record the original's adjudication first)"
        )
    institutional = data.claim_type is ClaimType.INSTITUTIONAL
    guide = INSTITUTIONAL_GUIDE if institutional else PROFESSIONAL_GUIDE
    tin = codes.normalize_tin(data.provider.tin) or ""
    structure: dict[str, Any] = {
        "header": {
            "st_segment": {
                "transaction_set_identifier_code": "837",
                "transaction_set_control_number": CONTROL_NUMBER,
                "implementation_convention_reference": guide,
            },
            "bht_segment": {
                "hierarchical_structure_code": "0019",
                "transaction_set_purpose_code": "00",
                "submitter_transactional_identifier": data.patient_control_number[:30],
                "transaction_set_creation_date": created.strftime("%Y%m%d"),
                "transaction_set_creation_time": created.strftime("%H%M"),
                "transaction_type_code": "CH",
            },
        },
        "loop_1000a": {
            "nm1_segment": {
                "entity_identifier_code": "41",
                "entity_type_qualifier": "2",
                "name_last_or_organization_name": data.provider.name,
                "identification_code_qualifier": "46",
                "identification_code": sender_id,
            },
            "per_segment": [
                {
                    "contact_function_code": "IC",
                    "name": contact_name,
                    "communication_number_qualifier_1": "TE",
                    "communication_number_1": contact_phone,
                }
            ],
        },
        "loop_1000b": {
            "nm1_segment": {
                "entity_identifier_code": "40",
                "entity_type_qualifier": "2",
                "name_last_or_organization_name": data.payer.name,
                "identification_code_qualifier": "46",
                "identification_code": receiver_id,
            }
        },
        "loop_2000a": [
            {
                "hl_segment": {
                    "hierarchical_id_number": "1",
                    "hierarchical_level_code": "20",
                    "hierarchical_child_code": "1",
                },
                "loop_2010aa": {
                    "nm1_segment": {
                        "entity_identifier_code": "85",
                        "entity_type_qualifier": "2",
                        "name_last_or_organization_name": data.provider.name,
                        "identification_code_qualifier": "XX",
                        "identification_code": data.provider.npi,
                    },
                    "n3_segment": {"address_information_1": data.provider.address.line1},
                    "n4_segment": {
                        "city_name": data.provider.address.city,
                        "state_province_code": data.provider.address.state,
                        "postal_code": data.provider.address.postal_code,
                    },
                    "ref_segment": _billing_ref(tin, institutional),
                },
                "loop_2000b": [_subscriber(data, frequency, original_payer_claim_control_number)],
            }
        ],
    }
    placeholder = dict(
        structure,
        footer={
            "se_segment": {
                "transaction_segment_count": 1,
                "transaction_set_control_number": CONTROL_NUMBER,
            }
        },
    )
    structure["footer"] = {
        "se_segment": {
            "transaction_segment_count": count_segments(placeholder),
            "transaction_set_control_number": CONTROL_NUMBER,
        }
    }
    model_class = HealthCareClaimInstitutional if institutional else HealthCareClaimProfessional
    transaction = model_class(**structure)
    text = write_transactions(
        [transaction],
        sender_id=sender_id,
        receiver_id=receiver_id,
        sender_qualifier="ZZ",
        receiver_qualifier="ZZ",
        created=created,
        usage_indicator="P",
    )
    return Exported(text, guide)


def _billing_ref(tin: str, institutional: bool) -> Any:
    ref = {"reference_identification_qualifier": "EI", "reference_identification": tin}
    return ref if institutional else [ref]


def _subscriber(data: ClaimData, frequency: Frequency, original_icn: str) -> dict[str, Any]:
    patient = data.patient
    dmg = (
        {
            "date_time_period_format_qualifier": "D8",
            "date_time_period": patient.birth_date.strftime("%Y%m%d"),
        }
        if patient.birth_date
        else None
    )
    return {
        "hl_segment": {
            "hierarchical_id_number": "2",
            "hierarchical_parent_id_number": "1",
            "hierarchical_level_code": "22",
            "hierarchical_child_code": "0",
        },
        "sbr_segment": {
            "payer_responsibility_code": "P",
            "individual_relationship_code": "18",
            "claim_filing_indicator_code": FILING_INDICATOR.get(data.plan.funding, "CI"),
        },
        "loop_2010ba": {
            "nm1_segment": {
                "entity_identifier_code": "IL",
                "entity_type_qualifier": "1",
                "name_last_or_organization_name": patient.last_name,
                "name_first": patient.first_name or None,
                "identification_code_qualifier": "MI",
                "identification_code": patient.member_id,
            },
            **({"dmg_segment": dmg} if dmg else {}),
        },
        "loop_2010bb": {
            "nm1_segment": {
                "entity_identifier_code": "PR",
                "entity_type_qualifier": "2",
                "name_last_or_organization_name": data.payer.name,
                "identification_code_qualifier": "PI",
                "identification_code": data.payer.payer_id,
            }
        },
        "loop_2300": [_claim(data, frequency, original_icn)],
    }


def _claim(data: ClaimData, frequency: Frequency, original_icn: str) -> dict[str, Any]:
    institutional = data.claim_type is ClaimType.INSTITUTIONAL
    if institutional:
        location = f"{data.bill_type[:2]}:A:{frequency.value}"
    else:
        location = f"{data.lines[0].place_of_service}:B:{frequency.value}"
    qualifiers = ("ABK", "ABF")
    diagnoses = [
        [qualifiers[0] if i == 0 else qualifiers[1], code]
        for i, code in enumerate(data.diagnosis_codes[:12])
    ]
    claim: dict[str, Any] = {
        "clm_segment": {
            "patient_control_number": data.patient_control_number,
            "total_claim_charge_amount": x12_amount(data.billed_cents),
            "health_care_service_location_information": location,
            "provider_or_supplier_signature_indicator": "Y",
            "provider_accept_assignment_code": "A" if not institutional else "C",
            "benefit_assignment_certification_indicator": "Y",
            "release_of_information_code": "Y",
        },
        "hi_segment": [{f"health_care_code_{n + 1}": code for n, code in enumerate(diagnoses)}]
        if diagnoses
        else None,
        "loop_2400": [_line(n, line, institutional) for n, line in enumerate(data.lines, 1)],
    }
    if original_icn and frequency is not Frequency.ORIGINAL:
        claim["ref_segment"] = [
            {"reference_identification_qualifier": "F8", "reference_identification": original_icn}
        ]
    if institutional:
        claim["dtp_segment"] = [
            {
                "date_time_qualifier": "434",
                "date_time_period_format_qualifier": "RD8",
                "date_time_period": f"{data.first_service_date:%Y%m%d}-"
                f"{data.last_service_date:%Y%m%d}",
            }
        ]
        claim["cl1_segment"] = {
            "admission_type_code": data.admission_type_code,
            "patient_status_code": data.patient_status_code,
        }
    if claim["hi_segment"] is None:
        del claim["hi_segment"]
    return claim


def _line(number: int, line: Any, institutional: bool) -> dict[str, Any]:
    procedure = ":".join(["HC", line.procedure_code, *line.modifiers])
    service_date = [
        {
            "date_time_qualifier": "472",
            "date_time_period_format_qualifier": "D8",
            "date_time_period": line.service_date.strftime("%Y%m%d"),
        }
    ]
    refs = (
        [
            {
                "reference_identification_qualifier": "6R",
                "reference_identification": line.line_control_number,
            }
        ]
        if line.line_control_number
        else None
    )
    out: dict[str, Any] = {"lx_segment": {"assigned_number": str(number)}}
    if institutional:
        out["sv2_segment"] = {
            "service_line_revenue_code": line.revenue_code,
            "composite_medical_procedure_identifier": procedure if line.procedure_code else None,
            "line_item_charge_amount": x12_amount(line.billed_cents),
            "measurement_code": "UN",
            "service_unit_count": line.units,
        }
        out["dtp_segment"] = service_date[0]
    else:
        out["sv1_segment"] = {
            "product_service_id_qualifier": procedure,
            "line_item_charge_amount": x12_amount(line.billed_cents),
            "unit_basis_measurement_code": "UN",
            "service_unit_count": line.units,
            "place_of_service_code": line.place_of_service,
            "composite_diagnosis_code_pointer": ":".join(str(p) for p in line.diagnosis_pointers),
        }
        out["dtp_segment"] = service_date
    if refs:
        out["ref_segment"] = refs
    return out
