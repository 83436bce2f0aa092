"""Finance: a client's fee lines (invoice lines and credit memos) and invoices for a period,
closing a period into an invoice, the ROI report with its chart; CSV and PDF downloads. Every
figure is the fees service's answer (FeesService, proto/oonledger/fees/v1/fees.proto)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from gateway.console import web
from gateway.console.app import Page
from gateway.console.cases import CLAIMS, eastern_today
from gateway.console.charts_finance import roi_chart
from gateway.console.client import ServiceClient, new_request_id
from gateway.console.files import download
from gateway.console.finance_export import (
    cause_name,
    invoice_csv,
    invoice_pdf,
    kind_name,
    lines_csv,
    roi_csv,
    roi_pdf,
)
from gateway.http_server import Response
from gateway.statuses import CallFailure
from oonledger.claims.v1 import claims_pb2
from oonledger.fees.v1 import fees_pb2

if TYPE_CHECKING:
    from gateway.console.app import Console

FEES = "oonledger.fees.v1.FeesService"
FINANCE_ROLES = ("finance", "admin")
CLIENT_SCAN = 500  # claims read to offer the tenant's clients in the picker
JUST_ISSUED_WAIT = 10.0  # seconds


@dataclass(frozen=True)
class Period:
    client: str
    start: str
    end: str
    error: str = ""

    def query(self) -> str:
        return web.with_query("", client=self.client, start=self.start, end=self.end)


def period_of(values: dict[str, str], today: date) -> Period:
    """The client and period asked for; by default this year up to today (US Eastern)."""
    client = values.get("client", "").strip()
    start = values.get("start", "").strip() or f"{today.year}-01-01"
    end = values.get("end", "").strip() or today.isoformat()
    try:
        if date.fromisoformat(start) > date.fromisoformat(end):
            return Period(client, start, end, "period: the start is after the end")
    except ValueError:
        return Period(client, start, end, "period: dates as YYYY-MM-DD")
    return Period(client, start, end)


async def known_clients(client: ServiceClient) -> list[str]:
    reply = await client.call(f"{CLAIMS}/ListClaims",
                              claims_pb2.ListClaimsRequest(page_size=CLIENT_SCAN),
                              claims_pb2.ListClaimsResponse)
    return sorted({c.client_id for c in reply.claims if c.client_id})


def overlaps(invoice: fees_pb2.Invoice, period: Period) -> bool:
    return invoice.period_start <= period.end and invoice.period_end >= period.start


def register(console: Console) -> None:
    router = console.router
    console.add_nav("Finance", "/console/finance", FINANCE_ROLES)

    async def finance_page(page: Page, status: int = 200, error: str = "") -> Response:
        client = page.client
        period = period_of(page.query if page.request.method == "GET" else page.form,
                           eastern_today(page.now))
        clients = await known_clients(client)
        lines: list[fees_pb2.FeeLine] = []
        invoices: list[fees_pb2.Invoice] = []
        roi = None
        if period.client and not period.error:
            listed, invoiced, roi = await asyncio.gather(
                client.call(f"{FEES}/ListFeeLines", fees_pb2.ListFeeLinesRequest(
                    client_id=period.client, from_date=period.start, to_date=period.end),
                    fees_pb2.ListFeeLinesResponse),
                client.call(f"{FEES}/ListInvoices",
                            fees_pb2.ListInvoicesRequest(client_id=period.client),
                            fees_pb2.ListInvoicesResponse),
                client.call(f"{FEES}/GetRoiReport", fees_pb2.GetRoiReportRequest(
                    client_id=period.client, period_start=period.start,
                    period_end=period.end), fees_pb2.GetRoiReportResponse))
            lines = list(listed.lines)
            invoices = [i for i in invoiced.invoices if overlaps(i, period)]
        return page.render(
            "finance.html", status, title="Finance", period=period, clients=clients,
            charges=[x for x in lines if x.kind != fees_pb2.FEE_LINE_KIND_CREDIT_MEMO],
            credits=[x for x in lines if x.kind == fees_pb2.FEE_LINE_KIND_CREDIT_MEMO],
            invoices=invoices, roi=roi,
            chart=roi_chart(roi.by_payer) if roi is not None else None,
            kind_name=kind_name, cause_name=cause_name,
            uninvoiced=sum(1 for x in lines if not x.invoice_id),
            error=error or period.error, flash=page.query.get("done", ""),
            may_close=page.client.may(f"{FEES}/CloseInvoicePeriod"),
            closable=bool(period.end) and period.end < eastern_today(page.now).isoformat())

    @router.get("/console/finance", FINANCE_ROLES)
    async def finance(page: Page) -> Response:
        return await finance_page(page)

    @router.post("/console/finance/close", FINANCE_ROLES)
    async def close_period(page: Page) -> Response:
        period = period_of(page.form, eastern_today(page.now))
        if not period.client or period.error:
            return await finance_page(page, 400, period.error or "client: choose a client")
        request_id = page.form.get("request_id") or new_request_id()
        try:
            closed = await page.client.call(
                f"{FEES}/CloseInvoicePeriod", fees_pb2.CloseInvoicePeriodRequest(
                    request_id=request_id, client_id=period.client,
                    period_start=period.start, period_end=period.end),
                fees_pb2.CloseInvoicePeriodResponse, request_id=request_id)
        except CallFailure as refused:
            return await finance_page(page, refused.http_status,
                                      f"{refused.code.name}: {refused.message}")
        invoice = closed.invoice
        return page.redirect(web.with_query(
            f"/console/finance/invoices/{invoice.invoice_id}",
            done=f"Invoice {invoice.invoice_id} issued: {len(invoice.lines)} line(s)."))

    @router.get("/console/finance/lines.csv", FINANCE_ROLES)
    async def lines_download(page: Page) -> Response:
        period = period_of(page.query, eastern_today(page.now))
        if not period.client or period.error:
            return page.render("error.html", 400, title="Bad request",
                               message=period.error or "client: choose a client")
        listed = await page.client.call(f"{FEES}/ListFeeLines", fees_pb2.ListFeeLinesRequest(
            client_id=period.client, from_date=period.start, to_date=period.end),
            fees_pb2.ListFeeLinesResponse)
        return download(lines_csv(listed.lines), "text/csv; charset=utf-8",
                        f"fee-lines-{period.client}-{period.start}-{period.end}.csv")

    async def roi_of(page: Page) -> fees_pb2.GetRoiReportResponse | Response:
        period = period_of(page.query, eastern_today(page.now))
        if not period.client or period.error:
            return page.render("error.html", 400, title="Bad request",
                               message=period.error or "client: choose a client")
        return await page.client.call(f"{FEES}/GetRoiReport", fees_pb2.GetRoiReportRequest(
            client_id=period.client, period_start=period.start, period_end=period.end),
            fees_pb2.GetRoiReportResponse)

    @router.get("/console/finance/roi.csv", FINANCE_ROLES)
    async def roi_csv_download(page: Page) -> Response:
        roi = await roi_of(page)
        if isinstance(roi, Response):
            return roi
        return download(roi_csv(roi), "text/csv; charset=utf-8",
                        f"roi-{roi.client_id}-{roi.period_start}-{roi.period_end}.csv")

    @router.get("/console/finance/roi.pdf", FINANCE_ROLES)
    async def roi_pdf_download(page: Page) -> Response:
        roi = await roi_of(page)
        if isinstance(roi, Response):
            return roi
        body = await asyncio.to_thread(roi_pdf, roi, page.user.tenant_id)
        return download(body, "application/pdf",
                        f"roi-{roi.client_id}-{roi.period_start}-{roi.period_end}.pdf")

    async def invoice_of(page: Page) -> fees_pb2.Invoice:
        """The invoice; just after CloseInvoicePeriod (`done` set by the redirect) the fees
        read model may not list it yet for a moment, so it is asked again for a few seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (JUST_ISSUED_WAIT if page.query.get("done") else 0)
        while True:
            try:
                reply = await page.client.call(
                    f"{FEES}/GetInvoice", fees_pb2.GetInvoiceRequest(
                        invoice_id=page.params["invoice_id"]), fees_pb2.GetInvoiceResponse)
                return reply.invoice
            except CallFailure as refused:
                if refused.code.name != "NOT_FOUND" or loop.time() >= deadline:
                    raise
            await asyncio.sleep(0.2)

    @router.get("/console/finance/invoices/{invoice_id}", FINANCE_ROLES)
    async def invoice_page(page: Page) -> Response:
        invoice = await invoice_of(page)
        return page.render("invoice.html", title=f"Invoice {invoice.invoice_id}",
                           invoice=invoice, kind_name=kind_name, cause_name=cause_name,
                           flash=page.query.get("done", ""))

    @router.get("/console/finance/invoices/{invoice_id}/csv", FINANCE_ROLES)
    async def invoice_csv_download(page: Page) -> Response:
        invoice = await invoice_of(page)
        return download(invoice_csv(invoice), "text/csv; charset=utf-8",
                        f"invoice-{invoice.invoice_id}.csv")

    @router.get("/console/finance/invoices/{invoice_id}/pdf", FINANCE_ROLES)
    async def invoice_pdf_download(page: Page) -> Response:
        invoice = await invoice_of(page)
        body = await asyncio.to_thread(invoice_pdf, invoice, page.user.tenant_id)
        return download(body, "application/pdf", f"invoice-{invoice.invoice_id}.pdf")
