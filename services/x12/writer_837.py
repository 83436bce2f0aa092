"""A `Claim837` → an X12 837P (005010X222A1) or 837I (005010X223A2) interchange, via x12sdk models.

The versions are the ones adopted under HIPAA; x12sdk models the later errata (X222A2, X223A3),
whose segments are the same, so the transaction is built with those models and labelled with the
adopted version in ST03 and GS08. The patient is written as the subscriber (SBR02 = 18): the
ledger keeps the patient and the member id, not a separate subscriber. Replacements and voids
carry frequency 7/8 in CLM05 and the payer's original claim number in REF*F8
(`Claim837.original_reference`), as the guides require. Control numbers (ISA13, GS06, ST02) are
the caller's: a clearinghouse rejects an interchange whose ISA13 it has already seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from x12sdk.io import write_transactions
from x12sdk.support import count_segments
from x12sdk.v5010.segments import DmgSegment
from x12sdk.v5010.x12_837_005010X222A2.transaction_set import HealthCareClaimProfessional
from x12sdk.v5010.x12_837_005010X223A3.transaction_set import HealthCareClaimInstitutional

from services.common.money import x12_amount
from services.x12.claim_837 import GENDER_UNKNOWN, Claim837, ClaimKind, ServiceLine

MODEL_VERSIONS = {ClaimKind.PROFESSIONAL: "005010X222A2", ClaimKind.INSTITUTIONAL: "005010X223A3"}
MAX_CONTROL_NUMBER = 999_999_999  # ISA13 is 9 digits; GS06 and ST02 at most 9


@dataclass(frozen=True)
class ControlNumbers:
    """ISA13 / GS06 / ST02 of one interchange, each 1..999999999."""

    interchange: int = 1
    group: int = 1
    transaction: int = 1

    def __post_init__(self) -> None:
        for value in (self.interchange, self.group, self.transaction):
            if not 1 <= value <= MAX_CONTROL_NUMBER:
                raise ValueError(f"control number {value} is not between 1 and 999999999")

    @property
    def st02(self) -> str:
        return f"{self.transaction:04d}"


@dataclass(frozen=True)
class Written837:
    text: str
    implementation_guide: str


def write_837(
    claim: Claim837,
    *,
    sender_id: str,
    receiver_id: str,
    contact_name: str,
    contact_phone: str,
    created: datetime,
    control: ControlNumbers | None = None,
) -> Written837:
    """The claim as a complete interchange (ISA..IEA), validated by the library's models (which
    raise on a claim the guide does not allow, e.g. an empty billing provider name)."""
    institutional = claim.kind is ClaimKind.INSTITUTIONAL
    guide = claim.implementation_guide
    control = control or ControlNumbers()
    st02 = control.st02
    tin = claim.billing_provider.tin
    structure: dict[str, Any] = {
        "header": {
            "st_segment": {
                "transaction_set_identifier_code": "837",
                "transaction_set_control_number": st02,
                "implementation_convention_reference": guide,
            },
            "bht_segment": {
                "hierarchical_structure_code": "0019",
                "transaction_set_purpose_code": "00",
                "submitter_transactional_identifier": claim.patient_control_number[:30],
                "transaction_set_creation_date": created.strftime("%Y%m%d"),
                "transaction_set_creation_time": created.strftime("%H%M"),
                "transaction_type_code": "CH",
            },
        },
        "loop_1000a": {
            "nm1_segment": {
                "entity_identifier_code": "41",
                "entity_type_qualifier": "2",
                "name_last_or_organization_name": claim.billing_provider.name,
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
                "name_last_or_organization_name": claim.payer.name,
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
                        "name_last_or_organization_name": claim.billing_provider.name,
                        "identification_code_qualifier": "XX",
                        "identification_code": claim.billing_provider.npi,
                    },
                    "n3_segment": {"address_information_1": claim.billing_provider.address.line1},
                    "n4_segment": {
                        "city_name": claim.billing_provider.address.city,
                        "state_province_code": claim.billing_provider.address.state,
                        "postal_code": claim.billing_provider.address.postal_code,
                    },
                    "ref_segment": _billing_ref(tin, institutional),
                },
                "loop_2000b": [_subscriber(claim)],
            }
        ],
    }
    placeholder = dict(
        structure,
        footer={
            "se_segment": {
                "transaction_segment_count": 1,
                "transaction_set_control_number": st02,
            }
        },
    )
    structure["footer"] = {
        "se_segment": {
            "transaction_segment_count": count_segments(placeholder),
            "transaction_set_control_number": st02,
        }
    }
    _unvalidated_demographics(structure)
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
        interchange_control_number=str(control.interchange),
        group_control_number=str(control.group),
    )
    # GS08: the adopted version, not the errata the model classes are named after.
    text = text.replace(f"*X*{MODEL_VERSIONS[claim.kind]}", f"*X*{guide}", 1)
    return Written837(text, guide)


def _billing_ref(tin: str, institutional: bool) -> Any:
    ref = {"reference_identification_qualifier": "EI", "reference_identification": tin}
    return ref if institutional else [ref]


def _unvalidated_demographics(structure: dict[str, Any]) -> None:
    """DMG03 is M, F or U in the guides; x12sdk's segment model only knows M and F, so the
    subscriber's DMG is built without its validation (after the segment count was taken)."""
    subscriber = structure["loop_2000a"][0]["loop_2000b"][0]["loop_2010ba"]
    if "dmg_segment" in subscriber:
        dmg = subscriber["dmg_segment"]
        subscriber["dmg_segment"] = DmgSegment.model_construct(
            date_time_period_format_qualifier=DmgSegment.DateTimePeriodFormatQualifier(
                dmg["date_time_period_format_qualifier"]
            ),
            date_time_period=dmg["date_time_period"],
            gender_code=dmg["gender_code"],
        )


def _subscriber(data: Claim837) -> dict[str, Any]:
    patient = data.patient
    dmg = (
        {
            "date_time_period_format_qualifier": "D8",
            "date_time_period": patient.birth_date.strftime("%Y%m%d"),
            "gender_code": patient.gender if patient.gender in ("M", "F") else GENDER_UNKNOWN,
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
            "claim_filing_indicator_code": data.filing_indicator,
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
        "loop_2300": [_claim(data)],
    }


def _claim(data: Claim837) -> dict[str, Any]:
    institutional = data.kind is ClaimKind.INSTITUTIONAL
    qualifier = "A" if institutional else "B"
    location = f"{data.facility_code}:{qualifier}:{data.frequency_code}"
    clm: dict[str, Any] = {
        "patient_control_number": data.patient_control_number,
        "total_claim_charge_amount": x12_amount(data.total_billed_cents),
        "health_care_service_location_information": location,
        "provider_accept_assignment_code": "A" if not institutional else "C",
        "benefit_assignment_certification_indicator": "Y",
        "release_of_information_code": "Y",
    }
    if not institutional:  # CLM06 is "Not Used" in the 837I
        clm["provider_or_supplier_signature_indicator"] = "Y"
    claim: dict[str, Any] = {
        "clm_segment": clm,
        "hi_segment": _diagnoses(data.diagnosis_codes, institutional) or None,
        "loop_2400": [
            _line(n, line, institutional, data.emergency) for n, line in enumerate(data.lines, 1)
        ],
    }
    facility = _service_facility(data)
    if facility:
        claim["loop_2310e" if institutional else "loop_2310c"] = facility
    if data.original_reference:
        claim["ref_segment"] = [
            {
                "reference_identification_qualifier": "F8",
                "reference_identification": data.original_reference,
            }
        ]
    if institutional:
        dates = [line.service_date for line in data.lines]
        claim["dtp_segment"] = [
            {
                "date_time_qualifier": "434",
                "date_time_period_format_qualifier": "RD8",
                "date_time_period": f"{min(dates):%Y%m%d}-{max(dates):%Y%m%d}",
            }
        ]
        claim["cl1_segment"] = {
            "admission_type_code": data.admission_type_code,
            "patient_status_code": data.patient_status_code,
        }
    if claim["hi_segment"] is None:
        del claim["hi_segment"]
    return claim


def _diagnoses(codes: tuple[str, ...], institutional: bool) -> list[dict[str, Any]]:
    """HI: the principal diagnosis (ABK) first. The 837P carries up to 12 codes in one HI; the
    837I has the principal alone in its own HI and the other diagnoses (ABF) in the next."""
    if not codes:
        return []
    principal, others = ["ABK", codes[0]], [["ABF", code] for code in codes[1:12]]
    if not institutional:
        return [{f"health_care_code_{n}": c for n, c in enumerate([principal, *others], 1)}]
    out = [{"health_care_code_1": principal}]
    if others:
        out.append({f"health_care_code_{n}": c for n, c in enumerate(others, 1)})
    return out


def _service_facility(data: Claim837) -> dict[str, Any] | None:
    """Loop 2310C (837P) / 2310E (837I), written when the facility has a name and address."""
    facility = data.service_facility
    if facility is None:
        return None
    nm1: dict[str, Any] = {
        "entity_identifier_code": "77",
        "entity_type_qualifier": "2",
        "name_last_or_organization_name": facility.name,
    }
    if facility.npi:
        nm1 |= {"identification_code_qualifier": "XX", "identification_code": facility.npi}
    return {
        "nm1_segment": nm1,
        "n3_segment": {"address_information_1": facility.address.line1},
        "n4_segment": {
            "city_name": facility.address.city,
            "state_province_code": facility.address.state,
            "postal_code": facility.address.postal_code,
        },
    }


def _line(number: int, line: ServiceLine, institutional: bool, emergency: bool) -> dict[str, Any]:
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
            "emergency_indicator": "Y" if emergency else None,
        }
        out["dtp_segment"] = service_date
    if refs:
        out["ref_segment"] = refs
    return out
