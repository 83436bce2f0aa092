"""Every segment of a file, numbered from its start, across several interchanges.

Clearinghouses concatenate interchanges (each ISA declares its own delimiters), add a byte-order
mark, CRLF or no line breaks at all, and indent segments. `file_segments` reads each ISA's
delimiters afresh, so a file of several interchanges with different delimiters reads as one list;
`position` is the segment's number in the whole file, which is what findings cite.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from services.x12.envelope import Delimiters, NotX12Error, read_delimiters
from services.x12.findings import Finding

_WHITESPACE = "\ufeff \t\r\n"


@dataclass(frozen=True)
class Segment:
    position: int  # 1-based number of the segment in the file
    fields: list[str]  # [tag, element1, element2, ...]
    delimiters: Delimiters
    tag: str  # fields[0], stripped and upper-cased

    def element(self, index: int) -> str:
        return self.fields[index].strip() if index < len(self.fields) else ""

    def ref(self, index: int) -> str:
        """The element reference a clerk reads in a guide: "CLM05", "SV104"."""
        return f"{self.tag}{index:02d}"


def file_segments(text: str) -> Iterator[Segment]:
    """Each segment of each interchange of the file. Raises NotX12Error when the file (or the
    text after an IEA) does not start with an ISA header; the message says what it starts with."""
    for position, fields, delimiters, tag in raw_segments(text):
        yield Segment(position, fields, delimiters, tag)


def raw_segments(text: str) -> Iterator[tuple[int, list[str], Delimiters, str]]:
    """`file_segments` as plain tuples (position, fields, delimiters, tag): what a reader of a
    large file walks (no object per segment beyond its list of fields)."""
    body = text.lstrip(_WHITESPACE)
    position = 0
    if not body:
        raise NotX12Error("the file is empty")
    while body:
        if not body.startswith("ISA"):
            if position == 0 and body.startswith("ST"):
                raise NotX12Error(
                    "it starts with an ST transaction set but has no ISA/GS envelope "
                    "(an interchange must start with an ISA segment)"
                )
            if position == 0:
                raise NotX12Error("it must start with an ISA segment")
            raise NotX12Error(
                f"after segment {position} (IEA) the text {body[:20]!r} does not start a new ISA"
            )
        delimiters = read_delimiters(body)
        terminator, separator = delimiters.segment, delimiters.element
        step = len(terminator)
        offset = 0
        closed = False
        size = len(body)
        find = body.find
        while offset < size and not closed:
            end = find(terminator, offset)
            stop = end if end >= 0 else size
            raw = body[offset:stop].strip(_WHITESPACE)
            offset = stop + step
            if raw:
                position += 1
                fields = raw.split(separator)
                tag = fields[0].strip().upper()
                closed = tag == "IEA"
                yield position, fields, delimiters, tag
        body = body[offset:].lstrip(_WHITESPACE) if offset < size else ""


def _count_matches(segment: Segment, index: int, actual: int) -> bool:
    text = segment.element(index)
    return text.isdigit() and int(text) == actual


def _note(segment: Segment, index: int, rule: str, value: str) -> Finding:
    return Finding(
        "file", segment.tag, segment.position, segment.ref(index), rule, value, blocking=False
    )


def envelope_findings(segments: list[Segment]) -> list[Finding]:
    """Notes on the envelope (counts and control numbers that do not match). They reject
    nothing: the readers re-envelope each transaction, so a wrong IEA01 loses no claim."""
    notes: list[Finding] = []
    open_isa: Segment | None = None
    open_gs: Segment | None = None
    open_st: Segment | None = None
    groups = transactions = count = 0
    for segment in segments:
        tag = segment.tag
        if open_st is not None:
            count += 1
        if tag == "ISA":
            open_isa, groups = segment, 0
        elif tag == "GS":
            open_gs, transactions = segment, 0
            groups += 1
        elif tag == "ST":
            open_st, count = segment, 1
            transactions += 1
        elif tag == "SE" and open_st is not None:
            if not _count_matches(segment, 1, count):
                notes.append(
                    _note(
                        segment,
                        1,
                        f"SE01 must count the {count} segments of transaction {open_st.element(2)}",
                        segment.element(1),
                    )
                )
            if segment.element(2) != open_st.element(2):
                notes.append(
                    _note(
                        segment,
                        2,
                        f"SE02 must repeat ST02 {open_st.element(2)!r}",
                        segment.element(2),
                    )
                )
            open_st = None
        elif tag == "GE" and open_gs is not None:
            if not _count_matches(segment, 1, transactions):
                notes.append(
                    _note(
                        segment,
                        1,
                        f"GE01 must count the {transactions} transaction sets of the group",
                        segment.element(1),
                    )
                )
            if segment.element(2) != open_gs.element(6):
                notes.append(
                    _note(
                        segment,
                        2,
                        f"GE02 must repeat GS06 {open_gs.element(6)!r}",
                        segment.element(2),
                    )
                )
            open_gs = None
        elif tag == "IEA" and open_isa is not None:
            if not _count_matches(segment, 1, groups):
                notes.append(
                    _note(
                        segment,
                        1,
                        f"IEA01 must count the {groups} functional groups of the interchange",
                        segment.element(1),
                    )
                )
            if segment.element(2) != open_isa.element(13):
                notes.append(
                    _note(
                        segment,
                        2,
                        f"IEA02 must repeat ISA13 {open_isa.element(13)!r}",
                        segment.element(2),
                    )
                )
            open_isa = None
    for still_open, closer in ((open_st, "SE"), (open_gs, "GE"), (open_isa, "IEA")):
        if still_open is not None:
            notes.append(
                Finding(
                    "file",
                    still_open.tag,
                    still_open.position,
                    "",
                    f"the {still_open.tag} has no closing {closer}",
                    blocking=False,
                )
            )
    return notes
