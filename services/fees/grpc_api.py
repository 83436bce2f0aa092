"""The FeesService servicer: thin; parses with mapping, runs use cases off the event loop."""

from __future__ import annotations

from typing import Any

import asyncpg

from oonledger.fees.v1 import fees_pb2, fees_pb2_grpc
from services.common.context import CommandContext
from services.common.errors import InvalidArgument, NotFound, Violations
from services.common.grpc_server import Blocking, rpc
from services.fees import mapping
from services.fees.application import FeesApplication
from services.fees.assessment import PaymentFact, PaymentKind
from services.fees.client_billing import Invoice
from services.fees.fee_schedule import FeeSchedule
from services.fees.projections import FeeProjections
from services.fees.roi import roi_report

SERVICE_NAME = "oonledger.fees.v1.FeesService"


def _schedule_proto(schedule: FeeSchedule) -> fees_pb2.FeeSchedule:
    return mapping.schedule_to_proto(str(schedule.id), schedule.client_id, schedule.versions,
                                     schedule.published_at)


def _invoice_proto(issued: Invoice) -> fees_pb2.Invoice:
    return fees_pb2.Invoice(
        invoice_id=issued.invoice_id,
        client_id=issued.client_id,
        period_start=issued.period_start.isoformat(),
        period_end=issued.period_end.isoformat(),
        lines=[mapping.line_record_to_proto(line, issued.invoice_id) for line in issued.lines],
        charges_cents=issued.charges_cents,
        credits_cents=issued.credits_cents,
        total_cents=issued.total_cents,
        issued_at=issued.timestamp.isoformat(),
    )


class FeesServicer(fees_pb2_grpc.FeesServiceServicer):
    def __init__(self, app: FeesApplication, blocking: Blocking, pool: asyncpg.Pool,
                 projections: FeeProjections) -> None:
        self.app = app
        self.blocking = blocking
        self.pool = pool
        self.projections = projections

    @rpc
    async def PublishFeeSchedule(self, request: fees_pb2.PublishFeeScheduleRequest,
                                 ctx: CommandContext, context: Any) -> Any:
        violations = Violations()
        client_id = mapping.require_text(request.client_id, "client_id", violations)
        start = mapping.parse_date(request.effective_from, "effective_from", violations)
        until = mapping.parse_date(request.effective_until, "effective_until", violations,
                                   required=False)
        terms = mapping.terms_from_proto(request.terms, violations)
        violations.raise_if_any()
        assert start is not None
        schedule, version = await self.blocking(
            self.app.publish_schedule, ctx, client_id, start, until,
            terms)
        return fees_pb2.PublishFeeScheduleResponse(schedule=_schedule_proto(schedule),
                                                   version=version)

    @rpc
    async def GetFeeSchedule(self, request: fees_pb2.GetFeeScheduleRequest,
                             ctx: CommandContext, context: Any) -> Any:
        violations = Violations()
        client_id = mapping.require_text(request.client_id, "client_id", violations)
        violations.raise_if_any()
        schedule = await self.blocking(self.app.schedule, ctx.tenant_id, client_id)
        return fees_pb2.GetFeeScheduleResponse(schedule=_schedule_proto(schedule))

    @rpc
    async def PreviewFee(self, request: fees_pb2.PreviewFeeRequest, ctx: CommandContext,
                         context: Any) -> Any:
        violations = Violations()
        day = mapping.parse_date(request.posting_date, "posting_date", violations)
        stage = mapping.stage_from_proto(request.stage, violations)
        violations.check(request.initial_payment_cents >= 0, "initial_payment_cents",
                         "must not be negative")
        violations.check(bool(request.claim_id or request.client_id), "claim_id",
                         "a claim_id or a client_id is required")
        violations.raise_if_any()
        assert day is not None
        kind = PaymentKind.PAYMENT if request.amount_cents >= 0 else PaymentKind.RECOUPMENT
        fact = PaymentFact("preview", kind, request.amount_cents, day, "preview",
                           interest_cents=request.interest_cents)
        computation, delta, version = await self.blocking(
            self.app.preview, ctx.tenant_id, request.claim_id, request.client_id, fact, stage,
            request.initial_payment_cents)
        return mapping.preview_to_proto(computation, delta, version)

    @rpc
    async def GetFeeAccount(self, request: fees_pb2.GetFeeAccountRequest, ctx: CommandContext,
                            context: Any) -> Any:
        violations = Violations()
        claim_id = mapping.require_text(request.claim_id, "claim_id", violations)
        violations.raise_if_any()
        account = await self.blocking(self.app.account, ctx.tenant_id, claim_id)
        state = account.state
        return fees_pb2.GetFeeAccountResponse(account=fees_pb2.FeeAccount(
            claim_id=state.claim_id,
            client_id=state.client_id,
            stage=mapping.stage_to_proto(state.stage),
            initial_payment_cents=state.initial_payment_cents,
            paid_cents=state.paid_cents,
            recouped_cents=state.recouped_cents,
            interest_cents=state.interest_cents,
            recovered_cents=state.incremental_recovered_cents,
            fee_billed_cents=state.fee_billed_cents,
            pass_through_billed_cents=state.pass_through_billed_cents,
            lines=[mapping.line_to_proto(line) for line in account.lines],
        ))

    @rpc
    async def ListFeeLines(self, request: fees_pb2.ListFeeLinesRequest, ctx: CommandContext,
                           context: Any) -> Any:
        violations = Violations()
        client_id = mapping.require_text(request.client_id, "client_id", violations)
        start = mapping.parse_date(request.from_date, "from_date", violations, required=False)
        end = mapping.parse_date(request.to_date, "to_date", violations, required=False)
        violations.raise_if_any()
        rows = await self.projections.lines(self.pool, ctx.tenant_id, client_id,
                                            list(request.claim_ids), start, end)
        return fees_pb2.ListFeeLinesResponse(
            lines=[mapping.line_record_to_proto(row) for row in rows])

    @rpc
    async def CloseInvoicePeriod(self, request: fees_pb2.CloseInvoicePeriodRequest,
                                 ctx: CommandContext, context: Any) -> Any:
        violations = Violations()
        client_id = mapping.require_text(request.client_id, "client_id", violations)
        start = mapping.parse_date(request.period_start, "period_start", violations)
        end = mapping.parse_date(request.period_end, "period_end", violations)
        violations.raise_if_any()
        assert start is not None and end is not None
        candidates = await self.projections.lines(self.pool, ctx.tenant_id, client_id,
                                                  to_date=end, uninvoiced_only=True)
        issued = await self.blocking(self.app.close_period, ctx, client_id, start, end,
                                     candidates)
        return fees_pb2.CloseInvoicePeriodResponse(invoice=_invoice_proto(issued))

    @rpc
    async def GetInvoice(self, request: fees_pb2.GetInvoiceRequest, ctx: CommandContext,
                         context: Any) -> Any:
        if not request.invoice_id:
            raise InvalidArgument("required", field="invoice_id")
        client_id = await self.projections.invoice_client(self.pool, ctx.tenant_id,
                                                          request.invoice_id)
        if client_id is None:
            raise NotFound(f"invoice {request.invoice_id} not found")
        issued = await self.blocking(self.app.invoice, ctx.tenant_id, client_id,
                                     request.invoice_id)
        return fees_pb2.GetInvoiceResponse(invoice=_invoice_proto(issued))

    @rpc
    async def ListInvoices(self, request: fees_pb2.ListInvoicesRequest, ctx: CommandContext,
                           context: Any) -> Any:
        violations = Violations()
        client_id = mapping.require_text(request.client_id, "client_id", violations)
        violations.raise_if_any()
        issued = await self.blocking(self.app.invoices, ctx.tenant_id, client_id)
        return fees_pb2.ListInvoicesResponse(invoices=[_invoice_proto(i) for i in issued])

    @rpc
    async def GetRoiReport(self, request: fees_pb2.GetRoiReportRequest, ctx: CommandContext,
                           context: Any) -> Any:
        violations = Violations()
        client_id = mapping.require_text(request.client_id, "client_id", violations)
        start = mapping.parse_date(request.period_start, "period_start", violations)
        end = mapping.parse_date(request.period_end, "period_end", violations)
        if start and end and end < start:
            violations.add("period_end", "must not be before period_start")
        violations.raise_if_any()
        assert start is not None and end is not None
        entries = await self.projections.roi_entries(self.pool, ctx.tenant_id, client_id,
                                                     start, end)
        return mapping.roi_to_proto(client_id, start, end, roi_report(entries))
