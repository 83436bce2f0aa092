"""Invoices: closing a client's period bills every line not yet invoiced, dated up to its end.

An issued invoice never changes. A line dated inside an already closed period (a late reversal,
say) is not lost and does not reopen anything: it lands on the next invoice, as a credit memo when
negative.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from services.common.errors import FieldViolation

INVOICE_NAMESPACE = uuid.UUID("0b8d7c6e-3a41-4e57-8f0d-5c2b9e1a4d73")


@dataclass(frozen=True)
class BillableLine:
    line_id: str
    line_date: dt.date
    amount_cents: int


@dataclass(frozen=True)
class InvoiceDraft:
    invoice_id: str
    client_id: str
    period_start: dt.date
    period_end: dt.date
    lines: tuple[BillableLine, ...]

    @property
    def charges_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines if line.amount_cents > 0)

    @property
    def credits_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines if line.amount_cents < 0)

    @property
    def total_cents(self) -> int:
        return self.charges_cents + self.credits_cents


def invoice_id_for(tenant_id: str, client_id: str, start: dt.date, end: dt.date) -> str:
    return str(uuid.uuid5(INVOICE_NAMESPACE, f"{tenant_id}/{client_id}/{start}/{end}"))


def validate_period(start: dt.date, end: dt.date, today: dt.date) -> list[FieldViolation]:
    violations = []
    if end < start:
        violations.append(FieldViolation("period_end", "must not be before period_start"))
    if end >= today:
        violations.append(FieldViolation("period_end", "a period can be closed only after it ends"))
    return violations


def draft_invoice(invoice_id: str, client_id: str, start: dt.date, end: dt.date,
                  candidates: Iterable[BillableLine],
                  already_invoiced: frozenset[str]) -> InvoiceDraft:
    lines = sorted(
        (line for line in candidates
         if line.line_date <= end and line.line_id not in already_invoiced),
        key=lambda line: (line.line_date, line.line_id),
    )
    return InvoiceDraft(invoice_id, client_id, start, end, tuple(lines))
