"""X12 837P / 837I → neutral `Claim837` values, through the x12sdk models (005010X222A2 / X223A3).

Each claim comes back on its own: either its values or the reason it could not be read
(a transaction the library rejects reports one error per claim it contains).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from x12sdk.io import X12ModelReader

from services.common.errors import FieldViolation, InvalidArgument
from services.common.money import NotAnAmount, cents_from_decimal
from services.x12.claim_837 import (
    Address,
    BillingProvider,
    Claim837,
    ClaimKind,
    Patient,
    Payer,
    ServiceLine,
)
from services.x12.envelope import (
    Delimiters,
    NotX12Error,
    Transaction,
    X12Error,
    components,
    split_transactions,
)

PROFESSIONAL_GUIDES = ("005010X222",)
INSTITUTIONAL_GUIDES = ("005010X223",)
DIAGNOSIS_QUALIFIERS = frozenset({"ABK", "ABF", "BK", "BF"})


@dataclass(frozen=True)
class ParsedClaim:
    """One CLM: `claim` when it was read, else `error` (field violations name Claim837 fields)."""

    location: str  # "ST <control> / CLM <n> / PCN <patient control number>"
    claim: Claim837 | None = None
    error: InvalidArgument | None = None


def read_837(text: str) -> list[ParsedClaim]:
    """Every claim of an 837 interchange, each either read or explained. Input that is not an
    X12 interchange at all raises InvalidArgument (field "x12")."""
    try:
        delimiters, transactions = split_transactions(text)
    except NotX12Error as exc:
        raise InvalidArgument(f"not an X12 interchange: {exc}", "x12") from exc
    except X12Error as exc:
        raise InvalidArgument(str(exc), "x12") from exc
    out: list[ParsedClaim] = []
    for transaction in transactions:
        out.extend(_read_transaction(transaction, delimiters))
    return out


def _read_transaction(tx: Transaction, d: Delimiters) -> list[ParsedClaim]:
    where = f"ST {tx.control_number}"
    if not tx.implementation_guide.startswith(PROFESSIONAL_GUIDES + INSTITUTIONAL_GUIDES):
        return [_unreadable(f"{where}", f"not an 837P/837I ({tx.implementation_guide or '?'})")]
    try:
        with X12ModelReader(tx.text) as reader:
            models: list[Any] = list(reader.models())
    except Exception as exc:  # the library raises pydantic and parser errors alike
        reason = _first_line(exc)
        pcns = [seg[1] if len(seg) > 1 else "?" for seg in tx.segments if seg[0] == "CLM"]
        if not pcns:
            return [_unreadable(where, f"unreadable transaction: {reason}")]
        return [
            _unreadable(f"{where} / CLM {i} / PCN {pcn}", f"unreadable transaction: {reason}")
            for i, pcn in enumerate(pcns, start=1)
        ]
    kind = (
        ClaimKind.PROFESSIONAL
        if tx.implementation_guide.startswith(PROFESSIONAL_GUIDES)
        else ClaimKind.INSTITUTIONAL
    )
    out = []
    for model in models:
        filing = _filing_indicators(model)
        for number, submitted in enumerate(model.claims(), start=1):
            pcn = submitted.patient_control_number or "?"
            location = f"{where} / CLM {number} / PCN {pcn}"
            try:
                indicator = filing.get(id(submitted.claim), "")
                out.append(ParsedClaim(location, claim=_claim(submitted, d, kind, indicator)))
            except InvalidArgument as exc:
                out.append(ParsedClaim(location, error=exc))
    return out


def _unreadable(location: str, reason: str) -> ParsedClaim:
    return ParsedClaim(location, error=InvalidArgument(reason, "x12"))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    summary = " ".join(text[:3]) if text else type(exc).__name__
    return summary[:300]


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _composite(value: Any, d: Delimiters) -> list[str]:
    """Split a composite element; some files use '>' although ISA16 says ':'."""
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return components(str(value or ""), d, (">", ":"))


def _date(value: Any) -> date | None:
    """D8 ('20260314', or already a date) or the start of an RD8 range ('20260314-20260316')."""
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    match = re.match(r"^(\d{4})-?(\d{2})-?(\d{2})", str(value))
    if not match:
        return None
    return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))


def _cents(value: Any, field: str, bad: list[FieldViolation]) -> int:
    try:
        return cents_from_decimal(str(value))
    except NotAnAmount:
        bad.append(FieldViolation(field, f"{value!r} is not an amount"))
        return 0


def _claim(submitted: Any, d: Delimiters, kind: ClaimKind, filing: str) -> Claim837:
    bad: list[FieldViolation] = []
    loop = submitted.claim
    clm = loop.clm_segment
    location = _composite(clm.health_care_service_location_information, d)
    facility_code = location[0] if location else ""
    frequency = location[2] if len(location) > 2 else "1"
    claim_dates = [
        _date(dtp.date_time_period)
        for dtp in _list(getattr(loop, "dtp_segment", None))
        if dtp.date_time_qualifier in ("431", "434", "435", "472")
    ]
    claim_date = next((x for x in claim_dates if x), None)
    diagnoses = _diagnoses(loop, d)
    lines = [
        _line(i, line_loop, d, kind, facility_code, claim_date, bad)
        for i, line_loop in enumerate(_list(loop.loop_2400))
    ]
    billing = submitted.billing_provider
    tin = next(
        (
            ref.reference_identification
            for ref in _list(getattr(billing, "ref_segment", None))
            if ref.reference_identification_qualifier in ("EI", "SY")
        ),
        "",
    )
    n3 = getattr(billing, "n3_segment", None)
    n4 = getattr(billing, "n4_segment", None)
    billing_state = str(getattr(n4, "state_province_code", "") or "")
    last, first = submitted.patient_name
    dmg = getattr(submitted.patient, "dmg_segment", None)
    birth = _date(getattr(dmg, "date_time_period", None))
    gender = getattr(dmg, "gender_code", None) or ""
    gender = getattr(gender, "value", gender)  # DMG03
    sbr = getattr(submitted, "subscriber", None)
    total = _cents(clm.total_claim_charge_amount, "total_billed_cents", bad)
    cl1 = getattr(loop, "cl1_segment", None)
    if bad:
        raise InvalidArgument(bad)
    return Claim837(
        kind=kind,
        patient_control_number=clm.patient_control_number or "",
        billing_provider=BillingProvider(
            name=submitted.billing_provider_name or "",
            npi=submitted.billing_provider_npi or "",
            tin=tin,
            address=Address(
                line1=str(getattr(n3, "address_information_1", "") or ""),
                city=str(getattr(n4, "city_name", "") or ""),
                state=billing_state,
                postal_code=str(getattr(n4, "postal_code", "") or ""),
            ),
        ),
        patient=Patient(
            first_name=first or "",
            last_name=last or "",
            birth_date=birth,
            member_id=(submitted.member_id or "") if sbr is not None else "",
            gender=str(gender or ""),
        ),
        payer=Payer(
            payer_id=submitted.payer.nm1_segment.identification_code or "",
            name=submitted.payer_name or "",
        ),
        lines=tuple(lines),
        total_billed_cents=total,
        facility_code=facility_code,
        frequency_code=frequency,
        original_reference=next(
            (
                str(ref.reference_identification or "")
                for ref in _list(getattr(loop, "ref_segment", None))
                if ref.reference_identification_qualifier == "F8"
            ),
            "",
        ),
        diagnosis_codes=diagnoses,
        filing_indicator=filing,
        admission_type_code=str(getattr(cl1, "admission_type_code", "") or ""),
        patient_status_code=str(getattr(cl1, "patient_status_code", "") or ""),
    )


def _filing_indicators(model: Any) -> dict[int, str]:
    """SBR09 of each claim loop (it sits on the subscriber's 2000B loop, above the claim)."""
    out: dict[int, str] = {}
    for loop_2000a in model.loop_2000a:
        for loop_2000b in loop_2000a.loop_2000b:
            code = str(getattr(loop_2000b.sbr_segment, "claim_filing_indicator_code", "") or "")
            claims = list(loop_2000b.loop_2300 or [])
            for loop_2000c in loop_2000b.loop_2000c or []:
                claims.extend(loop_2000c.loop_2300 or [])
            out.update({id(claim): code for claim in claims})
    return out


def _diagnoses(loop: Any, d: Delimiters) -> tuple[str, ...]:
    codes: list[str] = []
    for hi in _list(getattr(loop, "hi_segment", None)):
        for n in range(1, 13):
            value = getattr(hi, f"health_care_code_{n}", None)
            if not value:
                continue
            parts = _composite(value, d)
            if len(parts) >= 2 and parts[0] in DIAGNOSIS_QUALIFIERS:
                codes.append(parts[1].replace(".", "").upper())
    return tuple(codes)


def _line(
    index: int,
    loop: Any,
    d: Delimiters,
    kind: ClaimKind,
    facility_code: str,
    claim_date: date | None,
    bad: list[FieldViolation],
) -> ServiceLine:
    at = f"lines[{index}]."
    dates = [
        _date(dtp.date_time_period)
        for dtp in _list(getattr(loop, "dtp_segment", None))
        if dtp.date_time_qualifier == "472"
    ]
    service_date = next((x for x in dates if x), None) or claim_date
    if service_date is None:
        bad.append(FieldViolation(at + "service_date", "no DTP*472 or claim service date"))
        service_date = date.min
    control = next(
        (
            ref.reference_identification
            for ref in _list(getattr(loop, "ref_segment", None))
            if ref.reference_identification_qualifier == "6R"
        ),
        "",
    )
    if kind is ClaimKind.PROFESSIONAL:
        sv1 = loop.sv1_segment
        procedure = _composite(sv1.product_service_id_qualifier, d)
        pointers = _composite(sv1.composite_diagnosis_code_pointer, d)
        return ServiceLine(
            procedure_code=procedure[1] if len(procedure) > 1 else "",
            modifiers=tuple(m for m in procedure[2:6] if m),
            units=_units(sv1.service_unit_count, at, bad),
            billed_cents=_cents(sv1.line_item_charge_amount, at + "billed_cents", bad),
            service_date=service_date,
            place_of_service=str(getattr(sv1, "place_of_service_code", "") or facility_code),
            diagnosis_pointers=tuple(int(p) for p in pointers if p.isdigit()),
            line_control_number=control,
        )
    sv2 = loop.sv2_segment
    procedure = _composite(getattr(sv2, "composite_medical_procedure_identifier", None), d)
    return ServiceLine(
        procedure_code=procedure[1] if len(procedure) > 1 else "",
        modifiers=tuple(m for m in procedure[2:6] if m),
        units=_units(sv2.service_unit_count, at, bad),
        billed_cents=_cents(sv2.line_item_charge_amount, at + "billed_cents", bad),
        service_date=service_date,
        revenue_code=str(sv2.service_line_revenue_code or ""),
        line_control_number=control,
    )


def _units(value: Any, at: str, bad: list[FieldViolation]) -> int:
    """Units are whole numbers in this ledger; fractional units (e.g. 0.5 hour) are rejected."""
    try:
        text = str(value if value is not None else "1")
        number = float(text) if text else 1.0
    except ValueError:
        bad.append(FieldViolation(at + "units", f"{value!r} is not a number"))
        return 1
    if number != int(number):
        bad.append(FieldViolation(at + "units", f"fractional units {text} are not supported"))
    return int(number)
