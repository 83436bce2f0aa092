"""The ClientBilling aggregate: one per client; the invoices issued and the lines they billed.

Closing periods for one client goes through this one aggregate, so two concurrent closes can
never bill the same line twice (the second save conflicts and is retried against the first).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.ids import deterministic_id
from services.fees.invoicing import BillableLine, InvoiceDraft, draft_invoice, invoice_id_for


def billing_id_for(tenant_id: str, client_id: str) -> Any:
    return deterministic_id(tenant_id, "client-billing", client_id)


class ClientBilling(TenantAggregate):
    class ClientBillingOpened(TenantAggregate.Created):
        client_id: str

    class InvoiceIssued(TenantAggregate.Event):
        invoice_id: str
        client_id: str
        period_start: dt.date
        period_end: dt.date
        lines: list[dict[str, Any]]
        """Snapshots of the billed lines (as the fee account recorded them)."""
        charges_cents: int
        credits_cents: int
        total_cents: int

        def apply(self, aggregate: ClientBilling) -> None:
            aggregate.invoices[self.invoice_id] = self
            aggregate.invoiced_line_ids.update(line["line_id"] for line in self.lines)

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.invoices: dict[str, ClientBilling.InvoiceIssued] = {}
        self.invoiced_line_ids: set[str] = set()

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
        self._record(self.InvoiceIssued, ctx, invoice_id=invoice_id, client_id=self.client_id,
                     period_start=start,
                     period_end=end, lines=[by_id[line.line_id] for line in draft.lines],
                     charges_cents=draft.charges_cents, credits_cents=draft.credits_cents,
                     total_cents=draft.total_cents)
        return invoice_id
