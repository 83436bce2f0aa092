"""A thin X12 segment tokenizer: delimiters from the ISA header, segments as lists of elements.

DOMAIN.md §2.5 recommends this for the hot path; the maintained libraries (pyx12, x12sdk) are
used to validate what we read and generate (see tests and bench/settlement_bench.py).
"""

from __future__ import annotations

from dataclasses import dataclass

ISA_LENGTH = 106
ISA_ELEMENT_COUNT = 17  # "ISA" plus ISA01..ISA16


class NotX12Error(ValueError):
    """The input is not an X12 interchange we can tokenize."""


@dataclass(frozen=True)
class Delimiters:
    element: str
    component: str
    repetition: str
    segment: str


def _strip_preamble(text: str) -> str:
    return text.lstrip("\ufeff \t\r\n")


def read_delimiters(text: str) -> Delimiters:
    """Delimiters from the ISA segment; tolerates an ISA whose padded fields were collapsed."""
    body = _strip_preamble(text)
    if not body.startswith("ISA") or len(body) < 4:
        raise NotX12Error("input does not start with an ISA interchange header")
    element = body[3]
    if element.isalnum() or element.isspace():
        raise NotX12Error("ISA element separator is missing")
    if len(body) >= ISA_LENGTH and body[:ISA_LENGTH].count(element) == ISA_ELEMENT_COUNT - 1:
        return Delimiters(element, body[104], body[82], body[105])
    # Non-fixed-width ISA: walk 16 separators, the component separator follows the last one.
    position = 0
    for _ in range(ISA_ELEMENT_COUNT - 1):
        position = body.find(element, position + 1)
        if position < 0:
            raise NotX12Error("ISA segment is truncated")
    if position + 2 >= len(body):
        raise NotX12Error("ISA segment is truncated")
    fields = body[:position].split(element)
    repetition = fields[11][:1] if len(fields) > 11 and fields[11] else "^"
    return Delimiters(element, body[position + 1], repetition, body[position + 2])


def tokenize(text: str) -> tuple[Delimiters, list[list[str]]]:
    """Split an interchange into segments; each segment is [tag, element1, element2, ...]."""
    delimiters = read_delimiters(text)
    body = _strip_preamble(text)
    segments: list[list[str]] = []
    for raw in body.split(delimiters.segment):
        raw = raw.strip()
        if raw:
            segments.append(raw.split(delimiters.element))
    return delimiters, segments
