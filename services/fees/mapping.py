"""Proto ↔ domain conversions for the fees service (the only place that knows both)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from oonledger.fees.v1 import fees_pb2
from services.common.errors import Violations
from services.fees.arithmetic import FeeComputation
from services.fees.assessment import FeeCause, FeeLine, FeeLineKind
from services.fees.roi import RoiFigures, RoiReport
from services.fees.schedule import FeeBase, FeeTerms, ResolutionStage, ScheduleVersion, Tier

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


def parse_date(text: str, field: str, violations: Violations, *,
               required: bool = True) -> dt.date | None:
    if not text:
        violations.check(not required, field, "required (ISO-8601 date, e.g. 2026-11-27)")
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        violations.add(field, f"not an ISO-8601 date: {text!r}")
        return None


def require_text(value: str, field: str, violations: Violations) -> str:
    violations.check(bool(value.strip()), field, "required")
    return value.strip()


def stage_from_proto(value: int, violations: Violations) -> ResolutionStage:
    stage = _STAGE_FROM_PROTO.get(value)
    if stage is None:
        violations.add("stage", f"unknown resolution stage {value}")
        return ResolutionStage.UNSPECIFIED
    return stage


def terms_from_proto(terms: fees_pb2.FeeTerms, violations: Violations) -> FeeTerms:
    base = _BASE_FROM_PROTO.get(terms.base)
    if base is None:
        violations.add("terms.base", f"unknown fee base {terms.base}")
        base = FeeBase.INCREMENTAL
    if terms.cap_cents < 0:
        violations.add("terms.cap_cents", "must not be negative (0 means no cap)")

    def tiers(items: Iterable[fees_pb2.Tier]) -> tuple[Tier, ...]:
        return tuple(Tier(item.floor_cents, item.rate_bps) for item in items)

    return FeeTerms(
        default_tiers=tiers(terms.default_tiers),
        open_negotiation_tiers=tiers(terms.open_negotiation_tiers),
        idr_tiers=tiers(terms.idr_tiers),
        base=base,
        include_interest=terms.include_interest,
        minimum_cents=terms.minimum_cents,
        cap_cents=terms.cap_cents or None,
        flat_fee_cents=terms.flat_fee_cents,
        pass_through_idr_fees=terms.pass_through_idr_fees,
    )


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


def schedule_to_proto(schedule_id: str, client_id: str, versions: Iterable[ScheduleVersion],
                      published_at: Mapping[int, dt.datetime]) -> fees_pb2.FeeSchedule:
    return fees_pb2.FeeSchedule(
        schedule_id=schedule_id,
        client_id=client_id,
        versions=[
            fees_pb2.FeeScheduleVersion(
                version=v.version,
                effective_from=v.effective_from.isoformat(),
                effective_until=v.effective_until.isoformat() if v.effective_until else "",
                terms=terms_to_proto(v.terms),
                published_at=published_at[v.version].isoformat()
                if v.version in published_at else "",
            )
            for v in versions
        ],
    )


def preview_to_proto(computation: FeeComputation, delta_cents: int,
                     version: int) -> fees_pb2.PreviewFeeResponse:
    return fees_pb2.PreviewFeeResponse(
        recovered_cents=computation.recovered_cents,
        fee_cents=computation.fee_cents,
        delta_cents=delta_cents,
        schedule_version=version,
        minimum_applied=computation.minimum_applied,
        cap_applied=computation.cap_applied,
        limited_to_recovered=computation.limited_to_recovered,
    )


def line_to_proto(line: FeeLine, invoice_id: str = "") -> fees_pb2.FeeLine:
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
    )


def line_record_to_proto(record: Mapping[str, Any], invoice_id: str = "") -> fees_pb2.FeeLine:
    """A line as stored in events and the read model (dates as ISO text or `date`)."""
    line_date = record["line_date"]
    return fees_pb2.FeeLine(
        line_id=str(record["line_id"]),
        kind=_KIND_TO_PROTO[FeeLineKind(record["kind"])],
        cause=_CAUSE_TO_PROTO[FeeCause(record["cause"])],
        amount_cents=int(record["amount_cents"]),
        line_date=line_date if isinstance(line_date, str) else line_date.isoformat(),
        claim_id=str(record["claim_id"]),
        client_id=str(record["client_id"]),
        remittance_trn=str(record["remittance_trn"]),
        schedule_version=int(record["schedule_version"]),
        source_event_id=str(record["source_event_id"]),
        cumulative_recovered_cents=int(record["cumulative_recovered_cents"]),
        cumulative_fee_cents=int(record["cumulative_fee_cents"]),
        invoice_id=invoice_id or str(record.get("invoice_id") or ""),
    )


def roi_figures_to_proto(figures: RoiFigures) -> fees_pb2.RoiFigures:
    return fees_pb2.RoiFigures(
        claims=figures.claims,
        initial_payments_cents=figures.initial_payments_cents,
        recovered_cents=figures.recovered_cents,
        fees_cents=figures.fees_cents,
        pass_through_cents=figures.pass_through_cents,
        net_to_client_cents=figures.net_to_client_cents,
        uplift_bps=figures.uplift_bps,
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


def stage_to_proto(stage: ResolutionStage) -> int:
    return _STAGE_TO_PROTO[stage]
