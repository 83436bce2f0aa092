"""Finance downloads: fee lines, an invoice and the ROI report as CSV (one row per line or
group, amounts in cents and dollars) and, for an invoice and the ROI report, a PDF (ReportLab).

The fees service answers typed messages only; these files are drawn from its answers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import landscape, letter
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from gateway.console.app import money
from oonledger.fees.v1 import fees_pb2

KINDS = {fees_pb2.FEE_LINE_KIND_INVOICE_LINE: "invoice line",
         fees_pb2.FEE_LINE_KIND_CREDIT_MEMO: "credit memo"}
CAUSES = {fees_pb2.FEE_CAUSE_PAYMENT: "payment", fees_pb2.FEE_CAUSE_REVERSAL: "reversal",
          fees_pb2.FEE_CAUSE_RECOUPMENT: "recoupment",
          fees_pb2.FEE_CAUSE_IDR_FEE_PASS_THROUGH: "IDR fee pass-through",
          fees_pb2.FEE_CAUSE_INTEREST: "interest"}
LINE_HEADERS = ("line_id", "kind", "cause", "line_date", "claim_id", "client_id",
                "remittance_trn", "deposit_date", "amount_cents", "amount",
                "cumulative_recovered_cents", "cumulative_fee_cents", "schedule_version",
                "invoice_id")
ROI_HEADERS = ("group", "key", "claims", "initial_payments_cents", "recovered_cents",
               "interest_cents", "fees_cents", "pass_through_cents", "net_to_client_cents",
               "uplift_percent")


def kind_name(kind: int) -> str:
    return KINDS.get(kind, "?")


def cause_name(cause: int) -> str:
    return CAUSES.get(cause, "?")


def _csv(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    for row in rows:
        # A cell a spreadsheet would run as a formula is quoted as text.
        writer.writerow([f"'{c}" if isinstance(c, str) and c[:1] in "=+-@" else c for c in row])
    return out.getvalue().encode("utf-8")


def _line_row(line: fees_pb2.FeeLine) -> tuple[object, ...]:
    return (line.line_id, kind_name(line.kind), cause_name(line.cause), line.line_date,
            line.claim_id, line.client_id, line.remittance_trn, line.deposit_date,
            line.amount_cents, f"{line.amount_cents / 100:.2f}",
            line.cumulative_recovered_cents, line.cumulative_fee_cents, line.schedule_version,
            line.invoice_id)


def lines_csv(lines: Iterable[fees_pb2.FeeLine]) -> bytes:
    return _csv(LINE_HEADERS, (_line_row(line) for line in lines))


def invoice_csv(invoice: fees_pb2.Invoice) -> bytes:
    rows: list[tuple[object, ...]] = [_line_row(line) for line in invoice.lines]
    blank = ("",) * (len(LINE_HEADERS) - 2)
    rows += [("charges", *blank, invoice.charges_cents, ""),
             ("credits", *blank, invoice.credits_cents, ""),
             ("total", *blank, invoice.total_cents, "")]
    return _csv(LINE_HEADERS, rows)


def _roi_row(group: str, key: str, f: fees_pb2.RoiFigures) -> tuple[object, ...]:
    return (group, key, f.claims, f.initial_payments_cents, f.recovered_cents,
            f.interest_cents, f.fees_cents, f.pass_through_cents, f.net_to_client_cents,
            f"{f.uplift_bps / 100:.2f}")


def roi_csv(report: fees_pb2.GetRoiReportResponse) -> bytes:
    rows = [_roi_row("total", report.client_id, report.total)]
    rows += [_roi_row("payer", g.key, g.figures) for g in report.by_payer]
    rows += [_roi_row("service_code", g.key, g.figures) for g in report.by_service_code]
    return _csv(ROI_HEADERS, rows)


# -- PDF ---------------------------------------------------------------------------------------

STYLES = getSampleStyleSheet()
CELL = ParagraphStyle("cell", parent=STYLES["BodyText"], fontSize=8, leading=10)
PAGE_WIDTH = landscape(letter)[0] - 1.0 * inch


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]],
           widths: Sequence[float]) -> Flowable:
    data = [[Paragraph(f"<b>{escape(h)}</b>", CELL) for h in headers]]
    data += [[Paragraph(escape(cell), CELL) for cell in row] for row in rows]
    if len(data) == 1:
        return Paragraph("None.", STYLES["BodyText"])
    total = sum(widths)
    table = Table(data, colWidths=[PAGE_WIDTH * w / total for w in widths], repeatRows=1)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def _pdf(story: list[Flowable], title: str) -> bytes:
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=landscape(letter), title=title, leftMargin=0.5 * inch,
                      rightMargin=0.5 * inch, topMargin=0.5 * inch,
                      bottomMargin=0.5 * inch).build(story)
    return out.getvalue()


def invoice_pdf(invoice: fees_pb2.Invoice, tenant: str) -> bytes:
    story: list[Flowable] = [
        Paragraph(f"Invoice {escape(invoice.invoice_id)}", STYLES["Title"]),
        Paragraph(escape(f"{tenant} · client {invoice.client_id} · period "
                         f"{invoice.period_start} to {invoice.period_end} · issued "
                         f"{invoice.issued_at}"), STYLES["BodyText"]),
        Spacer(1, 8),
        _table(("Date", "Kind", "Cause", "Claim", "Remittance", "Deposit", "Amount"),
               [(line.line_date, kind_name(line.kind), cause_name(line.cause), line.claim_id,
                 line.remittance_trn, line.deposit_date, money(line.amount_cents))
                for line in invoice.lines], (1, 1, 1.2, 2.6, 1.4, 1, 1)),
        Spacer(1, 8),
        _table(("Charges", "Credits", "Total due"),
               [(money(invoice.charges_cents), money(invoice.credits_cents),
                 money(invoice.total_cents))], (1, 1, 1)),
    ]
    if invoice.era_totals:
        story += [Spacer(1, 8), Paragraph("Per remittance (ERA)", STYLES["Heading2"]),
                  _table(("Trace number", "Deposit date", "Lines", "Net"),
                         [(e.trace_number, e.deposit_date, str(e.line_count),
                           money(e.net_cents)) for e in invoice.era_totals], (2, 1, 1, 1))]
    return _pdf(story, f"Invoice {invoice.invoice_id}")


def _roi_rows(groups: Iterable[fees_pb2.RoiGroup]) -> list[tuple[str, ...]]:
    return [(g.key, str(g.figures.claims), money(g.figures.initial_payments_cents),
             money(g.figures.recovered_cents), money(g.figures.fees_cents),
             money(g.figures.net_to_client_cents), f"{g.figures.uplift_bps / 100:.1f}%")
            for g in groups]


def roi_pdf(report: fees_pb2.GetRoiReportResponse, tenant: str) -> bytes:
    headers = ("", "Claims", "Initial payments", "Recovered", "Fees", "Net to client",
               "Uplift")
    widths = (2, 0.8, 1.2, 1.2, 1.2, 1.2, 0.8)
    total = fees_pb2.RoiGroup(key="Total", figures=report.total)
    story: list[Flowable] = [
        Paragraph(f"Return on investment — {escape(report.client_id)}", STYLES["Title"]),
        Paragraph(escape(f"{tenant} · period {report.period_start} to {report.period_end}"),
                  STYLES["BodyText"]),
        Spacer(1, 8), _table(headers, _roi_rows([total]), widths),
        Spacer(1, 8), Paragraph("By payer", STYLES["Heading2"]),
        _table(headers, _roi_rows(report.by_payer), widths),
        Spacer(1, 8), Paragraph("By service code", STYLES["Heading2"]),
        _table(headers, _roi_rows(report.by_service_code), widths),
    ]
    return _pdf(story, f"ROI {report.client_id}")
