"""The ClientBilling aggregate: one per client; the invoices issued and the lines they billed.

Closing periods for one client goes through this one aggregate, so two concurrent closes can
never bill the same line twice (the second save conflicts and is retried against the first).
An invoice is recorded as `InvoiceIssued` (its header and totals) followed, in the same save,
by `InvoiceLinesRecorded` events of at most LINES_PER_EVENT lines each: a client billed for
50,000 payments in a month still gets messages of a bounded size (docs/decisions.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.ids import deterministic_id
from services.fees.invoicing import BillableLine, InvoiceDraft, draft_invoice, invoice_id_for

# A line record is a few hundred bytes as JSON: 250 of them stay far below the event budget.
LINES_PER_EVENT = 250


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
    lines: list[dict[str, Any]] = field(default_factory=list)


def billing_id_for(tenant_id: str, client_id: str) -> Any:
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
            aggregate.add_lines(self.invoice_id, getattr(self, "lines", []))  # v1 inline

    class InvoiceLinesRecorded(TenantAggregate.Event):
        invoice_id: str
        lines: list[dict[str, Any]]
        """Snapshots of the billed lines (as the fee account recorded them), in invoice order."""

        def apply(self, aggregate: ClientBilling) -> None:
            aggregate.add_lines(self.invoice_id, self.lines)

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.invoices: dict[str, Invoice] = {}
        self.invoiced_line_ids: set[str] = set()

    def add_lines(self, invoice_id: str, lines: list[dict[str, Any]]) -> None:
        self.invoices[invoice_id].lines.extend(lines)
        self.invoiced_line_ids.update(line["line_id"] for line in lines)

    @classmethod
    def open(cls, ctx: CommandContext, client_id: str) -> ClientBilling:
        return cls._start(cls.ClientBillingOpened, ctx.with_request(""),
                          id=billing_id_for(ctx.tenant_id, client_id), client_id=client_id)

    def close_period(self, ctx: CommandContext, start: dt.date, end: dt.date,
                     candidates: list[dict[str, Any]]) -> str:
        """Issue the period's invoice from `candidates` (line records); closing a period twice
        returns the invoice already issued, unchanged."""
        invoice_id = invoice_id_for(ctx.tenant_id, self.client_id, start, end)
        if invoice_id in self.invoices:
            return invoice_id
        by_id = {line["line_id"]: line for line in candidates}
        draft: InvoiceDraft = draft_invoice(
            invoice_id, self.client_id, start, end,
            (BillableLine(line["line_id"], dt.date.fromisoformat(line["line_date"]),
                          int(line["amount_cents"])) for line in candidates),
            frozenset(self.invoiced_line_ids),
        )
        lines = [by_id[line.line_id] for line in draft.lines]
        self._record(self.InvoiceIssued, ctx, invoice_id=invoice_id, client_id=self.client_id,
                     period_start=start, period_end=end, charges_cents=draft.charges_cents,
                     credits_cents=draft.credits_cents, total_cents=draft.total_cents,
                     line_count=len(lines))
        for at in range(0, len(lines), LINES_PER_EVENT):
            self._record(self.InvoiceLinesRecorded, ctx, invoice_id=invoice_id,
                         lines=lines[at:at + LINES_PER_EVENT])
        return invoice_id
