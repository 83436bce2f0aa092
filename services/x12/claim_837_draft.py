"""The loop state of one 837 transaction while it is walked, and a claim as it is gathered.

`TransactionContext.feed` routes each segment to the loop it belongs to (HL 20/22/23, 2300,
2310, 2320/2330, 2400, 2420, 2430); `ClaimDraft.build` turns what was gathered into a
`Claim837` and the findings that stop it. Hand-written: see docs/x12.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from services.x12.claim_837 import (
    Address,
    BillingProvider,
    Claim837,
    ClaimKind,
    Patient,
    Payer,
    ServiceLine,
)
from services.x12.claim_837_loops import (
    Attachment,
    ClaimAdjustment,
    ClaimProvider,
    LineAdjudication,
    OtherPayer,
)
from services.x12.claim_837_values import (
    Problems,
    cents,
    codes_from_hi,
    d8,
    diagnosis_elements,
    units,
)
from services.x12.envelope import components
from services.x12.findings import Finding, Source
from services.x12.segments import Segment

PROVIDER_ROLES = frozenset({"82", "DN", "DK", "DQ", "71", "72", "ZZ", "77", "QB", "P3", "FA"})
CLAIM_DATE_QUALIFIERS = ("431", "434", "435", "472")
HIERARCHICAL_STRUCTURE = "0019"


@dataclass
class Person:
    first_name: str = ""
    last_name: str = ""
    birth_date: date | None = None
    member_id: str = ""
    gender: str = ""  # DMG03


@dataclass
class Subscriber:
    filing_indicator: str = ""
    person: Person = field(default_factory=Person)
    payer: Payer | None = None


@dataclass
class Billing:
    name: str = ""
    npi: str = ""
    tin: str = ""
    address: Address = field(default_factory=Address)


@dataclass
class LineDraft:
    number: int
    lx: Segment
    service: Segment | None = None
    dates: list[tuple[Segment, str]] = field(default_factory=list)
    control_number: str = ""
    providers: list[ClaimProvider] = field(default_factory=list)
    adjudications: list[LineAdjudication] = field(default_factory=list)


@dataclass
class ClaimDraft:
    location: str
    clm: Segment
    billing: Billing
    subscriber: Subscriber | None
    patient: Person | None
    relationship: str
    outside_subscriber: bool = False
    dates: list[tuple[Segment, str]] = field(default_factory=list)
    his: list[Segment] = field(default_factory=list)
    cl1: Segment | None = None
    original_reference: str = ""
    providers: list[ClaimProvider] = field(default_factory=list)
    other_payers: list[OtherPayer] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    lines: list[LineDraft] = field(default_factory=list)
    found: list[Finding] = field(default_factory=list)  # gathered while walking its loops
    sources: dict[str, Source] = field(default_factory=dict)  # field → where it was read

    def source(self, name: str, s: Segment, index: int) -> None:
        self.sources[name] = Source(
            name,
            s.tag,
            s.position,
            s.ref(index) if index else "",
            s.element(index) if index else "",
        )

    def build(self, context: TransactionContext) -> tuple[Claim837 | None, list[Finding]]:
        problems = Problems(self.location)
        problems.findings.extend(self.found)
        clm = self.clm
        if self.outside_subscriber:
            problems.add(
                clm,
                0,
                "a claim (CLM) must sit in a subscriber (HL 22) or patient (HL 23) loop",
                clm.element(1),
            )
        if not clm.element(1):
            problems.add(clm, 1, "the patient control number (CLM01) is required")
        total = cents(clm, 2, "total_billed_cents", problems, required=True)
        self.source("patient_control_number", clm, 1)
        self.source("total_billed_cents", clm, 2)
        self.source("facility_code", clm, 5)
        self.source("bill_type", clm, 5)
        location = components(clm.element(5), clm.delimiters, (">", ":"))
        facility = location[0].strip() if location and location[0].strip() else ""
        frequency = location[2].strip() if len(location) > 2 and location[2].strip() else "1"
        looks_shifted = any(sep in clm.element(4) for sep in (clm.delimiters.component, ">"))
        if not (len(facility) == 2 and facility.isdigit()):
            rule = (
                "CLM05-1 (the two-digit facility code or place of service, written "
                "facility:qualifier:frequency) is required"
                + (
                    "; CLM04 holds that composite instead, an element separator is missing"
                    if looks_shifted
                    else ""
                )
            )
            problems.add(
                clm,
                5,
                rule,
                clm.element(4) if looks_shifted else clm.element(5),
                field="facility_code",
            )
        claim_date = None
        for segment, qualifier in self.dates:
            if qualifier in CLAIM_DATE_QUALIFIERS and claim_date is None:
                claim_date = d8(segment, 3, problems)
        diagnoses, conditions, occurrences, values = codes_from_hi(self.his, problems)
        for index, (hi, n) in enumerate(diagnosis_elements(self.his)):
            self.source(f"diagnosis_codes[{index}]", hi, n)
        lines = [
            self._line(i, line, facility, claim_date, problems) for i, line in enumerate(self.lines)
        ]
        if not self.lines:
            problems.add(
                clm,
                0,
                "a claim needs at least one service line (LX with SV1 or SV2)",
                clm.element(1),
            )
        subscriber = self.subscriber or Subscriber()
        if subscriber.payer is None:
            problems.add(clm, 0, "the payer (loop 2010BB, NM1*PR) of the subscriber is missing")
        if problems.findings:
            return None, problems.findings
        person = self.patient or subscriber.person
        cl1 = self.cl1
        claim = Claim837(
            kind=context.kind,
            patient_control_number=clm.element(1),
            billing_provider=BillingProvider(
                self.billing.name, self.billing.npi, self.billing.tin, self.billing.address
            ),
            payer=subscriber.payer or Payer(""),
            lines=tuple(line for line in lines if line is not None),
            patient=Patient(
                person.first_name, person.last_name, person.birth_date,
                subscriber.person.member_id, person.gender,
            ),
            total_billed_cents=total,
            facility_code=facility,
            frequency_code=frequency,
            original_reference=self.original_reference,
            diagnosis_codes=diagnoses,
            filing_indicator=subscriber.filing_indicator,
            admission_type_code=cl1.element(1) if cl1 else "",
            patient_status_code=cl1.element(3) if cl1 else "",
            subscriber=(
                Patient(
                    subscriber.person.first_name,
                    subscriber.person.last_name,
                    subscriber.person.birth_date,
                    subscriber.person.member_id,
                    subscriber.person.gender,
                )
                if self.patient is not None
                else None
            ),
            relationship_code=self.relationship if self.patient is not None else "",
            providers=tuple(self.providers),
            other_payers=tuple(self.other_payers),
            attachments=tuple(self.attachments),
            condition_codes=conditions,
            occurrence_codes=occurrences,
            value_codes=values,
        )
        return claim, []

    def _line(
        self,
        index: int,
        line: LineDraft,
        facility: str,
        claim_date: date | None,
        problems: Problems,
    ) -> ServiceLine | None:
        at = f"lines[{index}]."
        service = line.service
        if service is None:
            problems.add(
                line.lx, 0, "a service line (LX) needs an SV1 or SV2 segment", line.lx.element(1)
            )
            return None
        self.source(f"lines[{index}]", service, 0)
        names = (
            ((1, "revenue_code"), (2, "procedure_code"), (3, "billed_cents"), (5, "units"))
            if service.tag == "SV2"
            else (
                (1, "procedure_code"),
                (2, "billed_cents"),
                (4, "units"),
                (5, "place_of_service"),
                (7, "diagnosis_pointers"),
            )
        )
        for element, name in names:
            self.source(f"lines[{index}].{name}", service, element)
        service_date = None
        for segment, qualifier in line.dates:
            if qualifier == "472" and service_date is None:
                service_date = d8(segment, 3, problems)
                self.source(f"lines[{index}].service_date", segment, 3)
        service_date = service_date or claim_date
        if service_date is None:
            problems.add(
                service,
                0,
                "a service line needs a date of service (DTP*472 on the line or a claim date)",
                field=at + "service_date",
            )
            service_date = date.min
        d = service.delimiters
        if service.tag == "SV1":
            procedure = components(service.element(1), d, (">", ":"))
            pointers = components(service.element(7), d, (">", ":"))
            return ServiceLine(
                procedure_code=procedure[1].strip() if len(procedure) > 1 else "",
                modifiers=tuple(m.strip() for m in procedure[2:6] if m.strip()),
                units=units(service, 4, at + "units", problems),
                billed_cents=cents(service, 2, at + "billed_cents", problems, required=True),
                service_date=service_date,
                place_of_service=service.element(5) or facility,
                diagnosis_pointers=tuple(int(p) for p in pointers if p.strip().isdigit()),
                line_control_number=line.control_number,
                providers=tuple(line.providers),
                adjudications=tuple(line.adjudications),
            )
        procedure = components(service.element(2), d, (">", ":"))
        return ServiceLine(
            procedure_code=procedure[1].strip() if len(procedure) > 1 else "",
            modifiers=tuple(m.strip() for m in procedure[2:6] if m.strip()),
            units=units(service, 5, at + "units", problems),
            billed_cents=cents(service, 3, at + "billed_cents", problems, required=True),
            service_date=service_date,
            revenue_code=service.element(1),
            line_control_number=line.control_number,
            providers=tuple(line.providers),
            adjudications=tuple(line.adjudications),
        )


class TransactionContext:
    """Where the walk stands in one ST..SE: the current HL levels, claim, other payer, line."""

    def __init__(self, where: str, kind: ClaimKind):
        self.where = where
        self.kind = kind
        self.findings: list[Finding] = []  # transaction-level: they stop every claim of it
        self.billing = Billing()
        self.subscriber: Subscriber | None = None
        self.patient: Person | None = None
        self.relationship = ""
        self.entity = ""  # NM101 of the last name loop outside a claim
        self.claim: ClaimDraft | None = None
        self.claims = 0
        self.other_payer: OtherPayer | None = None
        self.line: LineDraft | None = None
        self.line_adjudication: LineAdjudication | None = None
        self.sources: dict[str, Source] = {}  # header fields (billing, subscriber, patient)

    def source(self, name: str, s: Segment, index: int) -> None:
        self.sources[name] = Source(name, s.tag, s.position, s.ref(index), s.element(index))

    # -- claim-level state ------------------------------------------------------------------
    def _close_claim(self) -> None:
        self._close_other_payer()
        self._close_line()
        self.claim = None

    def _close_other_payer(self) -> None:
        if self.claim is not None and self.other_payer is not None:
            self.claim.other_payers.append(self.other_payer)
        self.other_payer = None

    def _close_line(self) -> None:
        self._close_line_adjudication()
        self.line = None

    def _close_line_adjudication(self) -> None:
        if self.line is not None and self.line_adjudication is not None:
            self.line.adjudications.append(self.line_adjudication)
        self.line_adjudication = None

    def feed(self, s: Segment) -> ClaimDraft | None:
        """Route one segment; returns the new claim draft when the segment is a CLM."""
        handler = getattr(self, f"_on_{s.tag.lower()}", None)
        if handler is None:
            return None
        result: ClaimDraft | None = handler(s)
        return result

    def _on_bht(self, s: Segment) -> None:
        if s.element(1) != HIERARCHICAL_STRUCTURE:
            self.findings.append(
                Finding(
                    self.where,
                    "BHT",
                    s.position,
                    "BHT01",
                    "the hierarchical structure code must be 0019 (billing provider, subscriber, "
                    "patient)",
                    s.element(1),
                )
            )

    def _on_hl(self, s: Segment) -> None:
        self._close_claim()
        level = s.element(3)
        if level == "20":
            self.billing, self.subscriber, self.patient = Billing(), None, None
            self.sources = {}
        elif level == "22":
            self.subscriber, self.patient, self.relationship = Subscriber(), None, ""
            self.sources = {k: v for k, v in self.sources.items() if k.startswith("billing")}
        elif level == "23":
            self.patient = Person()
        else:
            self.findings.append(
                Finding(
                    self.where,
                    "HL",
                    s.position,
                    "HL03",
                    "the level must be 20 (billing provider), 22 (subscriber) or 23 (patient)",
                    level,
                )
            )
        self.entity = ""

    def _on_sbr(self, s: Segment) -> None:
        if self.claim is not None:
            self._close_line()
            self._close_other_payer()
            self.other_payer = OtherPayer(s.element(1), s.element(2), s.element(9))
        elif self.subscriber is not None:
            self.subscriber.filing_indicator = s.element(9)

    def _on_pat(self, s: Segment) -> None:
        if self.patient is not None and self.claim is None:
            self.relationship = s.element(1)

    def _on_nm1(self, s: Segment) -> None:
        entity = s.element(1)
        npi = s.element(9) if s.element(8) == "XX" else ""
        if self.claim is not None:
            provider = ClaimProvider(entity, s.element(3), s.element(4), npi)
            if self.line is not None:
                if entity in PROVIDER_ROLES:
                    self.line.providers.append(provider)
            elif self.other_payer is not None:
                if entity == "IL":
                    self.other_payer = replace(
                        self.other_payer,
                        subscriber_last_name=s.element(3),
                        subscriber_first_name=s.element(4),
                        member_id=s.element(9),
                    )
                elif entity == "PR":
                    self.other_payer = replace(
                        self.other_payer, payer_name=s.element(3), payer_id=s.element(9)
                    )
            elif entity in PROVIDER_ROLES:
                self.claim.providers.append(provider)
            return
        self.entity = entity
        if entity == "85":
            self.billing.name, self.billing.npi = s.element(3), npi or s.element(9)
            self.source("billing_provider.npi", s, 9)
            self.source("billing_provider.name", s, 3)
        elif entity == "IL" and self.subscriber is not None:
            person = self.subscriber.person
            person.last_name, person.first_name = s.element(3), s.element(4)
            person.member_id = s.element(9)
            self.source("patient.member_id", s, 9)
            if self.patient is None:
                self.source("patient.last_name", s, 3)
                self.source("patient.first_name", s, 4)
        elif entity == "PR" and self.subscriber is not None:
            self.subscriber.payer = Payer(s.element(9), s.element(3))
            self.source("payer.payer_id", s, 9)
            self.source("payer.name", s, 3)
        elif entity == "QC" and self.patient is not None:
            self.patient.last_name, self.patient.first_name = s.element(3), s.element(4)
            self.source("patient.last_name", s, 3)
            self.source("patient.first_name", s, 4)

    def _on_n3(self, s: Segment) -> None:
        if self.claim is None and self.entity == "85":
            self.billing.address = replace(self.billing.address, line1=s.element(1))

    def _on_n4(self, s: Segment) -> None:
        if self.claim is None and self.entity == "85":
            self.billing.address = replace(
                self.billing.address,
                city=s.element(1),
                state=s.element(2),
                postal_code=s.element(3),
            )

    def _on_dmg(self, s: Segment) -> None:
        if self.claim is not None:
            return
        problems = Problems(self.where)
        born = d8(s, 2, problems) if s.element(1) == "D8" else None
        self.findings.extend(problems.findings)
        if self.entity == "QC" and self.patient is not None:
            self.patient.birth_date, self.patient.gender = born, s.element(3)
            self.source("patient.birth_date", s, 2)
        elif self.entity == "IL" and self.subscriber is not None:
            self.subscriber.person.birth_date = born
            self.subscriber.person.gender = s.element(3)
            if self.patient is None:
                self.source("patient.birth_date", s, 2)

    def _on_ref(self, s: Segment) -> None:
        qualifier = s.element(1)
        if self.line is not None:
            if qualifier == "6R" and self.line_adjudication is None:
                self.line.control_number = s.element(2)
        elif self.claim is not None:
            if qualifier == "F8" and self.other_payer is None:
                self.claim.original_reference = s.element(2)
        elif self.entity == "85" and qualifier in ("EI", "SY"):
            self.billing.tin = s.element(2)
            self.source("billing_provider.tin", s, 2)

    def _on_clm(self, s: Segment) -> ClaimDraft:
        self._close_claim()
        self.claims += 1
        location = f"{self.where} / CLM {self.claims} / PCN {s.element(1) or '?'}"
        self.claim = ClaimDraft(
            location,
            s,
            self.billing,
            self.subscriber,
            self.patient,
            self.relationship,
            outside_subscriber=self.subscriber is None,
            sources=dict(self.sources),
        )
        return self.claim

    def _on_dtp(self, s: Segment) -> None:
        qualifier = s.element(1)
        problems = Problems(self.where)
        if self.line is not None:
            if self.line_adjudication is not None and qualifier == "573":
                self.line_adjudication = replace(
                    self.line_adjudication, adjudication_date=d8(s, 3, problems)
                )
            else:
                self.line.dates.append((s, qualifier))
        elif self.other_payer is not None:
            if qualifier == "573":
                self.other_payer = replace(self.other_payer, adjudication_date=d8(s, 3, problems))
        elif self.claim is not None:
            self.claim.dates.append((s, qualifier))
        self.claim_problem(problems)

    def _on_pwk(self, s: Segment) -> None:
        if self.claim is not None:
            line = self.line.number if self.line is not None else 0
            self.claim.attachments.append(
                Attachment(s.element(1), s.element(2), s.element(6), line)
            )

    def _on_hi(self, s: Segment) -> None:
        if self.claim is not None and self.line is None:
            self.claim.his.append(s)

    def _on_cl1(self, s: Segment) -> None:
        if self.claim is not None:
            self.claim.cl1 = s

    def _on_cas(self, s: Segment) -> None:
        problems = Problems(self.where)
        found = []
        for first in range(2, min(len(s.fields), 20), 3):
            if s.element(first):
                amount = cents(s, first + 1, "", problems, required=True)
                found.append(
                    ClaimAdjustment(s.element(1), s.element(first), amount, s.element(first + 2))
                )
        if self.line_adjudication is not None:
            self.line_adjudication = replace(
                self.line_adjudication,
                adjustments=self.line_adjudication.adjustments + tuple(found),
            )
        elif self.other_payer is not None and self.line is None:
            self.other_payer = replace(
                self.other_payer, adjustments=self.other_payer.adjustments + tuple(found)
            )
        self.claim_problem(problems)

    def _on_amt(self, s: Segment) -> None:
        if self.other_payer is None or self.line is not None:
            return
        problems = Problems(self.where)
        amount = cents(s, 2, "", problems)
        if s.element(1) == "D":
            self.other_payer = replace(self.other_payer, paid_cents=amount)
        elif s.element(1) == "EAF":
            self.other_payer = replace(self.other_payer, remaining_liability_cents=amount)
        self.claim_problem(problems)

    def claim_problem(self, problems: Problems) -> None:
        """Amounts of other payers that cannot be read stop the claim they belong to."""
        if self.claim is not None:
            self.claim.found.extend(problems.findings)

    def _on_lx(self, s: Segment) -> None:
        if self.claim is None:
            return
        self._close_other_payer()
        self._close_line()
        number = int(s.element(1)) if s.element(1).isdigit() else len(self.claim.lines) + 1
        self.line = LineDraft(number, s)
        self.claim.lines.append(self.line)

    def _on_sv1(self, s: Segment) -> None:
        if self.line is not None:
            self.line.service = s

    _on_sv2 = _on_sv1

    def _on_svd(self, s: Segment) -> None:
        if self.line is None:
            return
        self._close_line_adjudication()
        problems = Problems(self.where)
        paid = cents(s, 2, "", problems)
        procedure = components(s.element(3), s.delimiters, (">", ":"))
        self.line_adjudication = LineAdjudication(
            s.element(1), paid, procedure[1].strip() if len(procedure) > 1 else "", s.element(5)
        )
        self.claim_problem(problems)

    def _on_se(self, s: Segment) -> None:
        self._close_claim()
