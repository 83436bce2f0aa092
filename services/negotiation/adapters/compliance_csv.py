"""The compliance report of a client's whole book as CSV: one row per case and deadline, the
case's own facts (calendar, rule set, batch window, cooling-off) repeated on each of its rows so
every row stands alone in a spreadsheet filter. Columns are documented in docs/negotiation.md."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date

from services.negotiation.domain.compliance import ComplianceReport, CoolingOffWindow

COLUMNS = (
    "negotiation_id",
    "claim_id",
    "case_status",
    "as_of",
    "case_rule_set_version",
    "calendar",
    "code",
    "title",
    "status",
    "counting",
    "anchor_on",
    "opens_on",
    "due_on",
    "alternate_due_on",
    "rule_set_version",
    "act_on",
    "day_number",
    "days_late",
    "recorded_here",
    "extended_from",
    "note",
    "batched",
    "batch_first_service_on",
    "batch_window_ends_on",
    "within_batch_window",
    "cooling_off_dispute",
    "cooling_off_relation",
    "cooling_off_ends_on",
    "filing_opens_on",
    "filing_closes_on",
    "within_filing_window",
)


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""


def _cooling_off(report: ComplianceReport) -> CoolingOffWindow | None:
    """The window that matters most to the case: the one blocking it, else the one it started."""
    windows = sorted(report.cooling_off, key=lambda w: w.relation != "blocking")
    return windows[0] if windows else None


def render(reports: Iterable[ComplianceReport]) -> tuple[bytes, int, int]:
    """(CSV bytes, cases, rows)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    cases = rows = 0
    for report in reports:
        cases += 1
        batch = report.batch_window
        window = _cooling_off(report)
        case_columns = (report.negotiation_id, report.claim_id, report.status,
                        report.as_of.isoformat(), report.rule_set_version, report.calendar)
        tail = (
            "yes" if batch and batch.batched else "no",
            _iso(batch.first_service_on) if batch else "",
            _iso(batch.window_ends_on) if batch else "",
            ("yes" if batch.within_window else "no") if batch else "",
            window.dispute_number if window else "",
            window.relation if window else "",
            _iso(window.ends_on) if window else "",
            _iso(window.filing_opens_on) if window else "",
            _iso(window.filing_closes_on) if window else "",
            ""
            if window is None or window.within_filing_window is None
            else ("yes" if window.within_filing_window else "no"),
        )
        for line in report.lines:
            rows += 1
            writer.writerow((
                *case_columns,
                line.code.value,
                line.title,
                line.status.value,
                line.counting.value if line.counting else "",
                _iso(line.anchor_on),
                _iso(line.opens_on),
                _iso(line.due_on),
                _iso(line.alternate_due_on),
                line.rule_set_version,
                _iso(line.act_on),
                "" if line.day_number is None else line.day_number,
                line.days_late,
                "yes" if line.recorded_here else "no",
                _iso(line.extended_from),
                line.note,
                *tail,
            ))
    return out.getvalue().encode(), cases, rows
