"""An X12 835 (005010X221A1) as it was written: immutable values, amounts in integer cents.

Neutral: no rule of any service. Settlement maps these to its remittance domain
(services/settlement/adapters/x12.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One CAS triplet: group (CO/PR/OA/PI, legacy CR), reason code (CARC), amount, quantity."""

    group: str
    reason: str
    amount_cents: int
    quantity: str = ""


@dataclass(frozen=True, slots=True)
class ServiceLine:
    """2110 loop: SVC with its service date, line control number (REF*6R) and line adjustments."""

    procedure: tuple[str, ...]
    charge_cents: int
    paid_cents: int
    revenue_code: str = ""
    units_paid: str = ""
    service_date: date | None = None
    line_control_number: str = ""
    adjustments: tuple[Adjustment, ...] = ()
    # SVC06: the procedure as submitted when the payer adjudicated another code (bundling).
    submitted_procedure: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ClaimPayment:
    """2100 loop: one CLP with its adjustments, references, dates and service lines."""

    ordinal: int  # 1-based position of the CLP in its transaction, for messages and exceptions
    patient_control_number: str
    status_code: str
    charge_cents: int
    paid_cents: int
    patient_responsibility_cents: int
    filing_indicator: str = ""
    payer_claim_control_number: str = ""
    facility_code: str = ""
    frequency_code: str = ""
    original_reference: str = ""  # REF*F8: the payer's original claim number (ICN)
    rendering_npi: str = ""
    statement_from: date | None = None
    statement_to: date | None = None
    received_date: date | None = None
    interest_cents: int = 0  # AMT*I: interest paid with this claim, kept apart from the payment
    adjustments: tuple[Adjustment, ...] = ()
    service_lines: tuple[ServiceLine, ...] = ()


@dataclass(frozen=True, slots=True)
class ProviderAdjustment:
    """One PLB reason/amount pair. A positive amount reduces the payment (money taken back)."""

    provider_id: str
    fiscal_period_end: date | None
    reason: str
    reference: str
    amount_cents: int


@dataclass(frozen=True, slots=True)
class ProviderSummary:
    """Header loop 2000: LX with TS3 (provider summary) and TS2 (supplemental, institutional)."""

    assigned_number: str  # LX01
    provider_id: str  # TS301
    facility_code: str  # TS302
    fiscal_period_end: date | None  # TS303
    claim_count: int  # TS304
    total_charge_cents: int  # TS305
    # TS2: DRG amount (TS201), federal-specific (TS202), hospital-specific (TS203), DSH (TS204),
    # capital (TS205), indirect teaching (TS206) — in cents; the rest of TS2 is not kept.
    drg_amounts_cents: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Remittance:
    """One 835 transaction set (ST..SE)."""

    control_number: str
    handling_code: str
    total_paid_cents: int
    credit_debit: str
    payment_method: str
    payment_date: date | None
    trace_number: str
    payer_identifier: str
    payer_name: str = ""
    payer_id: str = ""
    payee_name: str = ""
    payee_npi: str = ""
    payee_tin: str = ""
    production_date: date | None = None
    claims: tuple[ClaimPayment, ...] = ()
    provider_adjustments: tuple[ProviderAdjustment, ...] = field(default_factory=tuple)
    provider_summaries: tuple[ProviderSummary, ...] = ()
