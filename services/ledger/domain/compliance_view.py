"""The compliance report of a claim's case as negotiation stated it (its ComplianceReportStated
event): read from the event into typed values for the auditor's as-of view (claim_state.py).

Negotiation computes the report (deadlines T0-T12 under the rule set in force, the act dates,
timely / late / pending, days late) after each act and the event carries it; the ledger only
reads it, never recomputes a deadline (it imports no negotiation code). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class ComplianceItem:
    """One deadline line of the report (dates ISO text, "" when absent)."""

    code: str
    title: str
    status: str
    counting: str
    due_on: str
    alternate_due_on: str
    opens_on: str
    act_on: str
    day_number: int
    days_late: int
    rule_set_version: str
    recorded_here: bool
    note: str


@dataclass(frozen=True, slots=True)
class ComplianceView:
    negotiation_id: str
    as_of: str  # the US Eastern day negotiation read the report on (the act's day)
    status: str
    rule_set_version: str
    calendar: str
    holidays: tuple[str, ...]
    lines: tuple[ComplianceItem, ...]
    batch_window_ends_on: str
    cooling_off_ends_on: str  # the latest cooling-off period's end ("" when none)
    source_event_type: str  # the act after which it was stated
    source_occurred_at: datetime


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _item(line: Mapping[str, Any]) -> ComplianceItem:
    text = {name: str(line.get(name, "")) for name in (
        "code", "title", "status", "counting", "due_on", "alternate_due_on", "opens_on",
        "act_on", "rule_set_version", "note")}
    return ComplianceItem(
        **text, day_number=_int(line.get("day_number", 0)),
        days_late=_int(line.get("days_late", 0)),
        recorded_here=bool(line.get("recorded_here", False)))


def compliance_view(p: Mapping[str, Any]) -> ComplianceView:
    """The view of a ComplianceReportStated payload (its contract's dict view)."""
    report = p["report"]
    window = report.get("batch_window") or {}
    cooling = [str(c.get("ends_on", "")) for c in report.get("cooling_off") or ()]
    return ComplianceView(
        negotiation_id=str(report.get("negotiation_id", "")),
        as_of=str(report.get("as_of", "")),
        status=str(report.get("status", "")),
        rule_set_version=str(report.get("rule_set_version", "")),
        calendar=str(report.get("calendar", "")),
        holidays=tuple(str(day) for day in report.get("holidays") or ()),
        lines=tuple(_item(line) for line in report.get("lines") or ()),
        batch_window_ends_on=str(window.get("window_ends_on", "")),
        cooling_off_ends_on=max(cooling, default=""),
        source_event_type=str(p.get("source_event_type", "")),
        source_occurred_at=datetime.fromisoformat(str(p["source_occurred_at"])),
    )
