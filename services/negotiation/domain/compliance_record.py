"""The compliance report as it stood, recorded (issue 16): the facts travel with an event.

After each act of a case (notice, agreement, initiation, selection, eligibility, offer,
determination, closure, extension), negotiation states the case's compliance report as of
that moment on the case's `ComplianceRecord` (one per negotiation, on the claim's audit
chain). The report is computed once, here by its owner (compliance.py); the audit ledger folds
the latest one at or before an instant into the auditor's as-of view and never recomputes it.

The event keeps the report as plain records in the contract's shape (dates ISO text, "" when
absent), so it is stored and published as is.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TypedDict
from uuid import UUID

from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.ids import deterministic_id
from services.negotiation.domain.compliance import (
    BatchWindow,
    ComplianceLine,
    ComplianceReport,
    CoolingOffWindow,
)


class ComplianceLineRecord(TypedDict):
    code: str
    title: str
    status: str
    counting: str
    anchor_on: str
    due_on: str
    opens_on: str
    alternate_due_on: str
    rule_set_version: str
    act_on: str
    day_number: int
    days_late: int
    recorded_here: bool
    extended_from: str
    extension_reason: str
    note: str


class BatchWindowRecord(TypedDict):
    batched: bool
    first_service_on: str
    window_ends_on: str
    service_on: str
    within_window: bool
    rule_set_version: str


class CoolingOffWindowRecord(TypedDict):
    dispute_number: str
    starts_on: str
    ends_on: str
    filing_opens_on: str
    filing_closes_on: str
    relation: str
    initiated_on: str
    within_filing_window: str  # "", "yes" or "no"


class ComplianceReportRecord(TypedDict):
    negotiation_id: str
    claim_id: str
    as_of: str
    status: str
    rule_set_version: str
    calendar: str
    holidays: list[str]
    lines: list[ComplianceLineRecord]
    batch_window: BatchWindowRecord | None
    cooling_off: list[CoolingOffWindowRecord]


def _iso(day: date | None) -> str:
    return day.isoformat() if day else ""


def yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def _line(line: ComplianceLine) -> ComplianceLineRecord:
    return ComplianceLineRecord(
        code=line.code.value, title=line.title, status=line.status.value,
        counting=line.counting.value if line.counting else "", anchor_on=_iso(line.anchor_on),
        due_on=_iso(line.due_on), opens_on=_iso(line.opens_on),
        alternate_due_on=_iso(line.alternate_due_on), rule_set_version=line.rule_set_version,
        act_on=_iso(line.act_on), day_number=line.day_number or 0, days_late=line.days_late,
        recorded_here=line.recorded_here, extended_from=_iso(line.extended_from),
        extension_reason=line.extension_reason, note=line.note)


def _batch_window(window: BatchWindow | None) -> BatchWindowRecord | None:
    if window is None:
        return None
    return BatchWindowRecord(
        batched=window.batched, first_service_on=window.first_service_on.isoformat(),
        window_ends_on=window.window_ends_on.isoformat(),
        service_on=window.service_on.isoformat(), within_window=window.within_window,
        rule_set_version=window.rule_set_version)


def _cooling_off(window: CoolingOffWindow) -> CoolingOffWindowRecord:
    return CoolingOffWindowRecord(
        dispute_number=window.dispute_number, starts_on=window.starts_on.isoformat(),
        ends_on=window.ends_on.isoformat(), filing_opens_on=window.filing_opens_on.isoformat(),
        filing_closes_on=window.filing_closes_on.isoformat(), relation=window.relation,
        initiated_on=_iso(window.initiated_on),
        within_filing_window=yes_no(window.within_filing_window))


def report_record(report: ComplianceReport) -> ComplianceReportRecord:
    """The report in the contract's shape (the API's ComplianceReport message, field by field)."""
    return ComplianceReportRecord(
        negotiation_id=report.negotiation_id, claim_id=report.claim_id,
        as_of=report.as_of.isoformat(), status=report.status,
        rule_set_version=report.rule_set_version, calendar=report.calendar,
        holidays=[day.isoformat() for day in report.holidays],
        lines=[_line(line) for line in report.lines],
        batch_window=_batch_window(report.batch_window),
        cooling_off=[_cooling_off(window) for window in report.cooling_off])


def record_id(tenant_id: str, negotiation_id: str) -> UUID:
    return deterministic_id(tenant_id, "compliance-record", negotiation_id)


class ComplianceRecord(TenantAggregate):
    """The compliance reports a case's acts left behind, in order (one record per negotiation)."""

    class ComplianceRecordOpened(TenantAggregate.Created):
        claim_id: str
        negotiation_id: str

    class ComplianceReportStated(TenantAggregate.Event):
        """The case's compliance report as it stood right after `source_event_type`."""

        claim_id: str
        negotiation_id: str
        source_event_type: str
        source_event_id: str
        source_occurred_at: datetime  # the act's event: the report is the case as of then
        report: ComplianceReportRecord

        def apply(self, aggregate: ComplianceRecord) -> None:
            aggregate.last_source_event_id = self.source_event_id

    def __init__(self, claim_id: str, negotiation_id: str) -> None:
        self.claim_id = claim_id
        self.negotiation_id = negotiation_id
        self.last_source_event_id = ""

    @classmethod
    def open(cls, ctx: CommandContext, *, claim_id: str, negotiation_id: str) -> ComplianceRecord:
        record: ComplianceRecord = cls._start(
            cls.ComplianceRecordOpened, ctx, id=record_id(ctx.tenant_id, negotiation_id),
            claim_id=claim_id, negotiation_id=negotiation_id)
        return record

    def state(self, ctx: CommandContext, *, report: ComplianceReport, source_event_type: str,
              source_event_id: str, source_occurred_at: datetime) -> None:
        """Record the report an act left (a redelivered act records nothing)."""
        if source_event_id == self.last_source_event_id:
            return
        self._record(
            self.ComplianceReportStated, ctx, claim_id=self.claim_id,
            negotiation_id=self.negotiation_id, source_event_type=source_event_type,
            source_event_id=source_event_id, source_occurred_at=source_occurred_at,
            report=report_record(report))
