"""Reading the ISA envelope of an X12 interchange: delimiters, and one interchange per transaction.

Real files arrive with a byte-order mark, CRLF line breaks, indented segments and envelope
control counts that do not match; each transaction is re-enveloped on its own so one bad
transaction (or a wrong IEA01) does not make the whole file unreadable.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.errors import InvalidArgument


@dataclass(frozen=True)
class Delimiters:
    element: str
    component: str
    segment: str


@dataclass(frozen=True)
class Transaction:
    """One ST..SE transaction set, wrapped in its own ISA/GS envelope."""

    control_number: str
    implementation_guide: str
    text: str
    segments: tuple[list[str], ...]


def read_delimiters(text: str) -> Delimiters:
    if not text.startswith("ISA") or len(text) < 106:
        raise InvalidArgument("not an X12 interchange (it must start with an ISA segment)", "x12")
    element = text[3]
    isa = text[:106].split(element)
    if len(isa) < 17:
        raise InvalidArgument("the ISA segment does not have 16 elements", "x12")
    component = isa[16][:1]
    segment = isa[16][1:2] or "~"
    return Delimiters(element, component, segment)


def normalize(text: str) -> str:
    """Strip a BOM and the whitespace around segments (line breaks, indentation)."""
    text = text.lstrip("\ufeff").lstrip()
    if not text.startswith("ISA"):
        raise InvalidArgument("not an X12 interchange (it must start with an ISA segment)", "x12")
    # The ISA is fixed width up to ISA16; find the terminator after it in the raw text.
    element = text[3]
    parts = text.split(element, 16)
    if len(parts) < 17:
        raise InvalidArgument("the ISA segment does not have 16 elements", "x12")
    terminator = parts[16][1:2]
    if not terminator:
        raise InvalidArgument("no segment terminator after ISA16", "x12")
    segments = [s.strip() for s in text.split(terminator)]
    return terminator.join(s for s in segments if s) + terminator


def split_transactions(text: str) -> tuple[Delimiters, list[Transaction]]:
    text = normalize(text)
    delimiters = read_delimiters(text)
    seg_sep, el = delimiters.segment, delimiters.element
    isa = gs = None
    current: list[list[str]] = []
    out: list[Transaction] = []
    for raw in text.split(seg_sep):
        if not raw:
            continue
        fields = raw.split(el)
        tag = fields[0]
        if tag == "ISA":
            isa = raw
        elif tag == "GS":
            gs = fields
        elif tag == "ST":
            current = [fields]
        elif tag == "SE" and current:
            current.append(fields)
            out.append(_wrap(delimiters, isa or "", gs, current))
            current = []
        elif current:
            current.append(fields)
    if isa is None or gs is None:
        raise InvalidArgument("no ISA/GS envelope", "x12")
    if not out:
        raise InvalidArgument("no ST..SE transaction set in the file", "x12")
    return delimiters, out


def _wrap(d: Delimiters, isa: str, gs: list[str] | None, body: list[list[str]]) -> Transaction:
    gs = list(gs or ["GS"])
    st = body[0]
    guide = st[3] if len(st) > 3 and st[3] else (gs[8] if len(gs) > 8 else "")
    control = gs[6] if len(gs) > 6 else "1"
    isa_control = isa.split(d.element)[13] if isa.count(d.element) >= 13 else "000000001"
    segments = [
        d.element.join(gs),
        *(d.element.join(s) for s in body),
        d.element.join(["GE", "1", control]),
        d.element.join(["IEA", "1", isa_control]),
    ]
    text = d.segment.join([isa, *segments]) + d.segment
    return Transaction(st[2] if len(st) > 2 else "", guide, text, tuple(body))
