"""Reading 837 element values (amounts, units, dates, HI code lists) into neutral values, with
a plain finding for each one that cannot be read."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from services.common.money import NotAnAmount, cents_from_decimal
from services.x12.claim_837_loops import OccurrenceCode, ValueCode
from services.x12.envelope import components
from services.x12.findings import Finding
from services.x12.segments import Segment

DIAGNOSIS_QUALIFIERS = frozenset({"ABK", "ABF", "BK", "BF"})
CONDITION_QUALIFIERS = frozenset({"BG"})
OCCURRENCE_QUALIFIERS = frozenset({"BH"})
OCCURRENCE_SPAN_QUALIFIERS = frozenset({"BI"})
VALUE_QUALIFIERS = frozenset({"BE"})
_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


@dataclass
class Problems:
    """The findings gathered for one claim (or transaction) at `location`."""

    location: str
    findings: list[Finding] = field(default_factory=list)

    def add(self, s: Segment, index: int, rule: str, value: str = "", field: str = "") -> None:
        element = s.ref(index) if index else ""
        self.findings.append(Finding(self.location, s.tag, s.position, element, rule, value, field))


def cents(s: Segment, index: int, field: str, problems: Problems, *, required: bool = False) -> int:
    text = s.element(index)
    if not text:
        if required:
            problems.add(s, index, f"{s.ref(index)} (an amount) is required", field=field)
        return 0
    try:
        return cents_from_decimal(text)
    except (NotAnAmount, ValueError):
        problems.add(
            s,
            index,
            f"{s.ref(index)} must be an amount in dollars with at most two decimals",
            text,
            field,
        )
        return 0


def units(s: Segment, index: int, field: str, problems: Problems) -> int:
    """Units are whole numbers in this ledger; fractional units (e.g. 0.5 hour) are refused."""
    text = s.element(index) or "1"
    try:
        number = Decimal(text)
    except InvalidOperation:
        problems.add(s, index, f"{s.ref(index)} (units) must be a number", text, field)
        return 1
    if number != number.to_integral_value():
        problems.add(
            s,
            index,
            f"{s.ref(index)}: fractional units are not supported; the ledger counts whole units",
            text,
            field,
        )
    return int(number)


def parse_d8(text: str) -> date | None:
    """CCYYMMDD, or the start of an RD8 range CCYYMMDD-CCYYMMDD; None when it is no date."""
    match = _DATE.match(text.strip().split("-")[0])
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def d8(s: Segment, index: int, problems: Problems) -> date | None:
    text = s.element(index)
    if not text:
        return None
    found = parse_d8(text)
    if found is None:
        problems.add(
            s,
            index,
            f"{s.ref(index)} must be a real date written CCYYMMDD (or a range CCYYMMDD-CCYYMMDD)",
            text,
        )
    return found


def diagnosis_elements(his: list[Segment]) -> list[tuple[Segment, int]]:
    """The HI segment and element of each diagnosis code, in the order codes_from_hi reads them."""
    out = []
    for hi in his:
        for n in range(1, len(hi.fields)):
            parts = components(hi.element(n), hi.delimiters, (">", ":"))
            if len(parts) >= 2 and parts[1].strip() and parts[0].strip() in DIAGNOSIS_QUALIFIERS:
                out.append((hi, n))
    return out


def codes_from_hi(
    his: list[Segment], problems: Problems
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[OccurrenceCode, ...], tuple[ValueCode, ...]]:
    """Diagnoses (without the dot), condition, occurrence (and span) and value codes."""
    diagnoses: list[str] = []
    conditions: list[str] = []
    occurrences: list[OccurrenceCode] = []
    values: list[ValueCode] = []
    for hi in his:
        split_reported = False
        for n in range(1, len(hi.fields)):
            if not hi.element(n):
                continue
            parts = [p.strip() for p in components(hi.element(n), hi.delimiters, (">", ":"))]
            if len(parts) < 2 or not parts[1]:
                if not split_reported:
                    rest = hi.delimiters.element.join(hi.fields[n:])
                    problems.add(
                        hi,
                        n,
                        f"{hi.ref(n)} must be one composite, qualifier and code joined by the "
                        "component separator (e.g. ABK:I10); here they stand in separate "
                        "elements, so the diagnoses cannot be read",
                        rest,
                        field="diagnosis_codes",
                    )
                    split_reported = True
                continue
            qualifier, code = parts[0], parts[1]
            if qualifier in DIAGNOSIS_QUALIFIERS:
                diagnoses.append(code.replace(".", "").upper())
            elif qualifier in CONDITION_QUALIFIERS:
                conditions.append(code)
            elif qualifier in OCCURRENCE_QUALIFIERS | OCCURRENCE_SPAN_QUALIFIERS:
                when = parts[3] if len(parts) > 3 else ""
                start = parse_d8(when)
                if start is None:
                    problems.add(
                        hi,
                        n,
                        f"{hi.ref(n)}: an occurrence code needs its date (CCYYMMDD)",
                        hi.element(n),
                    )
                end = parse_d8(when.split("-")[1]) if "-" in when else None
                occurrences.append(OccurrenceCode(code, start, end))
            elif qualifier in VALUE_QUALIFIERS:
                amount = parts[4] if len(parts) > 4 else ""
                try:
                    values.append(ValueCode(code, cents_from_decimal(amount)))
                except (NotAnAmount, ValueError):
                    problems.add(
                        hi,
                        n,
                        f"{hi.ref(n)}: a value code needs an amount in dollars",
                        hi.element(n),
                    )
    return tuple(diagnoses), tuple(conditions), tuple(occurrences), tuple(values)
