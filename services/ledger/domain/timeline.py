"""Readable renderings for auditors: money, one line per event, a verdict (pure)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from services.common.contracts import PROTOBUF, ContractViolation, payload_as_dict
from services.common.money import format_usd
from services.ledger.domain.entry import AuditEntry, EventFacts

DETAIL_KEYS = (
    "party",
    "status",
    "route",
    "outcome",
    "prevailing_party",
    "payment_id",
    "dispute_number",
    "deadline_code",
    "reason",
)
MAX_DETAILS = 6
PENDING_MARK = "PENDING"
"""Mark of an entry appended after the latest signed checkpoint (not proven yet)."""




def _details(payload: dict[str, Any], prefix: str = "") -> Iterable[str]:
    for key in sorted(payload):
        value = payload[key]
        if isinstance(value, dict) and not prefix:
            yield from _details(value, f"{key}.")
        elif key.endswith("_cents") and isinstance(value, int) and not isinstance(value, bool):
            yield f"{prefix}{key[: -len('_cents')]}={format_usd(value)}"
        elif (key in DETAIL_KEYS or key.endswith("_on")) and isinstance(value, str) and value:
            yield f"{prefix}{key}={value}"


def payload_of(facts: EventFacts) -> dict[str, Any]:
    """The stored payload as a dict: canonical JSON, or a contract message's dict view
    (decoded through the same contracts the consumers use; the stored bytes are untouched)."""
    return payload_as_dict(facts.service, facts.event_type, facts.schema_version,
                           facts.payload_content_type, facts.payload)


def describe_payload(payload: bytes) -> str:
    """A canonical-JSON payload's money and key facts."""
    try:
        document = json.loads(payload) if payload else {}
    except ValueError:
        return f"<{len(payload)} bytes, not JSON>"
    return describe_document(document)


def describe_facts(facts: EventFacts) -> str:
    """Any stored payload's money and key facts (JSON or a contract message)."""
    if not facts.payload_content_type.startswith(PROTOBUF):
        return describe_payload(facts.payload)
    try:
        document = payload_of(facts)
    except ContractViolation:
        return f"<{len(facts.payload)} bytes, {facts.payload_content_type}, unreadable>"
    return describe_document(document)


def describe_document(document: Any) -> str:
    if not isinstance(document, dict):
        return ""
    details = list(_details(document))
    shown = details[:MAX_DETAILS]
    if len(details) > MAX_DETAILS:
        shown.append(f"(+{len(details) - MAX_DETAILS} more)")
    return " ".join(shown)


def timeline_line(entry: AuditEntry) -> str:
    f = entry.facts
    when = f.occurred_at.strftime("%Y-%m-%d %H:%M:%SZ")
    details = describe_facts(f)
    return (
        f"{when}  #{entry.chain_seq:<4} {f.service:<11} {f.event_type:<26} "
        f"by {f.actor or '-'}  {details}  [hash {entry.entry_hash.hex()[:12]}]"
    ).rstrip()


def timeline(entries: Iterable[AuditEntry], marks: Mapping[int, str] | None = None) -> list[str]:
    """One line per entry; an entry with a mark (by log index) is flagged where it stands, so
    an amount printed on a broken line is never read as trustworthy."""
    marks = marks or {}
    lines = []
    for entry in entries:
        line = timeline_line(entry)
        mark = marks.get(entry.log_index)
        if mark is None:
            lines.append(f"   {line}")
        elif mark == PENDING_MARK:
            lines.append(f" ? {line}  <-- PENDING: not in a signed checkpoint yet")
        else:
            lines.append(f"!! {line}  <-- BROKEN ({mark}): do not rely on this entry")
    return lines


def entry_marks(
    entries: Iterable[AuditEntry],
    breaks: Iterable[tuple[int, str]],
    signed_size: int | None,
) -> dict[int, str]:
    """Marks by log index: the break kinds found (from a verification) and, for the rest, the
    entries at or beyond the signed tree size (pending)."""
    marks: dict[int, list[str]] = {}
    for log_index, kind in breaks:
        marks.setdefault(log_index, []).append(kind)
    found = {index: ", ".join(dict.fromkeys(kinds)) for index, kinds in marks.items()}
    for entry in entries:
        if entry.log_index not in found and (
            signed_size is None or entry.log_index >= signed_size
        ):
            found[entry.log_index] = PENDING_MARK
    return found
