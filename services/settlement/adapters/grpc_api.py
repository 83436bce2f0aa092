"""The SettlementService servicer: validate the request, call the use case, map the answer."""

from __future__ import annotations

from datetime import date
from typing import Any

from oonledger.settlement.v1 import settlement_pb2 as pb
from oonledger.settlement.v1 import settlement_pb2_grpc
from services.common.context import CommandContext
from services.common.errors import NotFound, PermissionDenied, Violations
from services.common.grpc_server import Blocking, rpc
from services.settlement.adapters import mapping
from services.settlement.adapters.remittance_intake import prepare_import
from services.settlement.adapters.sql import Page, SettlementReads
from services.settlement.application import SettlementApplication

POSTING_ROLES = ("finance", "admin", "system")


def _today(ctx: CommandContext) -> date:
    """Calendar facts (due dates, overdue) are US Eastern dates."""
    return ctx.eastern_today


def _require_poster(ctx: CommandContext) -> None:
    if not ctx.has_role(*POSTING_ROLES):
        raise PermissionDenied(f"posting money needs one of the roles: {', '.join(POSTING_ROLES)}")


class SettlementServicer(settlement_pb2_grpc.SettlementServiceServicer):
    def __init__(self, app: SettlementApplication, blocking: Blocking, reads: SettlementReads):
        self.app = app
        self.blocking = blocking
        self.reads = reads

    @rpc
    async def ImportRemittance(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        _require_poster(ctx)
        prepared = await self.blocking(prepare_import, request.content, request.file_name)
        index = await self.reads.claim_index(ctx.tenant_id, prepared, self.app.phi_keys)
        result = await self.blocking(self.app.import_remittance, ctx, prepared, index)
        return mapping.import_response(result)

    @rpc
    async def PostPayment(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        _require_poster(ctx)
        v = Violations()
        claim_id = mapping.require(v, "claim_id", request.claim_id)
        amount = mapping.positive_cents(v, "amount_cents", request.amount_cents)
        method = mapping.payment_method(v, request.method)
        paid_on = mapping.parse_date(v, "paid_on", request.paid_on, default=_today(ctx))
        v.raise_if_any()
        assert paid_on is not None  # narrowed by raise_if_any
        payment_id, settlement = await self.blocking(
            self.app.post_payment,
            ctx,
            claim_id=claim_id,
            amount_cents=amount,
            method=method,
            reference=request.reference.strip(),
            paid_on=paid_on,
        )
        return pb.PostPaymentResponse(
            payment_id=payment_id,
            settlement=mapping.settlement_from_aggregate(settlement, _today(ctx)),
        )

    @rpc
    async def ReversePayment(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        _require_poster(ctx)
        v = Violations()
        claim_id = mapping.require(v, "claim_id", request.claim_id)
        payment_id = mapping.require(v, "payment_id", request.payment_id)
        reason = mapping.require(v, "reason", request.reason)
        v.raise_if_any()
        settlement = await self.blocking(
            self.app.reverse_payment,
            ctx,
            claim_id=claim_id,
            payment_id=payment_id,
            reason=reason,
            on=_today(ctx),
        )
        return pb.ReversePaymentResponse(
            settlement=mapping.settlement_from_aggregate(settlement, _today(ctx))
        )

    @rpc
    async def RecordPatientResponsibility(
        self, request: Any, ctx: CommandContext, context: Any
    ) -> Any:
        _require_poster(ctx)
        v = Violations()
        claim_id = mapping.require(v, "claim_id", request.claim_id)
        v.check(request.amount_cents >= 0, "amount_cents", "must not be negative")
        v.raise_if_any()
        settlement = await self.blocking(
            self.app.record_patient_responsibility,
            ctx,
            claim_id=claim_id,
            amount_cents=request.amount_cents,
        )
        return pb.RecordPatientResponsibilityResponse(
            settlement=mapping.settlement_from_aggregate(settlement, _today(ctx))
        )

    @rpc
    async def ResolveException(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        _require_poster(ctx)
        v = Violations()
        exception_id = mapping.parse_uuid(v, "exception_id", request.exception_id)
        claim_id = mapping.require(v, "claim_id", request.claim_id)
        v.raise_if_any()
        line_control_number = request.line_control_number.strip()
        known_lines = (
            await self.reads.line_control_numbers(ctx.tenant_id, claim_id)
            if line_control_number
            else frozenset()
        )
        item, settlement = await self.blocking(
            self.app.resolve_exception,
            ctx,
            exception_id=exception_id,
            claim_id=claim_id,
            line_control_number=line_control_number,
            known_lines=known_lines,
        )
        return pb.ResolveExceptionResponse(
            exception=mapping.exception_from_aggregate(item),
            settlement=mapping.settlement_from_aggregate(settlement, _today(ctx)),
        )

    @rpc
    async def FlagOverdueSettlements(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        _require_poster(ctx)
        v = Violations()
        as_of = mapping.parse_date(v, "as_of", request.as_of, default=_today(ctx))
        v.raise_if_any()
        assert as_of is not None  # narrowed by raise_if_any
        claim_ids = await self.reads.overdue_unflagged_claims(ctx.tenant_id, as_of)
        flagged = await self.blocking(self.app.flag_overdue, ctx, claim_ids, as_of)
        return pb.FlagOverdueSettlementsResponse(flagged_count=flagged)

    # -- queries ----------------------------------------------------------------------------------
    @rpc
    async def GetSettlement(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        v = Violations()
        claim_id = mapping.require(v, "claim_id", request.claim_id)
        v.raise_if_any()
        found = await self.reads.settlement(ctx.tenant_id, claim_id)
        if found is None:
            raise NotFound(f"no settlement for claim {claim_id}")
        row, payments = found
        return pb.GetSettlementResponse(
            settlement=mapping.settlement_from_row(row, payments, _today(ctx), self.app.phi_keys)
        )

    @rpc
    async def ListOpenItems(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        page = Page.of(request.page_size, request.page_token)
        rows, total = await self.reads.open_items(ctx.tenant_id, request.payer_id.strip(), page)
        today = _today(ctx)
        return pb.ListOpenItemsResponse(
            items=[mapping.open_item(r, today) for r in rows],
            total_outstanding_cents=total,
            next_page_token=page.next_token(len(rows)),
        )

    @rpc
    async def ListOverdue(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        v = Violations()
        as_of = mapping.parse_date(v, "as_of", request.as_of, default=_today(ctx))
        v.raise_if_any()
        assert as_of is not None  # narrowed by raise_if_any
        page = Page.of(request.page_size, request.page_token)
        rows = await self.reads.overdue(ctx.tenant_id, as_of, page)
        return pb.ListOverdueResponse(
            items=[mapping.open_item(r, as_of) for r in rows],
            next_page_token=page.next_token(len(rows)),
        )

    @rpc
    async def ListExceptions(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        page = Page.of(request.page_size, request.page_token)
        rows = await self.reads.exceptions(ctx.tenant_id, request.include_resolved, page)
        return pb.ListExceptionsResponse(
            exceptions=[mapping.exception_from_row(r, self.app.phi_keys) for r in rows],
            next_page_token=page.next_token(len(rows)),
        )

    @rpc
    async def ListQuarantinedFiles(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        page = Page.of(request.page_size, request.page_token)
        rows = await self.reads.quarantined_files(ctx.tenant_id, page)
        return pb.ListQuarantinedFilesResponse(
            files=[mapping.quarantined_file(r) for r in rows],
            next_page_token=page.next_token(len(rows)),
        )

    @rpc
    async def ListPostings(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        page = Page.of(request.page_size, request.page_token)
        entries = await self.reads.transactions(
            ctx.tenant_id,
            claim_id=request.claim_id.strip(),
            remittance_id=request.remittance_id.strip(),
            page=page,
        )
        return pb.ListPostingsResponse(
            transactions=[mapping.journal_transaction(row, tx) for row, tx in entries],
            next_page_token=page.next_token(len(entries)),
        )

    @rpc
    async def CheckBook(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        count, violations, balances = await self.reads.check_book(ctx.tenant_id)
        return mapping.book_check(count, violations, balances)
