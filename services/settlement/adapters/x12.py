"""Settlement ↔ X12 835: the shared 835 reader (services/x12) mapped to the remittance domain.

`read_remittances` keeps the reader's refusals (`RemittanceFormatError`, `NotX12Error`); the
values it returns are settlement's own (services/settlement/remittance.py), which carry the
rules (reversal, payer key, first date of service).
"""

from __future__ import annotations

from services.settlement.domain.remittance import (
    Adjustment,
    ClaimPayment,
    ProviderAdjustment,
    Remittance,
    ServiceLine,
)
from services.x12 import remittance_835 as x835
from services.x12.envelope import NotX12Error, read_delimiters
from services.x12.reader_835 import RemittanceFormatError
from services.x12.reader_835 import read_remittances as read_835

__all__ = [
    "NotX12Error",
    "RemittanceFormatError",
    "read_delimiters",
    "read_remittances",
    "remittance",
]


def read_remittances(text: str) -> list[Remittance]:
    """Every 835 transaction in an interchange, in file order, as settlement's values."""
    return [remittance(r) for r in read_835(text)]


def _adjustments(found: tuple[x835.Adjustment, ...]) -> tuple[Adjustment, ...]:
    return tuple(Adjustment(a.group, a.reason, a.amount_cents, a.quantity) for a in found)


def _line(line: x835.ServiceLine) -> ServiceLine:
    return ServiceLine(
        procedure=line.procedure,
        charge_cents=line.charge_cents,
        paid_cents=line.paid_cents,
        revenue_code=line.revenue_code,
        units_paid=line.units_paid,
        service_date=line.service_date,
        line_control_number=line.line_control_number,
        adjustments=_adjustments(line.adjustments),
        submitted_procedure=line.submitted_procedure,
    )


def _claim(claim: x835.ClaimPayment) -> ClaimPayment:
    return ClaimPayment(
        ordinal=claim.ordinal,
        patient_control_number=claim.patient_control_number,
        status_code=claim.status_code,
        charge_cents=claim.charge_cents,
        paid_cents=claim.paid_cents,
        patient_responsibility_cents=claim.patient_responsibility_cents,
        filing_indicator=claim.filing_indicator,
        payer_claim_control_number=claim.payer_claim_control_number,
        facility_code=claim.facility_code,
        frequency_code=claim.frequency_code,
        original_reference=claim.original_reference,
        rendering_npi=claim.rendering_npi,
        statement_from=claim.statement_from,
        statement_to=claim.statement_to,
        received_date=claim.received_date,
        interest_cents=claim.interest_cents,
        adjustments=_adjustments(claim.adjustments),
        service_lines=tuple(_line(line) for line in claim.service_lines),
    )


def remittance(read: x835.Remittance) -> Remittance:
    """One 835 transaction as settlement's `Remittance`."""
    return Remittance(
        control_number=read.control_number,
        handling_code=read.handling_code,
        total_paid_cents=read.total_paid_cents,
        credit_debit=read.credit_debit,
        payment_method=read.payment_method,
        payment_date=read.payment_date,
        trace_number=read.trace_number,
        payer_identifier=read.payer_identifier,
        payer_name=read.payer_name,
        payer_id=read.payer_id,
        payee_name=read.payee_name,
        payee_npi=read.payee_npi,
        payee_tin=read.payee_tin,
        production_date=read.production_date,
        claims=tuple(_claim(c) for c in read.claims),
        provider_adjustments=tuple(
            ProviderAdjustment(
                p.provider_id, p.fiscal_period_end, p.reason, p.reference, p.amount_cents
            )
            for p in read.provider_adjustments
        ),
    )
