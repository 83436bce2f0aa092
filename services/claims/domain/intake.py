"""Hard intake rules: what makes a claim unusable, rejected with INVALID_ARGUMENT and never stored.

Completeness for filing (TIN present, patient identifiers, ...) is the clean-claim check's job;
a claim may be registered incomplete and completed later.
"""

from __future__ import annotations

import re
from dataclasses import replace

from services.claims.domain import codes
from services.claims.domain.claim_data import ClaimData, ClaimType, Document
from services.common.errors import FieldViolation
from services.common.money import amount_out_of_range

MAX_LINES = 999
MAX_DIAGNOSES = 12
MAX_PCN_LENGTH = 38  # CLM01 / CLP01
MAX_TEXT = 200
GENDERS = frozenset({"", "M", "F", "U"})  # DMG03 administrative gender


def canonical(data: ClaimData) -> ClaimData:
    """The stored form: TIN as 9 digits, ICD-10 without dots, the claim total explicit."""
    tin = codes.normalize_tin(data.provider.tin) if data.provider.tin else ""
    return replace(
        data,
        provider=replace(data.provider, tin=tin or data.provider.tin),
        diagnosis_codes=tuple(codes.normalize_icd10(dx) for dx in data.diagnosis_codes),
        total_billed_cents=data.billed_cents,
    )


def validate_claim(data: ClaimData, prefix: str = "claim.") -> list[FieldViolation]:
    """Every violation of the intake rules, each naming the offending field."""
    out: list[FieldViolation] = []

    def bad(field: str, description: str) -> None:
        out.append(FieldViolation(prefix + field, description))

    if not data.client_id.strip():
        bad("client_id", "required")
    if not data.patient_control_number.strip():
        bad("patient_control_number", "required")
    elif len(data.patient_control_number) > MAX_PCN_LENGTH:
        bad("patient_control_number", f"at most {MAX_PCN_LENGTH} characters (CLM01)")
    if not data.provider.npi:
        bad("provider.npi", "required")
    elif not codes.is_valid_npi(data.provider.npi):
        bad("provider.npi", "not a valid NPI (10 digits, Luhn check digit with prefix 80840)")
    if data.provider.tin and codes.normalize_tin(data.provider.tin) is None:
        bad("provider.tin", "not a valid TIN (9 digits, e.g. 12-3456789)")
    if data.facility.npi and not codes.is_valid_npi(data.facility.npi):
        bad("facility.npi", "not a valid NPI (10 digits, Luhn check digit with prefix 80840)")
    if not data.payer.payer_id.strip():
        bad("payer.payer_id", "required")
    if data.plan.situs_state and not codes.is_state(data.plan.situs_state):
        bad("plan.situs_state", "not a two-letter US state code")
    address = data.provider.address
    if address.state and not codes.is_state(address.state):
        bad("provider.address.state", "not a two-letter US state code")
    if address.postal_code and not codes.is_postal_code(address.postal_code):
        bad("provider.address.postal_code", "5 or 9 digits")
    if data.facility.state and not codes.is_state(data.facility.state):
        bad("facility.state", "not a two-letter US state code")
    for name, value in (
        ("provider.name", data.provider.name),
        ("payer.name", data.payer.name),
        ("plan.name", data.plan.name),
        ("facility.name", data.facility.name),
    ):
        if len(value) > MAX_TEXT:
            bad(name, f"at most {MAX_TEXT} characters")
    if data.total_billed_cents < 0:
        bad("total_billed_cents", "must not be negative")
    elif problem := amount_out_of_range(data.total_billed_cents):
        bad("total_billed_cents", problem)
    lines_in_range = all(amount_out_of_range(line.billed_cents) is None for line in data.lines)
    if lines_in_range and (problem := amount_out_of_range(data.lines_billed_cents)):
        # Each line may be in range while their sum (the claim total) is not.
        bad("lines", f"the billed_cents of the lines add up to more than allowed: {problem}")
    if data.claim_type is ClaimType.INSTITUTIONAL and data.bill_type:
        if not codes.is_bill_type(data.bill_type):
            bad("bill_type", "not a 3-character type of bill (e.g. 131)")
    if data.admission_type_code and data.admission_type_code not in codes.ADMISSION_TYPES:
        bad("admission_type_code", "not a UB-04 admission type (1-5, 9)")
    if data.patient_status_code and not codes.is_patient_status(data.patient_status_code):
        bad("patient_status_code", "not a 2-digit patient status code")
    if len(data.diagnosis_codes) > MAX_DIAGNOSES:
        bad("diagnosis_codes", f"at most {MAX_DIAGNOSES} diagnosis codes")
    for i, dx in enumerate(data.diagnosis_codes):
        if not codes.is_icd10cm(dx):
            bad(f"diagnosis_codes[{i}]", f"{dx!r} is not an ICD-10-CM code")
    if data.patient.gender not in GENDERS:
        bad("patient.gender", "M, F or U (unknown), or empty when not stated")
    facility_address = data.facility.address
    if facility_address.state and not codes.is_state(facility_address.state):
        bad("facility.address.state", "not a two-letter US state code")
    if facility_address.postal_code and not codes.is_postal_code(facility_address.postal_code):
        bad("facility.address.postal_code", "5 or 9 digits")
    birth = data.patient.birth_date
    if not data.lines:
        bad("lines", "at least one service line is required")
    if len(data.lines) > MAX_LINES:
        bad("lines", f"at most {MAX_LINES} service lines")
    for i, line in enumerate(data.lines):
        at = f"lines[{i}]."
        revenue_only = (
            data.claim_type is ClaimType.INSTITUTIONAL
            and not line.procedure_code
            and codes.is_revenue_code(line.revenue_code)
        )
        if not revenue_only and not codes.is_procedure_code(line.procedure_code):
            bad(at + "procedure_code", f"{line.procedure_code!r} is not a CPT/HCPCS code")
        if line.billed_cents < 0:
            bad(at + "billed_cents", "must not be negative")
        elif problem := amount_out_of_range(line.billed_cents):
            bad(at + "billed_cents", problem)
        if line.units <= 0:
            bad(at + "units", "must be at least 1")
        if len(line.modifiers) > 4:
            bad(at + "modifiers", "at most 4 modifiers")
        for j, modifier in enumerate(line.modifiers):
            if not codes.is_modifier(modifier):
                bad(at + f"modifiers[{j}]", f"{modifier!r} is not a 2-character modifier")
        if line.place_of_service and not codes.is_pos_shape(line.place_of_service):
            bad(at + "place_of_service", "not a 2-digit place-of-service code")
        if line.revenue_code and not codes.is_revenue_code(line.revenue_code):
            bad(at + "revenue_code", "not a 4-digit revenue code")
        for j, pointer in enumerate(line.diagnosis_pointers):
            if not 1 <= pointer <= len(data.diagnosis_codes):
                bad(at + f"diagnosis_pointers[{j}]", "points at no diagnosis on the claim")
        if birth is not None and line.service_date < birth:
            bad(at + "service_date", "before the patient's birth date")
    return out


_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_LOCATION = re.compile(r"^(s3|gs|az|https|file)://\S+$")
MAX_DOCUMENT_BYTES = 2**40


def document_violations(document: Document) -> list[FieldViolation]:
    """A document reference the claim can hold: its hash, where it is, its size."""
    bad: list[FieldViolation] = []
    if not _SHA256.match(document.sha256):
        bad.append(FieldViolation("sha256", "lower-case hex SHA-256 (64 characters)"))
    if not _LOCATION.match(document.location) or len(document.location) > 1024:
        bad.append(FieldViolation("location", "an s3, gs, az, https or file URI"))
    if not 0 <= document.size_bytes <= MAX_DOCUMENT_BYTES:
        bad.append(FieldViolation("size_bytes", "must be between 0 and 1 TiB"))
    return bad
