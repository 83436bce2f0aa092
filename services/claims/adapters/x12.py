"""Claims ↔ X12 837: the shared reader/writer (services/x12) mapped to and from `ClaimData`.

What is claims' own lives here: the plan funding a SBR09 filing indicator names (and back), the
emergency flag, the bill type, the TIN normalisation, and the rule that a replacement or void
needs the payer's original claim number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.claims.domain import codes
from services.claims.domain.claim_data import (
    Address,
    ClaimData,
    ClaimType,
    Facility,
    Frequency,
    Patient,
    Payer,
    Plan,
    PlanFunding,
    Provider,
    ServiceLine,
)
from services.claims.domain.service_class import looks_like_emergency
from services.common.errors import FailedPrecondition, InvalidArgument
from services.x12 import claim_837 as x837
from services.x12.findings import Finding, Source
from services.x12.reader_837 import read_837_file as read_claims_837
from services.x12.writer_837 import ControlNumbers, write_837

# SBR09 claim filing indicators that name a public program (DOMAIN.md §2.1, CLP06 list).
PUBLIC_FILING_INDICATORS = {
    "MA": PlanFunding.MEDICARE,
    "MB": PlanFunding.MEDICARE,
    "16": PlanFunding.MEDICARE_ADVANTAGE,
    "MC": PlanFunding.MEDICAID,
    "CH": PlanFunding.TRICARE,
    "VA": PlanFunding.VA_IHS,
    "FI": PlanFunding.FEHB,
}
# SBR09 claim filing indicator by plan funding (commercial unless a program says otherwise).
FILING_INDICATOR = {
    PlanFunding.MEDICARE: "MB",
    PlanFunding.MEDICARE_ADVANTAGE: "16",
    PlanFunding.MEDICAID: "MC",
    PlanFunding.TRICARE: "CH",
    PlanFunding.VA_IHS: "VA",
    PlanFunding.FEHB: "FI",
}
COMMERCIAL_FILING_INDICATOR = "CI"
ADMISSION_TYPE_EMERGENCY = "1"  # CL1-1


@dataclass(frozen=True)
class ParsedClaim:
    """One CLM: its data (and CLM05-3 frequency, REF*F8 original claim number), or the error."""

    location: str
    data: ClaimData | None = None
    error: InvalidArgument | None = None
    findings: tuple[Finding, ...] = ()
    sources: tuple[Source, ...] = ()  # where each field of the claim was read
    frequency: Frequency = Frequency.ORIGINAL
    original_reference: str = ""

    def finding(self, field: str, description: str) -> Finding:
        """A claims rule that refused a field of this claim ("not a valid NPI"), placed at the
        segment and element the field was read from (the closest enclosing one)."""
        path = _ITEM_PREFIX.sub("", field)
        for ours, neutral in CLAIM_TO_837_FIELDS:
            if path.startswith(ours):
                path = neutral + path[len(ours) :]
        by_name = {s.field: s for s in self.sources}
        candidate = path
        while candidate and candidate not in by_name:
            shorter = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", candidate)
            # A top-level field ("frequency") has nothing to shorten: placed at the CLM.
            candidate = shorter if shorter != candidate else ""
        source = by_name.get(candidate)
        if source is None:
            return Finding(self.location, "CLM", 0, "", description, field=path)
        return Finding(
            self.location,
            source.segment,
            source.position,
            source.element,
            description,
            source.value,
            path,
        )


_ITEM_PREFIX = re.compile(r"^items\[\d+\]\.claim\.")
# ClaimData field names that differ from the neutral Claim837 names the reader records.
CLAIM_TO_837_FIELDS = (("provider.", "billing_provider."),)


@dataclass(frozen=True)
class ParsedFile:
    """Every claim of the file, and the notes on its envelope (which reject nothing)."""

    claims: tuple[ParsedClaim, ...]
    notes: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class Exported:
    text: str
    implementation_guide: str


def read_837(text: str, client_id: str, plan: Plan, facility: Facility) -> list[ParsedClaim]:
    """Every claim of an 837 interchange, each either read or explained."""
    return list(read_837_file(text, client_id, plan, facility).claims)


def read_837_file(text: str, client_id: str, plan: Plan, facility: Facility) -> ParsedFile:
    """Every claim of an 837 file (each read or explained by findings) and the envelope notes."""
    read = read_claims_837(text)
    return ParsedFile(
        tuple(_parsed(parsed, client_id, plan, facility) for parsed in read.claims), read.notes
    )


def _parsed(parsed: Any, client_id: str, plan: Plan, facility: Facility) -> ParsedClaim:
    """A replacement or void (CLM05-3 7/8) keeps its frequency and the payer's original claim
    number (REF*F8), which it must carry."""
    claim = parsed.claim
    if claim is None:
        return ParsedClaim(parsed.location, error=parsed.error, findings=parsed.findings,
                           sources=parsed.sources)
    frequency = _frequency(claim.frequency_code)
    if frequency is not Frequency.ORIGINAL and not claim.original_reference:
        missing = InvalidArgument(
            "a replacement or void (CLM05-3 7/8) needs the payer's original claim number "
            "(REF*F8)",
            "original_reference",
        )
        return ParsedClaim(parsed.location, error=missing, findings=parsed.findings,
                           sources=parsed.sources)
    return ParsedClaim(
        parsed.location,
        data=claim_data(claim, client_id, plan, facility),
        findings=parsed.findings,
        sources=parsed.sources,
        frequency=frequency,
        original_reference=claim.original_reference,
    )


def _frequency(code: str) -> Frequency:
    """CLM05-3 as the claim's frequency; codes other than 1/7/8 are read as an original."""
    return Frequency(code) if code in {f.value for f in Frequency} else Frequency.ORIGINAL


def export_837(
    data: ClaimData,
    frequency: Frequency,
    original_payer_claim_control_number: str,
    sender_id: str,
    receiver_id: str,
    contact_name: str,
    contact_phone: str,
    created: datetime,
    control: ControlNumbers | None = None,
) -> Exported:
    """The claim as a complete interchange (ISA..IEA), validated by the library's models."""
    if frequency is not Frequency.ORIGINAL and not original_payer_claim_control_number:
        raise FailedPrecondition(
            "a replacement or void needs the payer's original claim number "
            "(record the original's adjudication first)"
        )
    written = write_837(
        claim_837(data, frequency, original_payer_claim_control_number),
        sender_id=sender_id,
        receiver_id=receiver_id,
        contact_name=contact_name,
        contact_phone=contact_phone,
        created=created,
        control=control,
    )
    return Exported(written.text, written.implementation_guide)


def claim_data(claim: x837.Claim837, client_id: str, plan: Plan, facility: Facility) -> ClaimData:
    """An 837 claim as the claims domain holds it; plan and facility facts come from the caller
    (SBR09 overrides the plan funding when it names a public program)."""
    institutional = claim.kind is x837.ClaimKind.INSTITUTIONAL
    provider = claim.billing_provider
    billing_state = provider.address.state
    data = ClaimData(
        client_id=client_id,
        claim_type=ClaimType.INSTITUTIONAL if institutional else ClaimType.PROFESSIONAL,
        patient_control_number=claim.patient_control_number,
        provider=Provider(
            name=provider.name,
            npi=provider.npi,
            tin=provider.tin,
            address=Address(
                line1=provider.address.line1,
                city=provider.address.city,
                state=billing_state,
                postal_code=provider.address.postal_code,
            ),
        ),
        patient=Patient(
            first_name=claim.patient.first_name,
            last_name=claim.patient.last_name,
            birth_date=claim.patient.birth_date,
            member_id=claim.patient.member_id,
            gender=claim.patient.gender,
        ),
        payer=Payer(payer_id=claim.payer.payer_id, name=claim.payer.name),
        plan=replace(
            plan, funding=PUBLIC_FILING_INDICATORS.get(claim.filing_indicator, plan.funding)
        ),
        facility=replace(facility, state=facility.state or billing_state),
        emergency=False,
        diagnosis_codes=claim.diagnosis_codes,
        lines=tuple(
            ServiceLine(
                procedure_code=line.procedure_code,
                billed_cents=line.billed_cents,
                service_date=line.service_date,
                units=line.units,
                modifiers=line.modifiers,
                place_of_service=line.place_of_service,
                revenue_code=line.revenue_code,
                diagnosis_pointers=line.diagnosis_pointers,
                line_control_number=line.line_control_number,
            )
            for line in claim.lines
        ),
        total_billed_cents=claim.total_billed_cents,
        bill_type=_bill_type(claim) if institutional else "",
        admission_type_code=claim.admission_type_code,
        patient_status_code=claim.patient_status_code,
    )
    admitted_as_emergency = claim.admission_type_code == ADMISSION_TYPE_EMERGENCY
    return replace(data, emergency=looks_like_emergency(data) or admitted_as_emergency)


def _bill_type(claim: x837.Claim837) -> str:
    """The type of bill: facility type and frequency. A replacement or void keeps the bill type
    of the claim it corrects (frequency 1); its own frequency is the claim's, not the bill's."""
    if _frequency(claim.frequency_code) is Frequency.ORIGINAL:
        return claim.facility_code + claim.frequency_code
    return claim.facility_code + Frequency.ORIGINAL.value


def claim_837(data: ClaimData, frequency: Frequency, original_icn: str) -> x837.Claim837:
    """The claim as the 837 writes it: CLM05 from the bill type (837I) or the first line's place
    of service (837P), REF*F8 only on a replacement or void."""
    institutional = data.claim_type is ClaimType.INSTITUTIONAL
    provider = data.provider
    return x837.Claim837(
        kind=x837.ClaimKind.INSTITUTIONAL if institutional else x837.ClaimKind.PROFESSIONAL,
        patient_control_number=data.patient_control_number,
        billing_provider=x837.BillingProvider(
            name=provider.name,
            npi=provider.npi,
            tin=codes.normalize_tin(provider.tin) or "",
            address=x837.Address(
                line1=provider.address.line1,
                city=provider.address.city,
                state=provider.address.state,
                postal_code=provider.address.postal_code,
            ),
        ),
        payer=x837.Payer(payer_id=data.payer.payer_id, name=data.payer.name),
        patient=x837.Patient(
            first_name=data.patient.first_name,
            last_name=data.patient.last_name,
            birth_date=data.patient.birth_date,
            member_id=data.patient.member_id,
            gender=data.patient.gender,
        ),
        lines=tuple(
            x837.ServiceLine(
                procedure_code=line.procedure_code,
                billed_cents=line.billed_cents,
                service_date=line.service_date,
                units=line.units,
                modifiers=line.modifiers,
                place_of_service=line.place_of_service,
                revenue_code=line.revenue_code,
                diagnosis_pointers=line.diagnosis_pointers,
                line_control_number=line.line_control_number,
            )
            for line in data.lines
        ),
        total_billed_cents=data.billed_cents,
        facility_code=data.bill_type[:2] if institutional else data.lines[0].place_of_service,
        frequency_code=frequency.value,
        original_reference=original_icn if frequency is not Frequency.ORIGINAL else "",
        diagnosis_codes=data.diagnosis_codes,
        filing_indicator=FILING_INDICATOR.get(data.plan.funding, COMMERCIAL_FILING_INDICATOR),
        admission_type_code=data.admission_type_code,
        patient_status_code=data.patient_status_code,
        service_facility=_service_facility(data.facility),
        emergency=data.emergency and not institutional,
    )


def _service_facility(facility: Facility) -> x837.ServiceFacility | None:
    """The facility as the 837's service facility location, when its name and full address are
    known (N3/N4 are required in that loop)."""
    a = facility.address
    if not (facility.name and a.line1 and a.city and a.state and a.postal_code):
        return None
    return x837.ServiceFacility(
        name=facility.name,
        npi=facility.npi,
        address=x837.Address(line1=a.line1, city=a.city, state=a.state, postal_code=a.postal_code),
    )
