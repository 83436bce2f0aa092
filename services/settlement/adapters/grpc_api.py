"""The SettlementService servicer: read the request, call the use case, map the answer.

Fields are read through services/common/fields.py (one answer lists every bad field); roles are
checked by the use cases (application.py); every message is built in mapping.py.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from oonledger.settlement.v1 import settlement_pb2 as pb
from oonledger.settlement.v1 import settlement_pb2_grpc
from services.common.context import CommandContext
from services.common.errors import NotFound, Violations
from services.common.fields import parse_cents, parse_date, parse_enum, require_text
from services.common.grpc_server import Blocking, rpc
from services.common.import_jobs import ImportJobs
from services.common.import_jobs.servicer import ImportJobMethods
from services.settlement.adapters import mapping
from services.settlement.adapters.import_jobs import read_kind
from services.settlement.adapters.remittance_intake import prepare_import
from services.settlement.adapters.sql import Page, SettlementReads
from services.settlement.application import (
    FlagOverdue,
    ImportRemittance,
    PostPayment,
    RecordPatientResponsibility,
    ResolveException,
    ReversePayment,
    SettlementApplication,
    require_poster,
)


def _today(ctx: CommandContext) -> date:
    """Calendar facts (due dates, overdue) are US Eastern dates."""
    return ctx.eastern_today


def _date_or_today(v: Violations, field: str, text: str, ctx: CommandContext) -> date:
    return parse_date(v, field, text, required=False) or _today(ctx)


class SettlementServicer(ImportJobMethods, settlement_pb2_grpc.SettlementServiceServicer):
    job_messages = pb

    def __init__(self, app: SettlementApplication, blocking: Blocking, reads: SettlementReads,
                 imports: ImportJobs):
        self.app = app
        self.blocking = blocking
        self.reads = reads
        self.imports = imports

    @rpc
    async def ImportRemittance(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        require_poster(ctx)  # before the file is read and the claims looked up
        prepared = await self.blocking(prepare_import, request.content, request.file_name)
        claims = await self.reads.claim_index(ctx.tenant_id, prepared, self.app.phi_keys)
        result = await self.blocking(
            self.app.import_remittance, ctx, ImportRemittance(prepared, claims))
        return mapping.import_response(result)

    # -- 835 import jobs (services/common/import_jobs, adapters/import_jobs.py; the other job
    # RPCs: ImportJobMethods) -----------------------------------------------------------------
    @rpc
    async def StartImport(
        self, request: pb.StartImportRequest, ctx: CommandContext, context: Any
    ) -> pb.StartImportResponse:
        read_kind(request)
        params = pb.StartImportRequest(file_name=request.file_name)
        response: pb.StartImportResponse = await self.start_import(ctx, request, params)
        return response

    @rpc
    async def PostPayment(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        v = Violations()
        claim_id = require_text(v, "claim_id", request.claim_id)
        amount = parse_cents(v, "amount_cents", request.amount_cents)
        method = parse_enum(v, "method", request.method, mapping.METHODS)
        paid_on = _date_or_today(v, "paid_on", request.paid_on, ctx)
        v.raise_if_any()
        assert amount is not None and method is not None  # narrowed by raise_if_any
        command = PostPayment(claim_id, amount, method.value, request.reference.strip(), paid_on)
        payment_id, settlement = await self.blocking(self.app.post_payment, ctx, command)
        return mapping.post_payment_response(payment_id, settlement, _today(ctx))

    @rpc
    async def ReversePayment(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        v = Violations()
        command = ReversePayment(
            claim_id=require_text(v, "claim_id", request.claim_id),
            payment_id=require_text(v, "payment_id", request.payment_id),
            reason=require_text(v, "reason", request.reason),
            reversed_on=_today(ctx),
        )
        v.raise_if_any()
        settlement = await self.blocking(self.app.reverse_payment, ctx, command)
        return mapping.reverse_payment_response(settlement, _today(ctx))

    @rpc
    async def RecordPatientResponsibility(
        self, request: Any, ctx: CommandContext, context: Any
    ) -> Any:
        v = Violations()
        claim_id = require_text(v, "claim_id", request.claim_id)
        amount = parse_cents(v, "amount_cents", request.amount_cents, allow_zero=True)
        v.raise_if_any()
        assert amount is not None  # narrowed by raise_if_any
        settlement = await self.blocking(
            self.app.record_patient_responsibility, ctx,
            RecordPatientResponsibility(claim_id, amount))
        return mapping.patient_responsibility_response(settlement, _today(ctx))

    @rpc
    async def ResolveException(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        v = Violations()
        exception_id = mapping.parse_uuid(v, "exception_id", request.exception_id)
        claim_id = require_text(v, "claim_id", request.claim_id)
        v.raise_if_any()
        assert exception_id is not None  # narrowed by raise_if_any
        line_control_number = request.line_control_number.strip()
        known_lines = (
            await self.reads.line_control_numbers(ctx.tenant_id, claim_id)
            if line_control_number
            else frozenset()
        )
        command = ResolveException(exception_id, claim_id, line_control_number, known_lines,
                                   request.reversed_payment_id.strip())  # fmt: skip
        item, settlement = await self.blocking(self.app.resolve_exception, ctx, command)
        return mapping.resolve_exception_response(item, settlement, _today(ctx))

    @rpc
    async def FlagOverdueSettlements(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        require_poster(ctx)  # before the read model is scanned
        v = Violations()
        as_of = _date_or_today(v, "as_of", request.as_of, ctx)
        v.raise_if_any()
        claim_ids = await self.reads.overdue_unflagged_claims(ctx.tenant_id, as_of)
        flagged = await self.blocking(
            self.app.flag_overdue, ctx, FlagOverdue(tuple(claim_ids), as_of))
        return mapping.flag_overdue_response(flagged)

    # -- queries ----------------------------------------------------------------------------------
    @rpc
    async def GetSettlement(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        v = Violations()
        claim_id = require_text(v, "claim_id", request.claim_id)
        v.raise_if_any()
        found = await self.reads.settlement(ctx.tenant_id, claim_id)
        if found is None:
            raise NotFound(f"no settlement for claim {claim_id}")
        row, payments = found
        return mapping.get_settlement_response(row, payments, _today(ctx), self.app.phi_keys)

    @rpc
    async def ListOpenItems(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        page = Page.of(request.page_size, request.page_token)
        rows, total = await self.reads.open_items(ctx.tenant_id, request.payer_id.strip(), page)
        return mapping.open_items_response(rows, total, _today(ctx), page.next_token(len(rows)))

    @rpc
    async def ListOverdue(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        v = Violations()
        as_of = _date_or_today(v, "as_of", request.as_of, ctx)
        v.raise_if_any()
        page = Page.of(request.page_size, request.page_token)
        rows = await self.reads.overdue(ctx.tenant_id, as_of, page)
        return mapping.overdue_response(rows, as_of, page.next_token(len(rows)))

    @rpc
    async def ListExceptions(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        page = Page.of(request.page_size, request.page_token)
        rows = await self.reads.exceptions(ctx.tenant_id, request.include_resolved, page)
        return mapping.exceptions_response(rows, self.app.phi_keys, page.next_token(len(rows)))

    @rpc
    async def ListQuarantinedFiles(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        page = Page.of(request.page_size, request.page_token)
        rows = await self.reads.quarantined_files(ctx.tenant_id, page)
        return mapping.quarantined_files_response(rows, page.next_token(len(rows)))

    @rpc
    async def ListPostings(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        page = Page.of(request.page_size, request.page_token)
        entries = await self.reads.transactions(
            ctx.tenant_id,
            claim_id=request.claim_id.strip(),
            remittance_id=request.remittance_id.strip(),
            page=page,
        )
        return mapping.postings_response(entries, page.next_token(len(entries)))

    @rpc
    async def CheckBook(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        count, violations, balances = await self.reads.check_book(ctx.tenant_id)
        return mapping.book_check(count, violations, balances)
