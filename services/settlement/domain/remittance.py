"""The remittance advice (X12 835) as immutable values: what the payer paid and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


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

    def to_dict(self) -> dict[str, Any]:
        """As kept on a queued claim payment, to be matched (rule 5) when it posts later."""
        return {
            "procedure": list(self.procedure),
            "charge_cents": self.charge_cents,
            "paid_cents": self.paid_cents,
            "revenue_code": self.revenue_code,
            "units_paid": self.units_paid,
            "service_date": self.service_date.isoformat() if self.service_date else "",
            "line_control_number": self.line_control_number,
            "adjustments": [[a.group, a.reason, a.amount_cents, a.quantity]
                            for a in self.adjustments],
            "submitted_procedure": list(self.submitted_procedure),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ServiceLine:
        return cls(
            procedure=tuple(d["procedure"]),
            charge_cents=int(d["charge_cents"]),
            paid_cents=int(d["paid_cents"]),
            revenue_code=d.get("revenue_code", ""),
            units_paid=d.get("units_paid", ""),
            service_date=date.fromisoformat(d["service_date"]) if d.get("service_date") else None,
            line_control_number=d.get("line_control_number", ""),
            adjustments=tuple(
                Adjustment(g, r, int(a), q) for g, r, a, q in d.get("adjustments", [])
            ),
            submitted_procedure=tuple(d.get("submitted_procedure", ())),
        )


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

    @property
    def is_reversal(self) -> bool:
        return self.status_code == "22"

    @property
    def first_service_date(self) -> date | None:
        """First date of service: the earliest line date (DTM*472), else the statement start."""
        line_dates = [line.service_date for line in self.service_lines if line.service_date]
        if line_dates:
            return min(line_dates)
        return self.statement_from

    def all_adjustments(self) -> tuple[Adjustment, ...]:
        line_adjustments = tuple(a for line in self.service_lines for a in line.adjustments)
        return self.adjustments + line_adjustments


@dataclass(frozen=True, slots=True)
class ProviderAdjustment:
    """One PLB reason/amount pair. A positive amount reduces the payment (money taken back)."""

    provider_id: str
    fiscal_period_end: date | None
    reason: str
    reference: str
    amount_cents: int


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

    @property
    def payer_key(self) -> str:
        """Who paid: the payer id (N1*PR04 / REF*2U) or, failing that, the TRN03 originator."""
        return self.payer_id or self.payer_identifier or self.payer_name


@dataclass(frozen=True)
class PreparedImport:
    content_sha256: str
    file_name: str
    size_bytes: int
    remittances: tuple[Remittance, ...]
    reasons: tuple[str, ...]  # non-empty: quarantine the whole file
    warnings: tuple[str, ...]

    @property
    def trace_numbers(self) -> list[str]:
        return [r.trace_number for r in self.remittances]

    def patient_control_numbers(self) -> set[str]:
        return {c.patient_control_number for r in self.remittances for c in r.claims}

    def claim_control_numbers(self) -> set[str]:
        numbers = {
            n
            for r in self.remittances
            for c in r.claims
            for n in (c.payer_claim_control_number, c.original_reference)
            if n
        }
        numbers |= {p.reference for r in self.remittances for p in r.provider_adjustments}
        return numbers - {""}
