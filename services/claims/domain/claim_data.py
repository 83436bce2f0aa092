"""Value objects of a claim: what was billed, by whom, to whom, and what the payer decided.

Frozen dataclasses so events can carry them and tests can compare them. Money is integer cents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class ClaimType(StrEnum):
    PROFESSIONAL = "professional"
    INSTITUTIONAL = "institutional"


class PlanFunding(StrEnum):
    UNSPECIFIED = "unspecified"
    FULLY_INSURED = "fully_insured"
    SELF_FUNDED_ERISA = "self_funded_erisa"
    NON_FEDERAL_GOVERNMENTAL = "non_federal_governmental"
    CHURCH = "church"
    FEHB = "fehb"
    MEDICARE = "medicare"
    MEDICARE_ADVANTAGE = "medicare_advantage"
    MEDICAID = "medicaid"
    CHIP = "chip"
    TRICARE = "tricare"
    VA_IHS = "va_ihs"
    UNINSURED = "uninsured"


PUBLIC_PROGRAMS = frozenset(
    {
        PlanFunding.MEDICARE,
        PlanFunding.MEDICARE_ADVANTAGE,
        PlanFunding.MEDICAID,
        PlanFunding.CHIP,
        PlanFunding.TRICARE,
        PlanFunding.VA_IHS,
    }
)


class NetworkStatus(StrEnum):
    UNSPECIFIED = "unspecified"
    IN_NETWORK = "in_network"
    OUT_OF_NETWORK = "out_of_network"
    NOT_APPLICABLE = "not_applicable"


class ClaimStatus(StrEnum):
    REGISTERED = "registered"
    READY_TO_FILE = "ready_to_file"
    PAID = "paid"
    DENIED = "denied"
    REPLACED = "replaced"
    VOIDED = "voided"
    IN_APPEAL = "in_appeal"
    APPEAL_OVERTURNED = "appeal_overturned"
    APPEAL_UPHELD = "appeal_upheld"
    IN_NEGOTIATION = "in_negotiation"
    IN_IDR = "in_idr"
    SETTLED = "settled"
    WITHDRAWN = "withdrawn"  # by the provider before any adjudication: never filed


class Route(StrEnum):
    FEDERAL_IDR = "federal_idr"
    STATE_PROCESS = "state_process"
    ALL_PAYER_MODEL = "all_payer_model"
    NOT_ELIGIBLE = "not_eligible"


class DocumentKind(StrEnum):
    CLAIM_FORM = "claim_form"
    ITEMIZED_BILL = "itemized_bill"
    MEDICAL_RECORDS = "medical_records"
    EOB = "eob"
    ERA_835 = "era_835"
    NOTICE_AND_CONSENT = "notice_and_consent"
    APPEAL_LETTER = "appeal_letter"
    PAYER_CORRESPONDENCE = "payer_correspondence"
    AUTHORIZATION = "authorization"
    OTHER = "other"


class Frequency(StrEnum):
    ORIGINAL = "1"
    REPLACEMENT = "7"
    VOID = "8"


@dataclass(frozen=True)
class Address:
    line1: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""


@dataclass(frozen=True)
class Provider:
    name: str
    npi: str
    tin: str = ""
    address: Address = field(default_factory=Address)


@dataclass(frozen=True)
class Patient:
    """Personal health information: encrypted at rest, stripped from the wire payload."""

    first_name: str = ""
    last_name: str = ""
    birth_date: date | None = None
    member_id: str = ""
    gender: str = ""  # DMG03: "M", "F", "U" (unknown); "" not stated (written as "U")


@dataclass(frozen=True)
class Payer:
    payer_id: str
    name: str = ""


@dataclass(frozen=True)
class Plan:
    name: str = ""
    funding: PlanFunding = PlanFunding.UNSPECIFIED
    situs_state: str = ""
    marketplace: bool = False
    narrow_network: bool = False
    state_law_opt_in: bool = False


@dataclass(frozen=True)
class Facility:
    name: str = ""
    npi: str = ""
    network_status: NetworkStatus = NetworkStatus.UNSPECIFIED
    state: str = ""
    address: Address = field(default_factory=Address)  # the 837 service facility location


@dataclass(frozen=True)
class ServiceLine:
    procedure_code: str
    billed_cents: int
    service_date: date
    units: int = 1
    modifiers: tuple[str, ...] = ()
    place_of_service: str = ""
    revenue_code: str = ""
    diagnosis_pointers: tuple[int, ...] = ()
    line_control_number: str = ""


@dataclass(frozen=True)
class ClaimData:
    """Everything the provider states about a claim (the 837 content plus the plan facts)."""

    client_id: str
    claim_type: ClaimType
    patient_control_number: str
    provider: Provider
    payer: Payer
    lines: tuple[ServiceLine, ...]
    patient: Patient = field(default_factory=Patient)
    plan: Plan = field(default_factory=Plan)
    facility: Facility = field(default_factory=Facility)
    emergency: bool = False
    diagnosis_codes: tuple[str, ...] = ()
    total_billed_cents: int = 0
    bill_type: str = ""
    admission_type_code: str = ""
    patient_status_code: str = ""

    @property
    def lines_billed_cents(self) -> int:
        return sum(line.billed_cents for line in self.lines)

    @property
    def billed_cents(self) -> int:
        """The claim total as stated (CLM02), else the sum of the lines."""
        return self.total_billed_cents or self.lines_billed_cents

    @property
    def first_service_date(self) -> date:
        return min(line.service_date for line in self.lines)

    @property
    def last_service_date(self) -> date:
        return max(line.service_date for line in self.lines)

    @property
    def service_state(self) -> str:
        """Where the care was given: the facility's state, else the plan's situs."""
        return self.facility.state or self.plan.situs_state


@dataclass(frozen=True)
class Adjudication:
    """The payer's initial payment or denial (an 835 claim loop or EOB, summarised)."""

    received_date: date
    billed_cents: int
    allowed_cents: int
    paid_cents: int
    patient_responsibility_cents: int
    qpa_cents: int = 0
    qpa_disclosed: bool = False
    carc_codes: tuple[str, ...] = ()
    rarc_codes: tuple[str, ...] = ()
    payer_claim_control_number: str = ""
    denied: bool = False

    @property
    def total_oon_payment_cents(self) -> int:
        """Plan payment plus patient cost sharing: what an IDR award is compared against."""
        return self.paid_cents + self.patient_responsibility_cents


@dataclass(frozen=True)
class Document:
    document_id: str
    kind: DocumentKind
    sha256: str
    location: str
    size_bytes: int = 0
