"""Invoices: closing a client's period bills every line not yet invoiced, dated up to its end.

An issued invoice never changes. A line dated inside an already closed period (a late reversal,
say) is not lost and does not reopen anything: it lands on the next invoice, as a credit memo when
negative.

The ClientBilling aggregate (one per client) holds the invoices issued and the lines they billed.
Closing periods for one client goes through this one aggregate, so two concurrent closes can
never bill the same line twice (the second save conflicts and is retried against the first).
An invoice is recorded as `InvoiceIssued` (its header and totals) followed, in the same save,
by `InvoiceLinesRecorded` events of at most LINES_PER_EVENT lines each: a client billed for
50,000 payments in a month still gets messages of a bounded size (docs/decisions.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.errors import FieldViolation
from services.common.ids import deterministic_id
from services.fees.domain.assessment import FeeLine, LineRecord, line_from_record, line_to_record

INVOICE_NAMESPACE = uuid.UUID("0b8d7c6e-3a41-4e57-8f0d-5c2b9e1a4d73")
# A line record is a few hundred bytes as JSON: 250 of them stay far below the event budget.
LINES_PER_EVENT = 250


@dataclass(frozen=True)
class InvoiceDraft:
    invoice_id: str
    client_id: str
    period_start: dt.date
    period_end: dt.date
    lines: tuple[FeeLine, ...]

    @property
    def charges_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines if line.amount_cents > 0)

    @property
    def credits_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines if line.amount_cents < 0)

    @property
    def total_cents(self) -> int:
        return self.charges_cents + self.credits_cents


@dataclass(frozen=True)
class EraTotal:
    """An invoice's lines netted per ERA (deposit): a reversal and the correction that follows
    it in the same 835 stay two lines and net to one amount here (DOMAIN.md §4)."""

    trace_number: str
    deposit_date: dt.date | None
    net_cents: int
    line_count: int


def era_totals(lines: Iterable[FeeLine]) -> list[EraTotal]:
    """Per trace number (the ERA's TRN02; a pass-through's dispute number), in first-line
    order."""
    totals: dict[str, EraTotal] = {}
    for line in lines:
        seen = totals.get(line.remittance_trn)
        day = line.references.deposit_date
        if seen is None:
            totals[line.remittance_trn] = EraTotal(line.remittance_trn, day, line.amount_cents, 1)
        else:
            totals[line.remittance_trn] = EraTotal(
                seen.trace_number, seen.deposit_date or day,
                seen.net_cents + line.amount_cents, seen.line_count + 1)
    return list(totals.values())


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
                  candidates: Iterable[FeeLine],
                  already_invoiced: frozenset[str]) -> InvoiceDraft:
    lines = sorted(
        (line for line in candidates
         if line.line_date <= end and line.line_id not in already_invoiced),
        key=lambda line: (line.line_date, line.line_id),
    )
    return InvoiceDraft(invoice_id, client_id, start, end, tuple(lines))


@dataclass
class Invoice:
    """An issued invoice: its header from InvoiceIssued, its lines from InvoiceLinesRecorded."""

    invoice_id: str
    client_id: str
    period_start: dt.date
    period_end: dt.date
    charges_cents: int
    credits_cents: int
    total_cents: int
    line_count: int
    timestamp: dt.datetime
    lines: list[FeeLine] = field(default_factory=list)


def billing_id_for(tenant_id: str, client_id: str) -> uuid.UUID:
    return deterministic_id(tenant_id, "client-billing", client_id)


class ClientBilling(TenantAggregate):
    class ClientBillingOpened(TenantAggregate.Created):
        client_id: str

    class InvoiceIssued(TenantAggregate.Event):
        """v2: the header and totals; the lines follow as InvoiceLinesRecorded events (a v1
        event carries its `lines` inline and has no such events)."""

        class_version = 2
        invoice_id: str
        client_id: str
        period_start: dt.date
        period_end: dt.date
        charges_cents: int
        credits_cents: int
        total_cents: int
        line_count: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["line_count"] = len(state["lines"])

        def apply(self, aggregate: ClientBilling) -> None:
            aggregate.invoices[self.invoice_id] = Invoice(
                self.invoice_id, self.client_id, self.period_start, self.period_end,
                self.charges_cents, self.credits_cents, self.total_cents, self.line_count,
                self.timestamp)
            aggregate.add_lines(self.invoice_id, self.inline_lines())

        def inline_lines(self) -> list[LineRecord]:
            """The lines a v1 event carried inline (none since v2)."""
            return list(getattr(self, "lines", []))

    class InvoiceLinesRecorded(TenantAggregate.Event):
        invoice_id: str
        lines: list[LineRecord]
        """The billed lines (as the fee account recorded them), in invoice order."""

        def apply(self, aggregate: ClientBilling) -> None:
            aggregate.add_lines(self.invoice_id, self.lines)

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.invoices: dict[str, Invoice] = {}
        self.invoiced_line_ids: set[str] = set()

    def add_lines(self, invoice_id: str, records: Sequence[LineRecord]) -> None:
        lines = [line_from_record(record) for record in records]
        self.invoices[invoice_id].lines.extend(lines)
        self.invoiced_line_ids.update(line.line_id for line in lines)

    @classmethod
    def open(cls, ctx: CommandContext, client_id: str) -> ClientBilling:
        return cls._start(cls.ClientBillingOpened, ctx.with_request(""),
                          id=billing_id_for(ctx.tenant_id, client_id), client_id=client_id)

    def close_period(self, ctx: CommandContext, start: dt.date, end: dt.date,
                     candidates: Iterable[FeeLine]) -> str:
        """Issue the period's invoice from `candidates`; closing a period twice returns the
        invoice already issued, unchanged."""
        invoice_id = invoice_id_for(ctx.tenant_id, self.client_id, start, end)
        if invoice_id in self.invoices:
            return invoice_id
        draft = draft_invoice(invoice_id, self.client_id, start, end, candidates,
                              frozenset(self.invoiced_line_ids))
        records = [line_to_record(line) for line in draft.lines]
        self._record(self.InvoiceIssued, ctx, invoice_id=invoice_id, client_id=self.client_id,
                     period_start=start, period_end=end, charges_cents=draft.charges_cents,
                     credits_cents=draft.credits_cents, total_cents=draft.total_cents,
                     line_count=len(records))
        for at in range(0, len(records), LINES_PER_EVENT):
            self._record(self.InvoiceLinesRecorded, ctx, invoice_id=invoice_id,
                         lines=records[at:at + LINES_PER_EVENT])
        return invoice_id
