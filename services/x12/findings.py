"""A finding: what a billing clerk needs to fix one claim (or one transaction) of an X12 file.

Where (the claim's place in the file, the segment and its number counted from the start of the
file), the rule in plain words, and the value found. Built by the readers from what they see in
the file, never from a library's or Python's error text.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.errors import FieldViolation, InvalidArgument


@dataclass(frozen=True)
class Finding:
    location: str  # "ST 0001 / CLM 2 / PCN 26463774", or "file" / "ST 0001" above claim level
    segment: str  # segment id: "CLM", "SV1", "ISA"; "" when no segment is concerned
    position: int  # 1-based number of the segment in the file; 0 when none is concerned
    element: str  # element reference: "CLM05", "SV104"; "" for the whole segment
    rule: str  # the rule, in plain words
    value: str = ""  # what the file holds there
    field: str = ""  # the value's field in the neutral claim ("lines[1].units"), when one
    blocking: bool = True  # False: a note (e.g. a wrong envelope count) that rejects nothing

    def text(self) -> str:
        where = self.element or self.segment
        place = f"segment {self.position} ({where})" if self.position else (where or "file")
        found = f"; found {self.value!r}" if self.value else ""
        return f"{place}: {self.rule}{found}"

    def violation(self) -> FieldViolation:
        return FieldViolation(self.field or "x12", self.text())


@dataclass(frozen=True)
class Source:
    """Where the value of one neutral claim field was read: lets a service's rule about that
    field ("not a valid NPI") be reported at its segment and position."""

    field: str  # "billing_provider.npi", "diagnosis_codes[0]", "lines[1]"
    segment: str
    position: int
    element: str
    value: str


def rejection(findings: list[Finding] | tuple[Finding, ...]) -> InvalidArgument:
    """The blocking findings of one claim as the InvalidArgument the importers carry."""
    return InvalidArgument([f.violation() for f in findings if f.blocking])
