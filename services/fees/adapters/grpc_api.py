"""The FeesService servicer: thin. Reads each request into a command (mapping), runs the use case
off the event loop, answers through mapping; queries read the read models (sql)."""

from __future__ import annotations

from typing import Any

from oonledger.fees.v1 import fees_pb2, fees_pb2_grpc
from services.common.context import CommandContext
from services.common.errors import NotFound
from services.common.grpc_server import Blocking, rpc
from services.fees.adapters import mapping
from services.fees.adapters.sql import FeeQueries
from services.fees.application import CloseInvoicePeriod, FeesApplication
from services.fees.domain import roi_report

SERVICE_NAME = "oonledger.fees.v1.FeesService"


class FeesServicer(fees_pb2_grpc.FeesServiceServicer):
    def __init__(self, app: FeesApplication, blocking: Blocking, queries: FeeQueries) -> None:
        self.app = app
        self.blocking = blocking
        self.queries = queries

    @rpc
    async def PublishFeeSchedule(self, request: fees_pb2.PublishFeeScheduleRequest,
                                 ctx: CommandContext, context: Any) -> Any:
        command = mapping.publish_schedule_from_proto(request)
        schedule, version = await self.blocking(self.app.publish_schedule, ctx, command)
        return mapping.publish_schedule_response(schedule, version)

    @rpc
    async def GetFeeSchedule(self, request: fees_pb2.GetFeeScheduleRequest,
                             ctx: CommandContext, context: Any) -> Any:
        client_id = mapping.client_id_from(request)
        schedule = await self.blocking(self.app.schedule, ctx.tenant_id, client_id)
        return mapping.get_schedule_response(schedule)

    @rpc
    async def PreviewFee(self, request: fees_pb2.PreviewFeeRequest, ctx: CommandContext,
                         context: Any) -> Any:
        command = mapping.preview_from_proto(request)
        preview = await self.blocking(self.app.preview, ctx.tenant_id, command)
        return mapping.preview_to_proto(preview)

    @rpc
    async def GetFeeAccount(self, request: fees_pb2.GetFeeAccountRequest, ctx: CommandContext,
                            context: Any) -> Any:
        claim_id = mapping.claim_id_from(request)
        readout = await self.blocking(self.app.account_readout, ctx.tenant_id, claim_id)
        return mapping.account_response(readout)

    @rpc
    async def ListFeeLines(self, request: fees_pb2.ListFeeLinesRequest, ctx: CommandContext,
                           context: Any) -> Any:
        client_id, claim_ids, start, end = mapping.line_filter_from_proto(request)
        rows = await self.queries.lines(ctx.tenant_id, client_id, claim_ids, start, end)
        return mapping.lines_response(rows)

    @rpc
    async def CloseInvoicePeriod(self, request: fees_pb2.CloseInvoicePeriodRequest,
                                 ctx: CommandContext, context: Any) -> Any:
        client_id, start, end = mapping.period_from_proto(request)
        candidates = await self.queries.uninvoiced_lines(ctx.tenant_id, client_id, end)
        issued = await self.blocking(self.app.close_period, ctx,
                                     CloseInvoicePeriod(client_id, start, end, candidates))
        return mapping.close_period_response(issued)

    @rpc
    async def GetInvoice(self, request: fees_pb2.GetInvoiceRequest, ctx: CommandContext,
                         context: Any) -> Any:
        invoice_id = mapping.invoice_id_from(request)
        client_id = await self.queries.invoice_client(ctx.tenant_id, invoice_id)
        if client_id is None:
            raise NotFound(f"invoice {invoice_id} not found")
        issued = await self.blocking(self.app.invoice, ctx.tenant_id, client_id, invoice_id)
        return mapping.get_invoice_response(issued)

    @rpc
    async def ListInvoices(self, request: fees_pb2.ListInvoicesRequest, ctx: CommandContext,
                           context: Any) -> Any:
        client_id = mapping.client_id_from(request)
        issued = await self.blocking(self.app.invoices, ctx.tenant_id, client_id)
        return mapping.invoices_response(issued)

    @rpc
    async def GetRoiReport(self, request: fees_pb2.GetRoiReportRequest, ctx: CommandContext,
                           context: Any) -> Any:
        client_id, start, end = mapping.roi_period_from_proto(request)
        entries = await self.queries.roi_entries(ctx.tenant_id, client_id, start, end)
        return mapping.roi_to_proto(client_id, start, end, roi_report(entries))
