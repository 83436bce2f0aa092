"""The compliance report (domain/compliance.py) to its proto messages, and its request."""

from __future__ import annotations

from datetime import date

from oonledger.negotiation.v1 import negotiation_pb2 as pb
from services.negotiation.adapters.mapping import Reader
from services.negotiation.adapters.mapping import iso_or_blank as _iso
from services.negotiation.domain.compliance import (
    BatchWindow,
    ComplianceLine,
    ComplianceReport,
    CoolingOffWindow,
)


def compliance_as_of(
    request: pb.GetComplianceReportRequest | pb.GetComplianceReportCsvRequest, today: date
) -> date:
    r = Reader()
    as_of = r.day("as_of", request.as_of, required=False)
    r.done()
    return as_of or today


def _compliance_line(line: ComplianceLine) -> pb.ComplianceLine:
    return pb.ComplianceLine(
        code=line.code.value,
        title=line.title,
        status=line.status.value,
        counting=line.counting.value if line.counting else "",
        anchor_on=_iso(line.anchor_on),
        due_on=_iso(line.due_on),
        opens_on=_iso(line.opens_on),
        alternate_due_on=_iso(line.alternate_due_on),
        rule_set_version=line.rule_set_version,
        act_on=_iso(line.act_on),
        day_number=line.day_number or 0,
        days_late=line.days_late,
        recorded_here=line.recorded_here,
        extended_from=_iso(line.extended_from),
        extension_reason=line.extension_reason,
        note=line.note,
    )


def _batch_window(window: BatchWindow | None) -> pb.BatchWindow | None:
    if window is None:
        return None
    return pb.BatchWindow(
        batched=window.batched,
        first_service_on=window.first_service_on.isoformat(),
        window_ends_on=window.window_ends_on.isoformat(),
        service_on=window.service_on.isoformat(),
        within_window=window.within_window,
        rule_set_version=window.rule_set_version,
    )


def yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def _cooling_off(window: CoolingOffWindow) -> pb.CoolingOffWindow:
    return pb.CoolingOffWindow(
        dispute_number=window.dispute_number,
        starts_on=window.starts_on.isoformat(),
        ends_on=window.ends_on.isoformat(),
        filing_opens_on=window.filing_opens_on.isoformat(),
        filing_closes_on=window.filing_closes_on.isoformat(),
        relation=window.relation,
        initiated_on=_iso(window.initiated_on),
        within_filing_window=yes_no(window.within_filing_window),
    )


def compliance_response(report: ComplianceReport) -> pb.GetComplianceReportResponse:
    return pb.GetComplianceReportResponse(
        report=pb.ComplianceReport(
            negotiation_id=report.negotiation_id,
            claim_id=report.claim_id,
            as_of=report.as_of.isoformat(),
            status=report.status,
            rule_set_version=report.rule_set_version,
            calendar=report.calendar,
            holidays=[day.isoformat() for day in report.holidays],
            lines=[_compliance_line(line) for line in report.lines],
            batch_window=_batch_window(report.batch_window),
            cooling_off=[_cooling_off(window) for window in report.cooling_off],
        )
    )


def compliance_csv_response(
    content: bytes, cases: int, rows: int
) -> pb.GetComplianceReportCsvResponse:
    return pb.GetComplianceReportCsvResponse(csv=content, cases=cases, rows=rows)
