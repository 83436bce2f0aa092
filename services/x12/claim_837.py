"""An X12 837P (005010X222A1) / 837I (005010X223A2) claim as it was written: immutable values.

The versions are the ones adopted under HIPAA (45 CFR 162.1102); readers also take the later
errata (X222A2, X223A3), which differ only in code lists.

Neutral: no rule of any service (plan funding, emergency, bill type are decided by claims, in
services/claims/adapters/x12.py). Money is integer cents; dates are `datetime.date`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from services.x12.claim_837_loops import (
    Attachment,
    ClaimProvider,
    LineAdjudication,
    OccurrenceCode,
    OtherPayer,
    ValueCode,
)

PROFESSIONAL_GUIDE = "005010X222A1"
INSTITUTIONAL_GUIDE = "005010X223A2"
GENDER_UNKNOWN = "U"  # DMG03 when the gender was not stated


class ClaimKind(StrEnum):
    """Which 837: professional (837P, SV1 lines) or institutional (837I, SV2 lines, CL1)."""

    PROFESSIONAL = "professional"
    INSTITUTIONAL = "institutional"


@dataclass(frozen=True)
class Address:
    """N3/N4."""

    line1: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""


@dataclass(frozen=True)
class BillingProvider:
    """Loop 2010AA: NM1*85 name and NPI, REF*EI/SY tax id, N3/N4 address."""

    name: str
    npi: str
    tin: str = ""
    address: Address = field(default_factory=Address)


@dataclass(frozen=True)
class Patient:
    """The patient (2010CA, else the subscriber 2010BA): name, DMG birth date and gender, member
    id."""

    first_name: str = ""
    last_name: str = ""
    birth_date: date | None = None
    member_id: str = ""
    gender: str = ""  # DMG03: M, F, U ("" when the file has none)


@dataclass(frozen=True)
class ServiceFacility:
    """Loop 2310C (837P) / 2310E (837I): NM1*77 name and NPI, N3/N4 address."""

    name: str
    address: Address
    npi: str = ""


@dataclass(frozen=True)
class Payer:
    """Loop 2010BB: NM1*PR."""

    payer_id: str
    name: str = ""


@dataclass(frozen=True)
class ServiceLine:
    """Loop 2400: SV1 (professional) or SV2 (institutional), DTP*472, REF*6R."""

    procedure_code: str
    billed_cents: int
    service_date: date
    units: int = 1
    modifiers: tuple[str, ...] = ()
    place_of_service: str = ""
    revenue_code: str = ""
    diagnosis_pointers: tuple[int, ...] = ()
    line_control_number: str = ""
    providers: tuple[ClaimProvider, ...] = ()  # 2420x rendering/referring/... of the line
    adjudications: tuple[LineAdjudication, ...] = ()  # 2430 other payers' line decisions


@dataclass(frozen=True)
class Claim837:
    """Loop 2300 (CLM) with what surrounds it: billing provider, patient, payer, SBR09."""

    kind: ClaimKind
    patient_control_number: str  # CLM01
    billing_provider: BillingProvider
    payer: Payer
    lines: tuple[ServiceLine, ...]
    patient: Patient = field(default_factory=Patient)
    total_billed_cents: int = 0  # CLM02
    facility_code: str = ""  # CLM05-1: place of service (837P) or facility type (837I)
    frequency_code: str = "1"  # CLM05-3: 1 original, 7 replacement, 8 void
    original_reference: str = ""  # REF*F8 (written for a replacement or void)
    diagnosis_codes: tuple[str, ...] = ()  # HI, principal first, without the dot
    filing_indicator: str = ""  # SBR09 of the subscriber loop above the claim
    admission_type_code: str = ""  # CL1-1 (837I)
    patient_status_code: str = ""  # CL1-3 (837I)
    # Read only (the writer does not write these back):
    subscriber: Patient | None = None  # 2010BA when the patient is a dependent (HL 23)
    relationship_code: str = ""  # PAT01 of a dependent patient (e.g. 19 child, 01 spouse)
    providers: tuple[ClaimProvider, ...] = ()  # 2310x rendering/referring/supervising/...
    other_payers: tuple[OtherPayer, ...] = ()  # 2320/2330 (COB)
    attachments: tuple[Attachment, ...] = ()  # PWK, claim and line level
    condition_codes: tuple[str, ...] = ()  # HI BG (837I)
    occurrence_codes: tuple[OccurrenceCode, ...] = ()  # HI BH / BI (837I)
    value_codes: tuple[ValueCode, ...] = ()  # HI BE (837I)
    service_facility: ServiceFacility | None = None  # 2310C / 2310E
    emergency: bool = False  # SV109 = Y on every 837P line (837I: CL1-1 admission type)

    @property
    def implementation_guide(self) -> str:
        return INSTITUTIONAL_GUIDE if self.kind is ClaimKind.INSTITUTIONAL else PROFESSIONAL_GUIDE
