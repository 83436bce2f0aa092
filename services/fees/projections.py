"""Read models of the fees service (asyncpg), fed from its own event stream.

`fee_lines` lists invoice lines and credit memos per client, `fee_activity` holds every assessed
fact (for ROI), `fee_claims` what is known of each claim, `fee_invoices` the invoice headers.
Every row carries the tenant and every query filters on it.
"""
# The only interpolated SQL text is the schema name (from validated settings); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.common.consumer import Delivery
from services.fees.roi import RoiEntry

LINE_COLUMNS = ("line_id, kind, cause, amount_cents, line_date, claim_id, client_id, "
                "remittance_trn, schedule_version, source_event_id, cumulative_recovered_cents, "
                "cumulative_fee_cents, invoice_id")


def _ddl(schema: str) -> list[str]:
    s = f'"{schema}"'
    return [
        f"""CREATE TABLE IF NOT EXISTS {s}.fee_claims (
            tenant_id text NOT NULL, claim_id text NOT NULL, client_id text NOT NULL,
            payer_id text NOT NULL DEFAULT '', service_code text NOT NULL DEFAULT '',
            initial_payment_cents bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (tenant_id, claim_id))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.fee_lines (
            tenant_id text NOT NULL, line_id text NOT NULL, kind text NOT NULL,
            cause text NOT NULL, amount_cents bigint NOT NULL, line_date date NOT NULL,
            claim_id text NOT NULL, client_id text NOT NULL, remittance_trn text NOT NULL,
            schedule_version bigint NOT NULL, source_event_id text NOT NULL,
            cumulative_recovered_cents bigint NOT NULL, cumulative_fee_cents bigint NOT NULL,
            invoice_id text, PRIMARY KEY (tenant_id, line_id))""",
        f"""CREATE INDEX IF NOT EXISTS fee_lines_by_client
            ON {s}.fee_lines (tenant_id, client_id, line_date)""",
        f"""CREATE TABLE IF NOT EXISTS {s}.fee_activity (
            tenant_id text NOT NULL, claim_id text NOT NULL, source_event_id text NOT NULL,
            activity_date date NOT NULL, recovered_delta_cents bigint NOT NULL,
            fee_delta_cents bigint NOT NULL, pass_through_delta_cents bigint NOT NULL,
            PRIMARY KEY (tenant_id, claim_id, source_event_id))""",
        f"""CREATE INDEX IF NOT EXISTS fee_activity_by_date
            ON {s}.fee_activity (tenant_id, activity_date)""",
        f"""CREATE TABLE IF NOT EXISTS {s}.fee_invoices (
            tenant_id text NOT NULL, invoice_id text NOT NULL, client_id text NOT NULL,
            period_start date NOT NULL, period_end date NOT NULL, total_cents bigint NOT NULL,
            PRIMARY KEY (tenant_id, invoice_id))""",
    ]


class FeeProjections:
    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.s = f'"{schema}"'

    async def migrate(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            for statement in _ddl(self.schema):
                await conn.execute(statement)

    # -- projecting ------------------------------------------------------------------------
    async def handle(self, conn: asyncpg.Connection, delivery: Delivery) -> None:
        handler = getattr(self, f"_on_{delivery.event_type}", None)
        if handler is not None:
            await handler(conn, delivery.tenant_id, delivery.envelope.claim_id, delivery.payload)

    async def _on_FeeAccountOpened(self, conn: asyncpg.Connection, tenant: str, claim_id: str,
                                   payload: dict[str, Any]) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.fee_claims (tenant_id, claim_id, client_id) "
            "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            tenant, payload["claim_id"], payload["client_id"])

    async def _on_ClaimFactsRecorded(self, conn: asyncpg.Connection, tenant: str, claim_id: str,
                                     payload: dict[str, Any]) -> None:
        await conn.execute(
            f"UPDATE {self.s}.fee_claims SET "
            "payer_id = COALESCE(NULLIF($3, ''), payer_id), "
            "service_code = COALESCE(NULLIF($4, ''), service_code), "
            "initial_payment_cents = COALESCE($5, initial_payment_cents) "
            "WHERE tenant_id = $1 AND claim_id = $2",
            tenant, claim_id, payload.get("payer_id") or "", payload.get("service_code") or "",
            payload.get("initial_payment_cents"))

    async def _on_FeeAssessed(self, conn: asyncpg.Connection, tenant: str, claim_id: str,
                              payload: dict[str, Any]) -> None:
        line = payload.get("line")
        recovered = 0 if payload["payment_kind"] == "INTEREST" else payload["amount_cents"]
        await self._activity(conn, tenant, claim_id, payload["source_event_id"],
                             payload["posting_date"], recovered,
                             line["amount_cents"] if line else 0, 0)
        if line:
            await self._line(conn, tenant, line)

    async def _on_IdrFeePassedThrough(self, conn: asyncpg.Connection, tenant: str, claim_id: str,
                                      payload: dict[str, Any]) -> None:
        line = payload.get("line")
        if line:
            await self._activity(conn, tenant, claim_id, payload["source_event_id"],
                                 payload["fee_date"], 0, 0, line["amount_cents"])
            await self._line(conn, tenant, line)

    async def _on_InvoiceIssued(self, conn: asyncpg.Connection, tenant: str, claim_id: str,
                                payload: dict[str, Any]) -> None:
        lines = payload["lines"]
        await conn.execute(
            f"INSERT INTO {self.s}.fee_invoices VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT DO NOTHING",
            tenant, payload["invoice_id"], payload["client_id"],
            dt.date.fromisoformat(payload["period_start"]),
            dt.date.fromisoformat(payload["period_end"]), payload["total_cents"])
        await conn.execute(
            f"UPDATE {self.s}.fee_lines SET invoice_id = $2 "
            "WHERE tenant_id = $1 AND line_id = ANY($3::text[])",
            tenant, payload["invoice_id"], [line["line_id"] for line in lines])

    async def _activity(self, conn: asyncpg.Connection, tenant: str, claim_id: str,
                        source_event_id: str, day: str, recovered: int, fee: int,
                        pass_through: int) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.fee_activity VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT DO NOTHING",
            tenant, claim_id, source_event_id, dt.date.fromisoformat(day), recovered, fee,
            pass_through)

    async def _line(self, conn: asyncpg.Connection, tenant: str, line: dict[str, Any]) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.fee_lines (tenant_id, {LINE_COLUMNS}) VALUES "
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL) "
            "ON CONFLICT DO NOTHING",
            tenant, line["line_id"], line["kind"], line["cause"], line["amount_cents"],
            dt.date.fromisoformat(line["line_date"]), line["claim_id"], line["client_id"],
            line["remittance_trn"], line["schedule_version"], line["source_event_id"],
            line["cumulative_recovered_cents"], line["cumulative_fee_cents"])

    # -- queries ---------------------------------------------------------------------------
    async def lines(self, pool: asyncpg.Pool, tenant: str, client_id: str,
                    claim_ids: Sequence[str] = (), from_date: dt.date | None = None,
                    to_date: dt.date | None = None,
                    uninvoiced_only: bool = False) -> list[dict[str, Any]]:
        rows = await pool.fetch(
            f"SELECT {LINE_COLUMNS} FROM {self.s}.fee_lines "
            "WHERE tenant_id = $1 AND client_id = $2 "
            "AND (cardinality($3::text[]) = 0 OR claim_id = ANY($3::text[])) "
            "AND ($4::date IS NULL OR line_date >= $4) AND ($5::date IS NULL OR line_date <= $5) "
            "AND (NOT $6 OR invoice_id IS NULL) "
            "ORDER BY line_date, claim_id, line_id",
            tenant, client_id, list(claim_ids), from_date, to_date, uninvoiced_only)
        return [{**dict(row), "line_date": row["line_date"].isoformat()} for row in rows]

    async def roi_entries(self, pool: asyncpg.Pool, tenant: str, client_id: str,
                          start: dt.date, end: dt.date) -> list[RoiEntry]:
        rows = await pool.fetch(
            f"SELECT a.claim_id, c.payer_id, c.service_code, c.initial_payment_cents, "
            "a.recovered_delta_cents, a.fee_delta_cents, a.pass_through_delta_cents "
            f"FROM {self.s}.fee_activity a JOIN {self.s}.fee_claims c "
            "ON c.tenant_id = a.tenant_id AND c.claim_id = a.claim_id "
            "WHERE a.tenant_id = $1 AND c.client_id = $2 "
            "AND a.activity_date BETWEEN $3 AND $4",
            tenant, client_id, start, end)
        return [RoiEntry(row["claim_id"], row["payer_id"], row["service_code"],
                         row["initial_payment_cents"], row["recovered_delta_cents"],
                         row["fee_delta_cents"], row["pass_through_delta_cents"])
                for row in rows]

    async def invoice_client(self, pool: asyncpg.Pool, tenant: str,
                             invoice_id: str) -> str | None:
        value = await pool.fetchval(
            f"SELECT client_id FROM {self.s}.fee_invoices "
            "WHERE tenant_id = $1 AND invoice_id = $2", tenant, invoice_id)
        return str(value) if value is not None else None
