"""Clean-claim check: is a claim complete and consistent enough for a first-time filing?

Pure and rule-set versioned. Every finding names the rule and the field; a claim with a
blocking finding cannot be marked ready to file. The rules kept as tables (required modifiers,
timely filing per payer and plan type) are data files in `data/`, each with its version and
sources; their findings carry that version (`Finding.rule_version`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from services.claims.domain import codes
from services.claims.domain.claim_data import ClaimData, ClaimType, NetworkStatus, PlanFunding
from services.claims.domain.service_class import looks_like_emergency

RULE_SET_VERSION = "clean-claim/2026.12"
_DATA = Path(__file__).parent / "data"


def _table(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((_DATA / name).read_text(encoding="utf-8"))
    return loaded


# NCCI-style required modifiers (data/required_modifiers.json: version, sources, codes).
MODIFIERS = _table("required_modifiers.json")
MODIFIERS_VERSION: str = MODIFIERS["version"]
_EM = frozenset(MODIFIERS["evaluation_and_management"])
_MINOR: dict[str, int] = MODIFIERS["minor_procedures"]
_PTP = tuple((p["column1"], p["column2"]) for p in MODIFIERS["ptp_pairs"]
             if p["modifier_indicator"] == 1)
_DISTINCT = frozenset(MODIFIERS["distinct_service_modifiers"])
# Timely filing per payer and plan type (data/timely_filing.json).
TIMELY_FILING = _table("timely_filing.json")
TIMELY_FILING_VERSION: str = TIMELY_FILING["version"]


@dataclass(frozen=True)
class Finding:
    rule_id: str
    field: str
    message: str
    blocking: bool = True
    # The version of the table the rule reads ("" for the rules written in code).
    rule_version: str = ""


@dataclass(frozen=True)
class CleanClaimReport:
    rule_set_version: str
    findings: tuple[Finding, ...]

    @property
    def clean(self) -> bool:
        return not any(f.blocking for f in self.findings)


Rule = Callable[[ClaimData, date], Iterator[Finding]]


def _billing_npi(c: ClaimData, today: date) -> Iterator[Finding]:
    if not codes.is_valid_npi(c.provider.npi):
        yield Finding("CC01-NPI", "provider.npi", "Billing NPI missing or fails its check digit.")
    if c.facility.npi and not codes.is_valid_npi(c.facility.npi):
        yield Finding("CC01-NPI", "facility.npi", "Facility NPI fails its check digit.")


def _tin(c: ClaimData, today: date) -> Iterator[Finding]:
    if not c.provider.tin:
        yield Finding("CC02-TIN", "provider.tin", "Billing provider TIN is required (REF*EI).")
    elif codes.normalize_tin(c.provider.tin) is None:
        yield Finding("CC02-TIN", "provider.tin", "TIN is not 9 digits with a valid EIN prefix.")


def _patient(c: ClaimData, today: date) -> Iterator[Finding]:
    p = c.patient
    for field, value in (
        ("patient.first_name", p.first_name),
        ("patient.last_name", p.last_name),
        ("patient.member_id", p.member_id),
    ):
        if not value.strip():
            yield Finding("CC03-PATIENT", field, "Required for filing.")
    if p.birth_date is None:
        yield Finding("CC03-PATIENT", "patient.birth_date", "Required for filing.")


def _payer(c: ClaimData, today: date) -> Iterator[Finding]:
    if not c.payer.payer_id.strip():
        yield Finding("CC04-PAYER", "payer.payer_id", "Payer id is required (NM1*PR).")
    if not c.payer.name.strip():
        yield Finding("CC04-PAYER", "payer.name", "Payer name is required (NM1*PR).")


def _diagnoses(c: ClaimData, today: date) -> Iterator[Finding]:
    if not c.diagnosis_codes:
        yield Finding("CC05-DIAGNOSIS", "diagnosis_codes", "At least one ICD-10-CM diagnosis.")
    for i, dx in enumerate(c.diagnosis_codes):
        if not codes.is_icd10cm(dx):
            yield Finding("CC05-DIAGNOSIS", f"diagnosis_codes[{i}]", f"{dx!r} is not ICD-10-CM.")


def _pointers(c: ClaimData, today: date) -> Iterator[Finding]:
    if c.claim_type is not ClaimType.PROFESSIONAL:
        return
    for i, line in enumerate(c.lines):
        if not line.diagnosis_pointers:
            yield Finding(
                "CC06-POINTER",
                f"lines[{i}].diagnosis_pointers",
                "A professional line must point at a diagnosis (SV107).",
            )
        for pointer in line.diagnosis_pointers:
            if not 1 <= pointer <= len(c.diagnosis_codes):
                yield Finding(
                    "CC06-POINTER",
                    f"lines[{i}].diagnosis_pointers",
                    f"Pointer {pointer} names no diagnosis on the claim.",
                )


def _procedures(c: ClaimData, today: date) -> Iterator[Finding]:
    for i, line in enumerate(c.lines):
        if c.claim_type is ClaimType.INSTITUTIONAL and not line.procedure_code:
            continue  # a revenue-code-only line (room and board, pharmacy) is complete
        if not codes.is_procedure_code(line.procedure_code):
            yield Finding(
                "CC07-PROCEDURE",
                f"lines[{i}].procedure_code",
                f"{line.procedure_code!r} is not a CPT/HCPCS code.",
            )


def _modifiers(c: ClaimData, today: date) -> Iterator[Finding]:
    for i, line in enumerate(c.lines):
        if len(line.modifiers) > 4:
            yield Finding("CC08-MODIFIER", f"lines[{i}].modifiers", "At most 4 modifiers.")
        if len(set(line.modifiers)) != len(line.modifiers):
            yield Finding("CC08-MODIFIER", f"lines[{i}].modifiers", "A modifier is repeated.")
        for modifier in line.modifiers:
            if not codes.is_modifier(modifier):
                yield Finding(
                    "CC08-MODIFIER",
                    f"lines[{i}].modifiers",
                    f"{modifier!r} is not a 2-character modifier.",
                )


def _units(c: ClaimData, today: date) -> Iterator[Finding]:
    for i, line in enumerate(c.lines):
        if line.units < 1:
            yield Finding("CC09-UNITS", f"lines[{i}].units", "Units must be at least 1.")


def _place_of_service(c: ClaimData, today: date) -> Iterator[Finding]:
    if c.claim_type is ClaimType.PROFESSIONAL:
        for i, line in enumerate(c.lines):
            if line.place_of_service not in codes.PLACES_OF_SERVICE:
                yield Finding(
                    "CC10-PLACE",
                    f"lines[{i}].place_of_service",
                    f"{line.place_of_service!r} is not a CMS place-of-service code.",
                )
        return
    if not codes.is_bill_type(c.bill_type):
        yield Finding("CC10-PLACE", "bill_type", "Institutional claims need a type of bill.")
    for i, line in enumerate(c.lines):
        if not codes.is_revenue_code(line.revenue_code):
            yield Finding(
                "CC10-PLACE",
                f"lines[{i}].revenue_code",
                "Institutional lines need a 4-digit revenue code.",
            )


def _dates(c: ClaimData, today: date) -> Iterator[Finding]:
    birth = c.patient.birth_date
    if birth is not None and birth > today:
        yield Finding("CC11-DATES", "patient.birth_date", "Birth date is in the future.")
    for i, line in enumerate(c.lines):
        if line.service_date > today:
            yield Finding("CC11-DATES", f"lines[{i}].service_date", "In the future.")
        if birth is not None and line.service_date < birth:
            yield Finding("CC11-DATES", f"lines[{i}].service_date", "Before the birth date.")


def _amounts(c: ClaimData, today: date) -> Iterator[Finding]:
    for i, line in enumerate(c.lines):
        if line.billed_cents <= 0:
            yield Finding("CC12-AMOUNTS", f"lines[{i}].billed_cents", "Billed must be positive.")
    if c.total_billed_cents and c.total_billed_cents != c.lines_billed_cents:
        yield Finding(
            "CC12-AMOUNTS",
            "total_billed_cents",
            f"Claim total {c.total_billed_cents} ≠ sum of lines {c.lines_billed_cents}.",
        )


def _nsa_facts(c: ClaimData, today: date) -> Iterator[Finding]:
    if c.facility.network_status is NetworkStatus.UNSPECIFIED:
        yield Finding(
            "CC13-NSA-FACTS",
            "facility.network_status",
            "Facility network status decides NSA protection: state it.",
        )
    if c.plan.funding is PlanFunding.UNSPECIFIED:
        yield Finding(
            "CC13-NSA-FACTS", "plan.funding", "Plan funding decides the dispute route: state it."
        )
    if not codes.is_state(c.plan.situs_state):
        yield Finding(
            "CC13-NSA-FACTS",
            "plan.situs_state",
            "Plan situs state decides which state law applies: state it.",
        )


def _emergency(c: ClaimData, today: date) -> Iterator[Finding]:
    ed_lines = looks_like_emergency(c)
    if ed_lines and not c.emergency:
        yield Finding(
            "CC14-EMERGENCY",
            "emergency",
            "Emergency-department services billed but the emergency flag is off.",
        )
    if c.emergency and not ed_lines:
        yield Finding(
            "CC14-EMERGENCY",
            "emergency",
            "Emergency flag set without an ED place of service, revenue code or E/M code: confirm.",
            blocking=False,
        )


def _billing_address(c: ClaimData, today: date) -> Iterator[Finding]:
    a = c.provider.address
    if not (a.line1.strip() and a.city.strip() and codes.is_state(a.state)):
        yield Finding(
            "CC16-ADDRESS",
            "provider.address",
            "Billing provider street, city and state are required (N3/N4).",
        )
    if not (codes.is_postal_code(a.postal_code) and len(a.postal_code) == 9):
        yield Finding(
            "CC16-ADDRESS",
            "provider.address.postal_code",
            "The billing provider's ZIP+4, 9 digits (837 loop 2010AA N403).",
        )


def _institutional_stay(c: ClaimData, today: date) -> Iterator[Finding]:
    if c.claim_type is not ClaimType.INSTITUTIONAL:
        return
    if c.admission_type_code not in codes.ADMISSION_TYPES:
        yield Finding("CC17-STAY", "admission_type_code", "Institutional claims need CL101.")
    if not codes.is_patient_status(c.patient_status_code):
        yield Finding("CC17-STAY", "patient_status_code", "Institutional claims need CL103.")


def filing_limit(payer_id: str, funding: PlanFunding) -> tuple[int, str]:
    """Days from the date of service the payer accepts a first filing in, and the source (a
    payer row first, else the plan type's row; each says whether it is a rule or a default)."""
    payer = TIMELY_FILING["payers"].get(payer_id, {})
    if funding.value in payer.get("plan_types", {}):
        return int(payer["plan_types"][funding.value]), \
            f"payer {payer_id}, {payer['kind']}: {payer['source']}"
    rows = TIMELY_FILING["plan_types"]
    row = rows.get(funding.value, rows["unspecified"])
    return int(row["days"]), f"{row['kind']}: {row['source']}"


def _timely_filing(c: ClaimData, today: date) -> Iterator[Finding]:
    if not c.lines or c.plan.funding is PlanFunding.UNINSURED:
        return  # self-pay: no payer's filing limit
    days, source = filing_limit(c.payer.payer_id, c.plan.funding)
    last_day = c.first_service_date + timedelta(days=days)
    where = f"{days} days from the date of service for {c.plan.funding.value} plans ({source})"
    if today > last_day:
        yield Finding("CC18-TIMELY-FILING", "lines", f"The filing limit passed on "
                      f"{last_day.isoformat()}: {where}.", rule_version=TIMELY_FILING_VERSION)
    elif today >= last_day - timedelta(days=int(TIMELY_FILING["warn_days_before"])):
        yield Finding("CC18-TIMELY-FILING", "lines", f"File by {last_day.isoformat()}: {where}.",
                      blocking=False, rule_version=TIMELY_FILING_VERSION)


def _required_modifiers(c: ClaimData, today: date) -> Iterator[Finding]:
    if c.claim_type is not ClaimType.PROFESSIONAL:
        return  # the table is the practitioner one
    by_date: dict[date, list[tuple[int, str, frozenset[str]]]] = {}
    for i, line in enumerate(c.lines):
        by_date.setdefault(line.service_date, []).append(
            (i, line.procedure_code, frozenset(line.modifiers)))
    for lines in by_date.values():
        codes_of_day = {code for _, code, _ in lines}
        minor = sorted(codes_of_day & _MINOR.keys())
        for i, code, modifiers in lines:
            if code in _EM and minor and "25" not in modifiers:
                yield Finding(
                    "CC19-MODIFIER-25", f"lines[{i}].modifiers",
                    f"E/M {code} on the day of minor procedure {minor[0]} (global "
                    f"{_MINOR[minor[0]]:03d} days) needs modifier 25 "
                    f"({MODIFIERS['sources']['modifier_25']})",
                    rule_version=MODIFIERS_VERSION)
            for column1, column2 in _PTP:
                if code == column2 and column1 in codes_of_day and not modifiers & _DISTINCT:
                    yield Finding(
                        "CC20-PTP-MODIFIER", f"lines[{i}].modifiers",
                        f"{column2} with {column1} on the same day is an NCCI PTP pair "
                        f"(modifier indicator 1): add 59 or XE/XS/XP/XU to {column2} if the "
                        f"service was distinct ({MODIFIERS['sources']['ptp']})",
                        rule_version=MODIFIERS_VERSION)


def _control_number(c: ClaimData, today: date) -> Iterator[Finding]:
    if not c.patient_control_number.strip() or len(c.patient_control_number) > 38:
        yield Finding("CC15-PCN", "patient_control_number", "1-38 characters (CLM01).")


RULES: tuple[Rule, ...] = (
    _billing_npi,
    _tin,
    _patient,
    _payer,
    _diagnoses,
    _pointers,
    _procedures,
    _modifiers,
    _units,
    _place_of_service,
    _dates,
    _amounts,
    _nsa_facts,
    _emergency,
    _control_number,
    _billing_address,
    _institutional_stay,
    _timely_filing,
    _required_modifiers,
)


def check(claim: ClaimData, today: date) -> CleanClaimReport:
    findings = tuple(finding for rule in RULES for finding in rule(claim, today))
    return CleanClaimReport(RULE_SET_VERSION, findings)
