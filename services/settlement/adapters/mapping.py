"""Proto <-> domain conversions for the settlement service (the only place they happen)."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any
from uuid import UUID

from oonledger.settlement.v1 import settlement_pb2 as pb
from services.common.errors import Violations
from services.common.phi import PhiKeys
from services.settlement.application import ImportOutcome, ImportResult
from services.settlement.domain import (
    AMBIGUOUS,
    MATCHED,
    RESOLVED_BY_HAND,
    UNMATCHED,
    BookViolation,
    JournalTransaction,
    ManualPaymentMethod,
    RemittanceRecord,
    Settlement,
    SettlementStatus,
    UnmatchedClaimPayment,
    UnmatchedServiceLine,
    settlement_status,
)

_INDEX = re.compile(r"[0-9a-f]{64}")
_STATUS = {
    SettlementStatus.AWAITING_PAYMENT: pb.SETTLEMENT_STATUS_AWAITING_PAYMENT,
    SettlementStatus.PARTLY_PAID: pb.SETTLEMENT_STATUS_PARTLY_PAID,
    SettlementStatus.PAID: pb.SETTLEMENT_STATUS_PAID,
    SettlementStatus.OVERPAID: pb.SETTLEMENT_STATUS_OVERPAID,
    SettlementStatus.OVERDUE: pb.SETTLEMENT_STATUS_OVERDUE,
}
METHODS: dict[int, ManualPaymentMethod] = {
    pb.PAYMENT_METHOD_CHECK: ManualPaymentMethod.CHECK,
    pb.PAYMENT_METHOD_EFT: ManualPaymentMethod.EFT,
    pb.PAYMENT_METHOD_VIRTUAL_CARD: ManualPaymentMethod.VIRTUAL_CARD,
}
_LINE_OUTCOME = {
    MATCHED: pb.LINE_MATCH_OUTCOME_MATCHED,
    UNMATCHED: pb.LINE_MATCH_OUTCOME_UNMATCHED,
    AMBIGUOUS: pb.LINE_MATCH_OUTCOME_AMBIGUOUS,
}
_IMPORT = {
    ImportOutcome.POSTED: pb.IMPORT_STATUS_POSTED,
    ImportOutcome.ALREADY_IMPORTED: pb.IMPORT_STATUS_ALREADY_IMPORTED,
    ImportOutcome.QUARANTINED: pb.IMPORT_STATUS_QUARANTINED,
}


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""


def _readable(icn: str) -> str:
    """A payment's ICN as a person reads it: the initial adjudication's is known only by its
    keyed hash (the claims service publishes no plain ICN), which is shown as unknown."""
    return "" if _INDEX.fullmatch(icn) else icn


# -- requests ------------------------------------------------------------------------------------
# Dates, cents, enums and text are read by services/common/fields.py.
def parse_uuid(v: Violations, field: str, value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        v.add(field, "is not a valid id")
        return None


# -- responses ---------------------------------------------------------------------------------
def payment_line(d: dict[str, Any]) -> pb.PaymentLine:
    """A stored `LineMatch.to_dict()` (rule 5) as the API shows it."""
    return pb.PaymentLine(
        line_ordinal=d["svc"],
        procedure_code=d["procedure_code"],
        modifiers=d["modifiers"],
        service_date=d["service_date"],
        charge_cents=d["charge_cents"],
        paid_cents=d["paid_cents"],
        reported_line_control_number=d["reported_line_control_number"],
        outcome=_LINE_OUTCOME.get(d["outcome"], pb.LINE_MATCH_OUTCOME_UNSPECIFIED),
        rule=d["rule"],
        claim_line=d["claim_line"],
        claim_line_control_number=d["claim_line_control_number"],
        candidate_lines=d["candidates"],
        reason=d["reason"],
    )


def _stored_lines(value: Any) -> list[dict[str, Any]]:
    return list(json.loads(value) if isinstance(value, str) else value or [])


def settlement_from_aggregate(s: Settlement, as_of: date) -> pb.Settlement:
    return pb.Settlement(
        settlement_id=str(s.id),
        claim_id=s.claim_id,
        source=s.source,
        source_ref=s.source_ref,
        payer_id=s.payer_key,
        agreed_total_cents=s.agreed_total_cents,
        patient_cost_sharing_cents=s.patient_cost_sharing_cents,
        already_paid_cents=s.already_paid_cents,
        amount_owed_cents=s.amount_owed_cents,
        paid_cents=s.paid_cents,
        outstanding_cents=s.outstanding_cents,
        interest_cents=s.interest_cents,
        patient_balance_cents=s.patient_balance_cents,
        decided_on=_iso(s.decided_on),
        due_date=_iso(s.due_date),
        status=_STATUS[s.status(as_of)],
        nsa_protected=s.nsa_protected,
        payments=[
            pb.Payment(
                payment_id=p.payment_id,
                amount_cents=p.amount_cents,
                method=p.method,
                reference=p.reference,
                payer_claim_control_number=_readable(p.payer_claim_control_number),
                paid_on=_iso(p.paid_on),
                reversed=p.reversed,
                lines=[payment_line(x.to_dict()) for x in p.line_matches],
            )
            for p in s.payments.values()
        ],
    )


def _row_status(row: Any, as_of: date) -> int:
    return _STATUS[
        settlement_status(
            plan_share_cents=row["agreed_total_cents"] - row["patient_cost_sharing_cents"],
            paid_cents=row["paid_cents"],
            already_paid_cents=row["already_paid_cents"],
            due_date=row["due_date"],
            as_of=as_of,
        )
    ]


def settlement_from_row(
    row: Any, payments: list[Any], as_of: date, keys: PhiKeys
) -> pb.Settlement:
    plan_share = row["agreed_total_cents"] - row["patient_cost_sharing_cents"]
    return pb.Settlement(
        settlement_id=str(row["settlement_id"]),
        claim_id=row["claim_id"],
        source=row["source"],
        source_ref=row["source_ref"],
        payer_id=row["payer_id"],
        agreed_total_cents=row["agreed_total_cents"],
        patient_cost_sharing_cents=row["patient_cost_sharing_cents"],
        already_paid_cents=row["already_paid_cents"],
        amount_owed_cents=row["amount_owed_cents"],
        paid_cents=row["paid_cents"],
        outstanding_cents=plan_share - row["paid_cents"],
        interest_cents=row["interest_cents"],
        patient_balance_cents=row["patient_balance_cents"],
        decided_on=_iso(row["decided_on"]),
        due_date=_iso(row["due_date"]),
        status=_row_status(row, as_of),  # type: ignore[arg-type]
        nsa_protected=row["nsa_protected"],
        payments=[
            pb.Payment(
                payment_id=p["payment_id"],
                amount_cents=p["amount_cents"],
                method=p["method"],
                reference=p["reference"],
                payer_claim_control_number=keys.unseal(p["payer_claim_control_number_sealed"]),
                paid_on=_iso(p["paid_on"]),
                reversed=p["reversed"],
                remittance_id=p["remittance_id"],
                lines=[payment_line(x) for x in _stored_lines(p["lines"])],
            )
            for p in payments
        ],
    )


def open_item(row: Any, as_of: date) -> pb.OpenItem:
    return pb.OpenItem(
        claim_id=row["claim_id"],
        payer_id=row["payer_id"],
        outstanding_cents=row["agreed_total_cents"]
        - row["patient_cost_sharing_cents"]
        - row["paid_cents"],
        due_date=_iso(row["due_date"]),
        status=_row_status(row, as_of),  # type: ignore[arg-type]
    )


def remittance_summary(r: RemittanceRecord) -> pb.RemittanceSummary:
    return pb.RemittanceSummary(
        remittance_id=str(r.id),
        trace_number=r.trace_number,
        payer_id=r.payer_id,
        payment_date=_iso(r.payment_date),
        total_paid_cents=r.total_paid_cents,
        claim_count=r.claim_count,
        matched_count=r.matched_count,
        exception_count=r.exception_count,
    )


def import_response(result: ImportResult) -> pb.ImportRemittanceResponse:
    return pb.ImportRemittanceResponse(
        file_id=str(result.file_id),
        status=_IMPORT[result.outcome],
        reasons=result.reasons,
        warnings=result.warnings,
        remittances=[remittance_summary(r) for r in result.remittances],
    )


def exception_from_aggregate(
    e: UnmatchedClaimPayment | UnmatchedServiceLine,
) -> pb.PaymentException:
    if isinstance(e, UnmatchedServiceLine):
        return line_exception_from_aggregate(e)
    return pb.PaymentException(
        exception_id=str(e.id),
        remittance_id=e.remittance_id,
        trace_number=e.trace_number,
        claim_ordinal=e.ordinal,
        patient_control_number=e.patient_control_number,
        payer_claim_control_number=e.payer_claim_control_number,
        paid_cents=e.paid_cents,
        reason=e.reason,
        resolved=bool(e.resolved_claim_id),
        resolved_claim_id=e.resolved_claim_id,
        kind=pb.EXCEPTION_KIND_CLAIM,
        resolution_cause=e.resolution_cause,
        automatic_posting_refusal=e.refusal_reason,
        automatic_posting_refused_at=e.refused_at,
    )


def line_exception_from_aggregate(e: UnmatchedServiceLine) -> pb.PaymentException:
    resolved = bool(e.resolved_line_control_number)
    return pb.PaymentException(
        exception_id=str(e.id),
        remittance_id=e.remittance_id,
        trace_number=e.trace_number,
        claim_ordinal=e.ordinal,
        patient_control_number=e.patient_control_number,
        payer_claim_control_number=e.payer_claim_control_number,
        claim_status_code=e.status_code,
        charge_cents=e.charge_cents,
        paid_cents=e.paid_cents,
        reason=e.reason,
        candidate_claim_id=e.claim_id,
        resolved=resolved,
        resolved_claim_id=e.claim_id if resolved else "",
        kind=pb.EXCEPTION_KIND_SERVICE_LINE,
        claim_id=e.claim_id,
        line_ordinal=e.line_ordinal,
        line_control_number=e.line_control_number,
        procedure_code=e.procedure_code,
        service_date=_iso(e.service_date),
        line_outcome=_LINE_OUTCOME.get(e.outcome, pb.LINE_MATCH_OUTCOME_UNSPECIFIED),
        candidate_lines=e.candidate_lines,
        resolved_line_control_number=e.resolved_line_control_number,
    )


def exception_from_row(r: Any, keys: PhiKeys) -> pb.PaymentException:
    return pb.PaymentException(
        exception_id=str(r["exception_id"]),
        remittance_id=r["remittance_id"],
        trace_number=r["trace_number"],
        claim_ordinal=r["ordinal"],
        patient_control_number=keys.unseal(r["patient_control_number_sealed"]),
        payer_claim_control_number=keys.unseal(r["payer_claim_control_number_sealed"]),
        claim_status_code=r["status_code"],
        charge_cents=r["charge_cents"],
        paid_cents=r["paid_cents"],
        reason=r["reason"],
        candidate_claim_id=r["candidate_claim_id"],
        resolved=bool(r["resolved_claim_id"]),
        resolved_claim_id=r["resolved_claim_id"],
        kind=(pb.EXCEPTION_KIND_SERVICE_LINE if r["kind"] == "line" else pb.EXCEPTION_KIND_CLAIM),
        claim_id=r["claim_id"],
        line_ordinal=r["line_ordinal"],
        line_control_number=r["line_control_number"],
        procedure_code=r["procedure_code"],
        service_date=_iso(r["service_date"]),
        line_outcome=_LINE_OUTCOME.get(r["line_outcome"], pb.LINE_MATCH_OUTCOME_UNSPECIFIED),
        candidate_lines=list(r["candidate_lines"]),
        resolved_line_control_number=r["resolved_line_control_number"],
        # A claim exception resolved before the cause was kept was resolved by hand.
        resolution_cause=r["resolution_cause"] or (
            RESOLVED_BY_HAND if r["resolved_claim_id"] and r["kind"] != "line" else ""),
        automatic_posting_refusal=r["automatic_posting_refusal"],
        automatic_posting_refused_at=r["automatic_posting_refused_at"],
    )


def quarantined_file(r: Any) -> pb.QuarantinedFile:
    return pb.QuarantinedFile(
        file_id=str(r["file_id"]),
        file_name=r["file_name"],
        content_sha256=r["content_sha256"],
        reasons=list(r["reasons"]),
        trace_numbers=list(r["trace_numbers"]),
    )


def journal_transaction(row: Any, tx: JournalTransaction) -> pb.JournalTransaction:
    return pb.JournalTransaction(
        transaction_id=tx.transaction_id,
        description=tx.description,
        reverses=tx.reverses,
        claim_id=row["claim_id"],
        remittance_id=row["remittance_id"],
        postings=[
            pb.Posting(account=p.account.value, amount_cents=p.amount_cents) for p in tx.postings
        ],
    )


def book_check(
    count: int, violations: list[BookViolation], balances: dict[str, int]
) -> pb.CheckBookResponse:
    return pb.CheckBookResponse(
        transactions_checked=count,
        violations=[
            pb.BookViolation(transaction_id=v.transaction_id, rule=v.rule, detail=v.detail)
            for v in violations
        ],
        account_balances=balances,
    )


# -- whole responses ------------------------------------------------------------------------------
def post_payment_response(payment_id: str, s: Settlement, as_of: date) -> pb.PostPaymentResponse:
    return pb.PostPaymentResponse(payment_id=payment_id,
                                  settlement=settlement_from_aggregate(s, as_of))


def reverse_payment_response(s: Settlement, as_of: date) -> pb.ReversePaymentResponse:
    return pb.ReversePaymentResponse(settlement=settlement_from_aggregate(s, as_of))


def patient_responsibility_response(
    s: Settlement, as_of: date
) -> pb.RecordPatientResponsibilityResponse:
    return pb.RecordPatientResponsibilityResponse(settlement=settlement_from_aggregate(s, as_of))


def resolve_exception_response(
    item: UnmatchedClaimPayment | UnmatchedServiceLine, s: Settlement, as_of: date
) -> pb.ResolveExceptionResponse:
    return pb.ResolveExceptionResponse(exception=exception_from_aggregate(item),
                                       settlement=settlement_from_aggregate(s, as_of))


def flag_overdue_response(flagged: int) -> pb.FlagOverdueSettlementsResponse:
    return pb.FlagOverdueSettlementsResponse(flagged_count=flagged)


def get_settlement_response(
    row: Any, payments: list[Any], as_of: date, keys: PhiKeys
) -> pb.GetSettlementResponse:
    return pb.GetSettlementResponse(settlement=settlement_from_row(row, payments, as_of, keys))


def open_items_response(
    rows: list[Any], total: int, as_of: date, next_token: str
) -> pb.ListOpenItemsResponse:
    return pb.ListOpenItemsResponse(items=[open_item(r, as_of) for r in rows],
                                    total_outstanding_cents=total, next_page_token=next_token)


def overdue_response(rows: list[Any], as_of: date, next_token: str) -> pb.ListOverdueResponse:
    return pb.ListOverdueResponse(items=[open_item(r, as_of) for r in rows],
                                  next_page_token=next_token)


def exceptions_response(
    rows: list[Any], keys: PhiKeys, next_token: str
) -> pb.ListExceptionsResponse:
    return pb.ListExceptionsResponse(exceptions=[exception_from_row(r, keys) for r in rows],
                                     next_page_token=next_token)


def quarantined_files_response(rows: list[Any], next_token: str
                               ) -> pb.ListQuarantinedFilesResponse:  # fmt: skip
    return pb.ListQuarantinedFilesResponse(files=[quarantined_file(r) for r in rows],
                                           next_page_token=next_token)


def postings_response(
    entries: list[tuple[Any, JournalTransaction]], next_token: str
) -> pb.ListPostingsResponse:
    return pb.ListPostingsResponse(
        transactions=[journal_transaction(row, tx) for row, tx in entries],
        next_page_token=next_token)

