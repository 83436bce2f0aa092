"""Queries over the fees read models (tables made and fed by `projections.py`).

Every query filters on the tenant. Rows come back as domain values (FeeLine, RoiEntry).
"""
# The only interpolated SQL text is the schema name (from validated settings); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

import asyncpg

from services.fees.domain import FeeCause, FeeLine, FeeLineKind, LineReferences, RoiEntry

BASE_COLUMNS = ("line_id, kind, cause, amount_cents, line_date, claim_id, client_id, "
                "remittance_trn, schedule_version, source_event_id, cumulative_recovered_cents, "
                "cumulative_fee_cents")
# The line's references and formula inputs (issue 16; empty on lines recorded before).
REFERENCE_COLUMNS_DDL = (
    "deposit_date date",
    "payer_claim_control_number_index text NOT NULL DEFAULT ''",
    "payer_claim_control_number_sealed text NOT NULL DEFAULT ''",
    "plb_reference_index text NOT NULL DEFAULT ''",
    "plb_reference_sealed text NOT NULL DEFAULT ''",
    "resolution_stage text NOT NULL DEFAULT ''",
    "fee_base text NOT NULL DEFAULT ''",
    "interest_included boolean NOT NULL DEFAULT false",
)
REFERENCE_COLUMNS = ", ".join(ddl.split()[0] for ddl in REFERENCE_COLUMNS_DDL)
LINE_COLUMNS = f"{BASE_COLUMNS}, invoice_id, {REFERENCE_COLUMNS}"


class ListedLine(NamedTuple):
    """A fee line and the invoice that billed it ("" while not invoiced)."""

    line: FeeLine
    invoice_id: str


def _line(row: asyncpg.Record) -> FeeLine:
    return FeeLine(
        line_id=row["line_id"], kind=FeeLineKind(row["kind"]), cause=FeeCause(row["cause"]),
        amount_cents=row["amount_cents"], line_date=row["line_date"], claim_id=row["claim_id"],
        client_id=row["client_id"], remittance_trn=row["remittance_trn"],
        schedule_version=row["schedule_version"], source_event_id=row["source_event_id"],
        cumulative_recovered_cents=row["cumulative_recovered_cents"],
        cumulative_fee_cents=row["cumulative_fee_cents"],
        references=LineReferences(
            deposit_date=row["deposit_date"],
            payer_claim_control_number_index=row["payer_claim_control_number_index"],
            payer_claim_control_number_sealed=row["payer_claim_control_number_sealed"],
            plb_reference_index=row["plb_reference_index"],
            plb_reference_sealed=row["plb_reference_sealed"]),
        resolution_stage=row["resolution_stage"], fee_base=row["fee_base"],
        interest_included=row["interest_included"])


class FeeQueries:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool = pool
        self.s = f'"{schema}"'

    async def lines(self, tenant: str, client_id: str, claim_ids: Sequence[str] = (),
                    from_date: dt.date | None = None, to_date: dt.date | None = None,
                    uninvoiced_only: bool = False) -> list[ListedLine]:
        rows = await self.pool.fetch(
            f"SELECT {LINE_COLUMNS} FROM {self.s}.fee_lines "
            "WHERE tenant_id = $1 AND client_id = $2 "
            "AND (cardinality($3::text[]) = 0 OR claim_id = ANY($3::text[])) "
            "AND ($4::date IS NULL OR line_date >= $4) AND ($5::date IS NULL OR line_date <= $5) "
            "AND (NOT $6 OR invoice_id IS NULL) "
            "ORDER BY line_date, claim_id, line_id",
            tenant, client_id, list(claim_ids), from_date, to_date, uninvoiced_only)
        return [ListedLine(_line(row), row["invoice_id"] or "") for row in rows]

    async def uninvoiced_lines(self, tenant: str, client_id: str,
                               to_date: dt.date) -> tuple[FeeLine, ...]:
        """The client's lines dated up to `to_date` that no invoice has billed yet."""
        rows = await self.lines(tenant, client_id, to_date=to_date, uninvoiced_only=True)
        return tuple(row.line for row in rows)

    async def roi_entries(self, tenant: str, client_id: str, start: dt.date,
                          end: dt.date) -> list[RoiEntry]:
        rows = await self.pool.fetch(
            f"SELECT a.claim_id, c.payer_id, c.service_code, c.initial_payment_cents, "
            "a.recovered_delta_cents, a.fee_delta_cents, a.pass_through_delta_cents, "
            "a.interest_delta_cents "
            f"FROM {self.s}.fee_activity a JOIN {self.s}.fee_claims c "
            "ON c.tenant_id = a.tenant_id AND c.claim_id = a.claim_id "
            "WHERE a.tenant_id = $1 AND c.client_id = $2 "
            "AND a.activity_date BETWEEN $3 AND $4",
            tenant, client_id, start, end)
        return [RoiEntry(row["claim_id"], row["payer_id"], row["service_code"],
                         row["initial_payment_cents"], row["recovered_delta_cents"],
                         row["fee_delta_cents"], row["pass_through_delta_cents"],
                         row["interest_delta_cents"])
                for row in rows]

    async def invoice_client(self, tenant: str, invoice_id: str) -> str | None:
        value = await self.pool.fetchval(
            f"SELECT client_id FROM {self.s}.fee_invoices "
            "WHERE tenant_id = $1 AND invoice_id = $2", tenant, invoice_id)
        return str(value) if value is not None else None
