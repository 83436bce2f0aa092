"""Proto ↔ domain conversions for the fees service: the only place that knows both, and the only
place FeesService messages are built. Request fields are read through services/common/fields.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from oonledger.fees.v1 import fees_pb2
from services.common.errors import Violations
from services.common.fields import parse_date, parse_enum, require_text
from services.fees.adapters.sql import ListedLine
from services.fees.application import FeePreview, FeeReadout, PreviewFee, PublishSchedule
from services.fees.domain import (
    FeeBase,
    FeeCause,
    FeeComputation,
    FeeLine,
    FeeLineKind,
    FeeSchedule,
    FeeTerms,
    Invoice,
    PaymentFact,
    PaymentKind,
    ResolutionStage,
    RoiFigures,
    RoiReport,
    Tier,
    era_totals,
)

_BASE_FROM_PROTO = {
    fees_pb2.FEE_BASE_UNSPECIFIED: FeeBase.INCREMENTAL,
    fees_pb2.FEE_BASE_INCREMENTAL: FeeBase.INCREMENTAL,
    fees_pb2.FEE_BASE_FULL_AWARD: FeeBase.FULL_AWARD,
}
_BASE_TO_PROTO = {FeeBase.INCREMENTAL: fees_pb2.FEE_BASE_INCREMENTAL,
                  FeeBase.FULL_AWARD: fees_pb2.FEE_BASE_FULL_AWARD}
_STAGE_FROM_PROTO = {
    fees_pb2.RESOLUTION_STAGE_UNSPECIFIED: ResolutionStage.UNSPECIFIED,
    fees_pb2.RESOLUTION_STAGE_OPEN_NEGOTIATION: ResolutionStage.OPEN_NEGOTIATION,
    fees_pb2.RESOLUTION_STAGE_IDR: ResolutionStage.IDR,
}
_STAGE_TO_PROTO = {stage: number for number, stage in _STAGE_FROM_PROTO.items()}
_KIND_TO_PROTO = {FeeLineKind.INVOICE_LINE: fees_pb2.FEE_LINE_KIND_INVOICE_LINE,
                  FeeLineKind.CREDIT_MEMO: fees_pb2.FEE_LINE_KIND_CREDIT_MEMO}
_CAUSE_TO_PROTO = {
    FeeCause.PAYMENT: fees_pb2.FEE_CAUSE_PAYMENT,
    FeeCause.REVERSAL: fees_pb2.FEE_CAUSE_REVERSAL,
    FeeCause.RECOUPMENT: fees_pb2.FEE_CAUSE_RECOUPMENT,
    FeeCause.IDR_FEE_PASS_THROUGH: fees_pb2.FEE_CAUSE_IDR_FEE_PASS_THROUGH,
    FeeCause.INTEREST: fees_pb2.FEE_CAUSE_INTEREST,
}
PREVIEW_EVENT = "preview"


# -- requests -> commands ------------------------------------------------------------------------
def client_id_from(request: fees_pb2.GetFeeScheduleRequest | fees_pb2.ListInvoicesRequest) -> str:
    violations = Violations()
    client_id = require_text(violations, "client_id", request.client_id)
    violations.raise_if_any()
    return client_id


def claim_id_from(request: fees_pb2.GetFeeAccountRequest) -> str:
    violations = Violations()
    claim_id = require_text(violations, "claim_id", request.claim_id)
    violations.raise_if_any()
    return claim_id


def invoice_id_from(request: fees_pb2.GetInvoiceRequest) -> str:
    violations = Violations()
    invoice_id = require_text(violations, "invoice_id", request.invoice_id)
    violations.raise_if_any()
    return invoice_id


def publish_schedule_from_proto(request: fees_pb2.PublishFeeScheduleRequest) -> PublishSchedule:
    violations = Violations()
    client_id = require_text(violations, "client_id", request.client_id)
    start = parse_date(violations, "effective_from", request.effective_from)
    until = parse_date(violations, "effective_until", request.effective_until, required=False)
    terms = terms_from_proto(request.terms, violations)
    violations.raise_if_any()
    assert start is not None
    return PublishSchedule(client_id, start, until, terms)


def preview_from_proto(request: fees_pb2.PreviewFeeRequest) -> PreviewFee:
    violations = Violations()
    day = parse_date(violations, "posting_date", request.posting_date)
    stage = parse_enum(violations, "stage", request.stage, _STAGE_FROM_PROTO)
    violations.check(request.initial_payment_cents >= 0, "initial_payment_cents",
                     "must not be negative")
    violations.check(bool(request.claim_id or request.client_id), "claim_id",
                     "a claim_id or a client_id is required")
    violations.raise_if_any()
    assert day is not None and stage is not None
    kind = PaymentKind.PAYMENT if request.amount_cents >= 0 else PaymentKind.RECOUPMENT
    fact = PaymentFact(PREVIEW_EVENT, kind, request.amount_cents, day, PREVIEW_EVENT,
                       interest_cents=request.interest_cents)
    return PreviewFee(fact, request.claim_id, request.client_id, stage,
                      request.initial_payment_cents)


def _period(request: fees_pb2.CloseInvoicePeriodRequest | fees_pb2.GetRoiReportRequest,
            violations: Violations) -> tuple[str, dt.date | None, dt.date | None]:
    client_id = require_text(violations, "client_id", request.client_id)
    start = parse_date(violations, "period_start", request.period_start)
    end = parse_date(violations, "period_end", request.period_end)
    return client_id, start, end


def period_from_proto(request: fees_pb2.CloseInvoicePeriodRequest) -> tuple[str, dt.date, dt.date]:
    """(client, period start, period end) of the period to close (its rules: the domain's)."""
    violations = Violations()
    client_id, start, end = _period(request, violations)
    violations.raise_if_any()
    assert start is not None and end is not None
    return client_id, start, end


def roi_period_from_proto(request: fees_pb2.GetRoiReportRequest) -> tuple[str, dt.date, dt.date]:
    violations = Violations()
    client_id, start, end = _period(request, violations)
    if start and end and end < start:
        violations.add("period_end", "must not be before period_start")
    violations.raise_if_any()
    assert start is not None and end is not None
    return client_id, start, end


def line_filter_from_proto(
    request: fees_pb2.ListFeeLinesRequest,
) -> tuple[str, list[str], dt.date | None, dt.date | None]:
    """(client, claim ids, from date, to date) of a ListFeeLines request."""
    violations = Violations()
    client_id = require_text(violations, "client_id", request.client_id)
    start = parse_date(violations, "from_date", request.from_date, required=False)
    end = parse_date(violations, "to_date", request.to_date, required=False)
    violations.raise_if_any()
    return client_id, list(request.claim_ids), start, end


def terms_from_proto(terms: fees_pb2.FeeTerms, violations: Violations) -> FeeTerms:
    base = parse_enum(violations, "terms.base", terms.base, _BASE_FROM_PROTO)
    if terms.cap_cents < 0:
        violations.add("terms.cap_cents", "must not be negative (0 means no cap)")

    def tiers(items: Iterable[fees_pb2.Tier]) -> tuple[Tier, ...]:
        return tuple(Tier(item.floor_cents, item.rate_bps) for item in items)

    return FeeTerms(
        default_tiers=tiers(terms.default_tiers),
        open_negotiation_tiers=tiers(terms.open_negotiation_tiers),
        idr_tiers=tiers(terms.idr_tiers),
        base=base or FeeBase.INCREMENTAL,
        include_interest=terms.include_interest,
        minimum_cents=terms.minimum_cents,
        cap_cents=terms.cap_cents or None,
        flat_fee_cents=terms.flat_fee_cents,
        pass_through_idr_fees=terms.pass_through_idr_fees,
    )


# -- domain -> answers ----------------------------------------------------------------------------
def terms_to_proto(terms: FeeTerms) -> fees_pb2.FeeTerms:
    def tiers(items: Iterable[Tier]) -> list[fees_pb2.Tier]:
        return [fees_pb2.Tier(floor_cents=t.floor_cents, rate_bps=t.rate_bps) for t in items]

    return fees_pb2.FeeTerms(
        default_tiers=tiers(terms.default_tiers),
        open_negotiation_tiers=tiers(terms.open_negotiation_tiers),
        idr_tiers=tiers(terms.idr_tiers),
        base=_BASE_TO_PROTO[terms.base],
        include_interest=terms.include_interest,
        minimum_cents=terms.minimum_cents,
        cap_cents=terms.cap_cents or 0,
        flat_fee_cents=terms.flat_fee_cents,
        pass_through_idr_fees=terms.pass_through_idr_fees,
    )


def schedule_to_proto(schedule: FeeSchedule) -> fees_pb2.FeeSchedule:
    published_at = schedule.published_at
    return fees_pb2.FeeSchedule(
        schedule_id=str(schedule.id),
        client_id=schedule.client_id,
        versions=[
            fees_pb2.FeeScheduleVersion(
                version=v.version,
                effective_from=v.effective_from.isoformat(),
                effective_until=v.effective_until.isoformat() if v.effective_until else "",
                terms=terms_to_proto(v.terms),
                published_at=published_at[v.version].isoformat()
                if v.version in published_at else "",
            )
            for v in schedule.versions
        ],
    )


def publish_schedule_response(schedule: FeeSchedule,
                              version: int) -> fees_pb2.PublishFeeScheduleResponse:
    return fees_pb2.PublishFeeScheduleResponse(schedule=schedule_to_proto(schedule),
                                               version=version)


def get_schedule_response(schedule: FeeSchedule) -> fees_pb2.GetFeeScheduleResponse:
    return fees_pb2.GetFeeScheduleResponse(schedule=schedule_to_proto(schedule))


def preview_to_proto(preview: FeePreview) -> fees_pb2.PreviewFeeResponse:
    computation = preview.computation
    return fees_pb2.PreviewFeeResponse(
        recovered_cents=computation.recovered_cents,
        fee_cents=computation.fee_cents,
        delta_cents=preview.delta_cents,
        schedule_version=preview.schedule_version,
        minimum_applied=computation.minimum_applied,
        cap_applied=computation.cap_applied,
        limited_to_recovered=computation.limited_to_recovered,
        fee_before_limits_cents=computation.fee_before_limits_cents,
    )


def line_to_proto(line: FeeLine, invoice_id: str = "") -> fees_pb2.FeeLine:
    refs = line.references
    return fees_pb2.FeeLine(
        line_id=line.line_id,
        kind=_KIND_TO_PROTO[line.kind],
        cause=_CAUSE_TO_PROTO[line.cause],
        amount_cents=line.amount_cents,
        line_date=line.line_date.isoformat(),
        claim_id=line.claim_id,
        client_id=line.client_id,
        remittance_trn=line.remittance_trn,
        schedule_version=line.schedule_version,
        source_event_id=line.source_event_id,
        cumulative_recovered_cents=line.cumulative_recovered_cents,
        cumulative_fee_cents=line.cumulative_fee_cents,
        invoice_id=invoice_id,
        deposit_date=refs.deposit_date.isoformat() if refs.deposit_date else "",
        payer_claim_control_number_index=refs.payer_claim_control_number_index,
        payer_claim_control_number_sealed=refs.payer_claim_control_number_sealed,
        plb_reference_index=refs.plb_reference_index,
        plb_reference_sealed=refs.plb_reference_sealed,
        resolution_stage=_STAGE_TO_PROTO.get(ResolutionStage(line.resolution_stage or
                                                             "UNSPECIFIED"), 0),
        fee_base=line.fee_base,
        interest_included=line.interest_included,
    )


def account_response(readout: FeeReadout) -> fees_pb2.GetFeeAccountResponse:
    account, computation = readout.account, readout.computation
    state = account.state
    fee = computation or FeeComputation(0, 0)
    return fees_pb2.GetFeeAccountResponse(account=fees_pb2.FeeAccount(
        recovered_with_interest_cents=state.incremental_recovered_cents + state.interest_cents,
        recovered_without_interest_cents=state.incremental_recovered_cents,
        fee_base_cents=fee.recovered_cents,
        fee_before_limits_cents=fee.fee_before_limits_cents,
        fee_after_limits_cents=fee.fee_cents,
        minimum_applied=fee.minimum_applied,
        cap_applied=fee.cap_applied,
        limited_to_recovered=fee.limited_to_recovered,
        fee_schedule_version=readout.schedule_version,
        claim_id=state.claim_id,
        client_id=state.client_id,
        stage=_STAGE_TO_PROTO[state.stage],
        initial_payment_cents=state.initial_payment_cents,
        paid_cents=state.paid_cents,
        recouped_cents=state.recouped_cents,
        interest_cents=state.interest_cents,
        recovered_cents=state.incremental_recovered_cents,
        fee_billed_cents=state.fee_billed_cents,
        pass_through_billed_cents=state.pass_through_billed_cents,
        lines=[line_to_proto(line) for line in account.lines],
    ))


def lines_response(rows: Sequence[ListedLine]) -> fees_pb2.ListFeeLinesResponse:
    return fees_pb2.ListFeeLinesResponse(
        lines=[line_to_proto(row.line, row.invoice_id) for row in rows])


def invoice_to_proto(issued: Invoice) -> fees_pb2.Invoice:
    return fees_pb2.Invoice(
        invoice_id=issued.invoice_id,
        client_id=issued.client_id,
        period_start=issued.period_start.isoformat(),
        period_end=issued.period_end.isoformat(),
        lines=[line_to_proto(line, issued.invoice_id) for line in issued.lines],
        charges_cents=issued.charges_cents,
        credits_cents=issued.credits_cents,
        total_cents=issued.total_cents,
        issued_at=issued.timestamp.isoformat(),
        era_totals=[
            fees_pb2.EraTotal(trace_number=era.trace_number,
                              deposit_date=era.deposit_date.isoformat() if era.deposit_date
                              else "", net_cents=era.net_cents, line_count=era.line_count)
            for era in era_totals(issued.lines)],
    )


def close_period_response(issued: Invoice) -> fees_pb2.CloseInvoicePeriodResponse:
    return fees_pb2.CloseInvoicePeriodResponse(invoice=invoice_to_proto(issued))


def get_invoice_response(issued: Invoice) -> fees_pb2.GetInvoiceResponse:
    return fees_pb2.GetInvoiceResponse(invoice=invoice_to_proto(issued))


def invoices_response(issued: Iterable[Invoice]) -> fees_pb2.ListInvoicesResponse:
    return fees_pb2.ListInvoicesResponse(invoices=[invoice_to_proto(i) for i in issued])


def roi_figures_to_proto(figures: RoiFigures) -> fees_pb2.RoiFigures:
    return fees_pb2.RoiFigures(
        claims=figures.claims,
        initial_payments_cents=figures.initial_payments_cents,
        recovered_cents=figures.recovered_cents,
        fees_cents=figures.fees_cents,
        pass_through_cents=figures.pass_through_cents,
        net_to_client_cents=figures.net_to_client_cents,
        uplift_bps=figures.uplift_bps,
        interest_cents=figures.interest_cents,
        recovered_with_interest_cents=figures.recovered_with_interest_cents,
    )


def roi_to_proto(client_id: str, start: dt.date, end: dt.date,
                 report: RoiReport) -> fees_pb2.GetRoiReportResponse:
    return fees_pb2.GetRoiReportResponse(
        client_id=client_id,
        period_start=start.isoformat(),
        period_end=end.isoformat(),
        total=roi_figures_to_proto(report.total),
        by_payer=[fees_pb2.RoiGroup(key=key, figures=roi_figures_to_proto(f))
                  for key, f in report.by_payer.items()],
        by_service_code=[fees_pb2.RoiGroup(key=key, figures=roi_figures_to_proto(f))
                         for key, f in report.by_service_code.items()],
    )
