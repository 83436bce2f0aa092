"""The audit report as a PDF (ReportLab's platypus: flowing tables over as many pages as needed)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import landscape, letter
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import (
    Flowable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from services.ledger.domain.report import ClaimReport, mark_label

STYLES = getSampleStyleSheet()
CELL = ParagraphStyle("cell", parent=STYLES["BodyText"], fontSize=7.5, leading=9)
VERDICT_COLOURS = {
    "VERIFIED": colors.HexColor("#ddffdd"),
    "PENDING": colors.HexColor("#ffffdd"),
    "BROKEN": colors.HexColor("#ffdddd"),
}
PAGE_WIDTH = landscape(letter)[0] - 1.0 * inch


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%SZ}" if moment else "-"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]],
           widths: Sequence[float], highlight: Sequence[str] = ()) -> Flowable:
    data = [[Paragraph(f"<b>{escape(h)}</b>", CELL) for h in headers]]
    data += [[Paragraph(escape(cell), CELL) for cell in row] for row in rows]
    if len(data) == 1:
        return Paragraph("None recorded.", STYLES["BodyText"])
    total = sum(widths)
    table = Table(data, colWidths=[PAGE_WIDTH * w / total for w in widths], repeatRows=1)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    for n, status in enumerate(highlight, start=1):
        if status in VERDICT_COLOURS:
            style.append(("BACKGROUND", (0, n), (-1, n), VERDICT_COLOURS[status]))
    table.setStyle(TableStyle(style))
    return table


def render_pdf(report: ClaimReport) -> bytes:
    v = report.verification
    story: list[Flowable] = [
        Paragraph(f"Audit report — claim {escape(report.claim_id)}", STYLES["Title"]),
        Paragraph(
            f"Tenant {escape(report.tenant_id)}; state as of {_when(report.as_of)}.",
            STYLES["BodyText"],
        ),
        Spacer(1, 6),
        _table(("Verification",), [(report.verdict_line(),)], (1,), (v.status,)),
    ]
    problems = [d for _, _, d in v.breaks] + [f"log: {p}" for p in v.log_problems]
    story += [Paragraph(escape(p), CELL) for p in problems]

    def section(title: str, flowable: Flowable) -> None:
        story.extend([Spacer(1, 8), Paragraph(title, STYLES["Heading2"]), flowable])

    section("Summary", _table(("", ""), report.summary, (1, 3)))
    section("Offers", _table(
        ("When", "Party", "Amount", "% of QPA", "By", "Event"),
        [(_when(o.at), o.party, o.amount, o.pct_of_qpa, o.by, o.event_type)
         for o in report.offers], (2, 1.5, 1.2, 1, 2.5, 1.8)))
    section("Decisions", _table(
        ("Decision", "Action", "Proposed", "By", "Rationale", "Outcome", "Decided", "By"),
        [(d.decision_id, d.action, _when(d.proposed_at), d.proposed_by or "-", d.rationale,
          d.outcome, _when(d.decided_at), d.decided_by or "-") for d in report.decisions],
        (1.2, 1, 1.5, 1.8, 2, 1.5, 1.5, 1.8)))
    section("Deadlines", _table(
        ("Deadline", "Due (US Eastern)", "Outcome"),
        [(d.name, d.due_date, d.outcome) for d in report.deadlines], (2, 1.2, 4)))
    section("Payments", _table(
        ("When", "Reference", "Amount", "Event"),
        [(_when(p.at), p.label, p.amount, p.event_type) for p in report.payments],
        (2, 2, 1.2, 2)))
    section("Fees", _table(
        ("When", "Kind", "Amount", "Event"),
        [(_when(f.at), f.label, f.amount, f.event_type) for f in report.fees], (2, 2, 1.2, 2)))
    rows = list(report.timeline)
    section("Timeline", _table(
        ("When", "#", "Service", "Event", "By", "Details", "Hash", "Proof"),
        [(_when(t.at), str(t.seq), t.service, t.event_type, t.by, t.details, t.hash_prefix,
          mark_label(t.mark)) for t in rows],
        (1.6, 0.4, 1, 1.8, 1.8, 3.5, 1.1, 1.2),
        ["BROKEN" if t.mark and label.startswith("BROKEN") else
         "PENDING" if label == "pending" else ""
         for t in rows for label in (mark_label(t.mark),)]))
    if report.unfolded:
        section("Events the summary does not interpret",
                _table(("Event",), [(u,) for u in report.unfolded], (1,)))
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=landscape(letter), leftMargin=0.5 * inch, rightMargin=0.5 * inch,
        topMargin=0.5 * inch, bottomMargin=0.5 * inch,
        title=f"Audit report — claim {report.claim_id}", author="OON Ledger",
    )
    document.build(story)
    return buffer.getvalue()
