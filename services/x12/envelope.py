"""The X12 interchange: delimiters from the ISA header, segments, transactions and the envelope.

One tokenizer for the 837 and the 835 (DOMAIN.md §2.5 recommends a thin one for the hot path).
Real files arrive with a byte-order mark, CRLF line breaks, indented segments, an ISA whose padded
fields were collapsed, and envelope control counts that do not match. Reading tolerates all of
that; `check_envelope` says what does not match, and `split_transactions` re-envelopes each
transaction on its own, so one bad transaction (or a wrong IEA01) does not make the whole file
unreadable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

ISA_LENGTH = 106
ISA_ELEMENT_COUNT = 17  # "ISA" plus ISA01..ISA16


class X12Error(ValueError):
    """The input cannot be read as an X12 interchange; the message says why."""


class NotX12Error(X12Error):
    """The input is not an X12 interchange at all (no usable ISA header)."""


@dataclass(frozen=True)
class Delimiters:
    element: str
    component: str
    repetition: str
    segment: str


@dataclass(frozen=True)
class Transaction:
    """One ST..SE transaction set, wrapped in its own ISA/GS/GE/IEA envelope (`text`)."""

    control_number: str  # ST02
    implementation_guide: str  # ST03, else GS08
    text: str
    segments: tuple[list[str], ...]  # ST..SE, each [tag, element1, ...]


def _strip_preamble(text: str) -> str:
    return text.lstrip("\ufeff \t\r\n")


def read_delimiters(text: str) -> Delimiters:
    """Delimiters from the ISA segment; tolerates an ISA whose padded fields were collapsed."""
    body = _strip_preamble(text)
    if not body.startswith("ISA") or len(body) < 4:
        raise NotX12Error("it must start with an ISA segment")
    element = body[3]
    if element.isalnum() or element.isspace():
        raise NotX12Error("the ISA element separator is missing")
    if len(body) >= ISA_LENGTH and body[:ISA_LENGTH].count(element) == ISA_ELEMENT_COUNT - 1:
        return Delimiters(element, body[104], body[82], body[105])
    # Non-fixed-width ISA: walk 16 separators, the component separator follows the last one.
    position = 0
    for _ in range(ISA_ELEMENT_COUNT - 1):
        position = body.find(element, position + 1)
        if position < 0:
            raise NotX12Error("the ISA segment does not have 16 elements")
    if position + 2 >= len(body):
        raise NotX12Error("no segment terminator after ISA16")
    fields = body[:position].split(element)
    repetition = fields[11][:1] if len(fields) > 11 and fields[11] else "^"
    return Delimiters(element, body[position + 1], repetition, body[position + 2])


def iter_segments(text: str, delimiters: Delimiters) -> Iterator[list[str]]:
    """Each non-empty segment as [tag, element1, element2, ...], whitespace around it removed."""
    for raw in _strip_preamble(text).split(delimiters.segment):
        raw = raw.strip()
        if raw:
            yield raw.split(delimiters.element)


def tokenize(text: str) -> tuple[Delimiters, list[list[str]]]:
    """Split an interchange into segments; each segment is [tag, element1, element2, ...]."""
    delimiters = read_delimiters(text)
    return delimiters, list(iter_segments(text, delimiters))


def components(value: str, delimiters: Delimiters, fallbacks: tuple[str, ...]) -> list[str]:
    """Split a composite element. Some senders use '>' inside composites although ISA16 declares
    ':'; the first of (ISA16, *fallbacks) found in the value is used."""
    for separator in (delimiters.component, *fallbacks):
        if separator and separator != delimiters.element and separator in value:
            return value.split(separator)
    return [value]


def split_transactions(text: str) -> tuple[Delimiters, list[Transaction]]:
    """Every ST..SE of the interchange, each re-enveloped alone (GE01/IEA01 = 1)."""
    delimiters, segments = tokenize(text)
    isa: list[str] | None = None
    gs: list[str] | None = None
    current: list[list[str]] = []
    out: list[Transaction] = []
    for fields in segments:
        tag = fields[0]
        if tag == "ISA":
            isa = fields
        elif tag == "GS":
            gs = fields
        elif tag == "ST":
            current = [fields]
        elif tag == "SE" and current:
            current.append(fields)
            out.append(_wrap(delimiters, isa or ["ISA"], gs, current))
            current = []
        elif current:
            current.append(fields)
    if isa is None or gs is None:
        raise X12Error("no ISA/GS envelope")
    if not out:
        raise X12Error("no ST..SE transaction set in the file")
    return delimiters, out


def _wrap(
    d: Delimiters, isa: list[str], gs: list[str] | None, body: list[list[str]]
) -> Transaction:
    gs = list(gs or ["GS"])
    st = body[0]
    guide = st[3] if len(st) > 3 and st[3] else (gs[8] if len(gs) > 8 else "")
    control = gs[6] if len(gs) > 6 else "1"
    isa_control = isa[13] if len(isa) > 13 else "000000001"
    segments = [
        d.element.join(isa),
        d.element.join(gs),
        *(d.element.join(s) for s in body),
        d.element.join(["GE", "1", control]),
        d.element.join(["IEA", "1", isa_control]),
    ]
    text = d.segment.join(segments) + d.segment
    return Transaction(st[2] if len(st) > 2 else "", guide, text, tuple(body))


def _element(segment: list[str], index: int) -> str:
    return segment[index].strip() if index < len(segment) else ""


def _count_says(segment: list[str], index: int, actual: int) -> bool:
    text = _element(segment, index)
    return text.isdigit() and int(text) == actual


@dataclass
class _Open:
    control: str
    count: int = 0


def check_envelope(text: str) -> list[str]:
    """What does not match in the envelope: control numbers (ISA13/IEA02, GS06/GE02, ST02/SE02),
    counts (IEA01 groups, GE01 transactions, SE01 segments) and unclosed or stray levels.
    Empty when the envelope is sound. Raises NotX12Error when there is no ISA header."""
    problems: list[str] = []
    interchange: _Open | None = None
    group: _Open | None = None
    transaction: _Open | None = None
    for position, segment in enumerate(iter_segments(text, read_delimiters(text)), start=1):
        tag = segment[0].upper()
        where = f"segment {position} ({tag})"
        if transaction is not None:
            transaction.count += 1
        if tag == "ISA":
            if interchange is not None:
                problems.append(f"{where}: ISA {interchange.control} has no IEA")
            interchange, group, transaction = _Open(_element(segment, 13)), None, None
        elif tag == "GS":
            if group is not None:
                problems.append(f"{where}: GS {group.control} has no GE")
            if interchange is None:
                problems.append(f"{where}: GS outside an interchange")
            else:
                interchange.count += 1
            group, transaction = _Open(_element(segment, 6)), None
        elif tag == "ST":
            if transaction is not None:
                problems.append(f"{where}: ST {transaction.control} has no SE")
            if group is None:
                problems.append(f"{where}: ST outside a functional group")
            else:
                group.count += 1
            transaction = _Open(_element(segment, 2), count=1)
        elif tag == "SE":
            if transaction is None:
                problems.append(f"{where}: SE without ST")
                continue
            name = f"ST {transaction.control}"
            if not _count_says(segment, 1, transaction.count):
                problems.append(
                    f"{name}: SE01 says {_element(segment, 1)!r} segments, "
                    f"the transaction has {transaction.count}"
                )
            if _element(segment, 2) != transaction.control:
                problems.append(f"{name}: SE02 {_element(segment, 2)!r} differs from ST02")
            transaction = None
        elif tag == "GE":
            if group is None:
                problems.append(f"{where}: GE without GS")
                continue
            name = f"GS {group.control}"
            if not _count_says(segment, 1, group.count):
                problems.append(
                    f"{name}: GE01 says {_element(segment, 1)!r} transactions, "
                    f"the group has {group.count}"
                )
            if _element(segment, 2) != group.control:
                problems.append(f"{name}: GE02 {_element(segment, 2)!r} differs from GS06")
            group = None
        elif tag == "IEA":
            if interchange is None:
                problems.append(f"{where}: IEA without ISA")
                continue
            name = f"ISA {interchange.control}"
            if not _count_says(segment, 1, interchange.count):
                problems.append(
                    f"{name}: IEA01 says {_element(segment, 1)!r} groups, "
                    f"the interchange has {interchange.count}"
                )
            if _element(segment, 2) != interchange.control:
                problems.append(f"{name}: IEA02 {_element(segment, 2)!r} differs from ISA13")
            interchange = None
    for still_open, level, closer in (
        (transaction, "ST", "SE"),
        (group, "GS", "GE"),
        (interchange, "ISA", "IEA"),
    ):
        if still_open is not None:
            problems.append(f"{level} {still_open.control} has no {closer}")
    return problems
