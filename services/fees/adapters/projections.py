"""Read models of the fees service (asyncpg), fed from its own event stream.

`fee_lines` lists invoice lines and credit memos per client, `fee_activity` holds every assessed
fact (for ROI), `fee_claims` what is known of each claim, `fee_invoices` the invoice headers.
Every row carries the tenant; the queries over them are in `sql.py`.
"""
# The only interpolated SQL text is the schema name (from validated settings); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.common.consumer import Delivery
from services.fees.adapters.sql import LINE_COLUMNS


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
        f"""CREATE TABLE IF NOT EXISTS {s}.projection_tracking (
            consumer text NOT NULL, upstream text NOT NULL, notification_id bigint NOT NULL,
            PRIMARY KEY (consumer, upstream, notification_id))""",
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
    async def handle_batch(self, conn: asyncpg.Connection, consumer: str,
                           deliveries: Sequence[Delivery]) -> list[bool]:
        """Project a batch in the caller's transaction: tracking rows in one statement, the
        frequent fee facts in bulk, anything else one by one in order. False = seen before."""
        fresh = set(await conn.fetchval(
            f"WITH new AS (INSERT INTO {self.s}.projection_tracking "
            "SELECT $1, u.upstream, u.notification_id "
            "FROM unnest($2::text[], $3::bigint[]) AS u(upstream, notification_id) "
            "ON CONFLICT DO NOTHING RETURNING upstream, notification_id) "
            "SELECT coalesce(array_agg(upstream || ':' || notification_id), '{}') FROM new",
            consumer, [d.envelope.service for d in deliveries],
            [d.envelope.notification_id for d in deliveries]))
        bulk = _BulkRows()
        outcomes = []
        for delivery in deliveries:
            is_new = f"{delivery.envelope.service}:{delivery.envelope.notification_id}" in fresh
            outcomes.append(is_new)
            if not is_new:
                continue
            if not bulk.add(delivery):
                await self._flush(conn, bulk)
                await self.handle(conn, delivery)
        await self._flush(conn, bulk)
        return outcomes

    async def _flush(self, conn: asyncpg.Connection, bulk: _BulkRows) -> None:
        if bulk.activity:
            await conn.execute(
                f"INSERT INTO {self.s}.fee_activity SELECT * FROM unnest("
                "$1::text[], $2::text[], $3::text[], $4::date[], $5::bigint[], $6::bigint[], "
                "$7::bigint[]) ON CONFLICT DO NOTHING", *zip(*bulk.activity, strict=True))
        if bulk.lines:
            await conn.execute(
                f"INSERT INTO {self.s}.fee_lines (tenant_id, {LINE_COLUMNS}) SELECT *, NULL "
                "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], "
                "$6::date[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::text[], "
                "$12::bigint[], $13::bigint[]) ON CONFLICT DO NOTHING",
                *zip(*bulk.lines, strict=True))
        bulk.clear()

    async def handle(self, conn: asyncpg.Connection, delivery: Delivery) -> None:
        handler = getattr(self, f"_on_{delivery.event_type}", None)
        if handler is not None:
            await handler(conn, delivery.tenant_id, delivery.envelope.claim_id, delivery.payload)

    async def _on_FeeAccountOpened(self, conn: asyncpg.Connection, tenant: str, claim_id: str,
                                   payload: dict[str, Any]) -> None:
        # Upserts, here and in _on_ClaimFactsRecorded: a redelivered opening (its consumer
        # killed before the ack) can come after the account's later facts, and both orders fold
        # to the same row. Found by the fault suite (tests/faults): the facts' UPDATE found no
        # row, so the live read model lost the initial payment that a rebuild has.
        await conn.execute(
            f"INSERT INTO {self.s}.fee_claims AS c (tenant_id, claim_id, client_id) "
            "VALUES ($1, $2, $3) ON CONFLICT (tenant_id, claim_id) "
            "DO UPDATE SET client_id = EXCLUDED.client_id",
            tenant, payload["claim_id"], payload["client_id"])

    async def _on_ClaimFactsRecorded(self, conn: asyncpg.Connection, tenant: str, claim_id: str,
                                     payload: dict[str, Any]) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.fee_claims AS c (tenant_id, claim_id, client_id, payer_id, "
            "service_code, initial_payment_cents) VALUES ($1, $2, '', $3, $4, COALESCE($5, 0)) "
            "ON CONFLICT (tenant_id, claim_id) DO UPDATE SET "
            "payer_id = COALESCE(NULLIF($3, ''), c.payer_id), "
            "service_code = COALESCE(NULLIF($4, ''), c.service_code), "
            "initial_payment_cents = COALESCE($5, c.initial_payment_cents)",
            tenant, claim_id, payload.get("payer_id") or "", payload.get("service_code") or "",
            payload.get("initial_payment_cents"))

    async def _on_FeeAssessed(self, conn: asyncpg.Connection, tenant: str, claim_id: str,
                              payload: dict[str, Any]) -> None:
        await self._facts(conn, tenant, claim_id, "FeeAssessed", payload)

    async def _on_IdrFeePassedThrough(self, conn: asyncpg.Connection, tenant: str, claim_id: str,
                                      payload: dict[str, Any]) -> None:
        await self._facts(conn, tenant, claim_id, "IdrFeePassedThrough", payload)

    async def _facts(self, conn: asyncpg.Connection, tenant: str, claim_id: str,
                     event_type: str, payload: dict[str, Any]) -> None:
        bulk = _BulkRows()
        bulk.add_fact(tenant, claim_id, event_type, payload)
        await self._flush(conn, bulk)

    async def _on_InvoiceIssued(self, conn: asyncpg.Connection, tenant: str, claim_id: str,
                                payload: dict[str, Any]) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.fee_invoices VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT DO NOTHING",
            tenant, payload["invoice_id"], payload["client_id"],
            dt.date.fromisoformat(payload["period_start"]),
            dt.date.fromisoformat(payload["period_end"]), payload["total_cents"])
        await self._on_InvoiceLinesRecorded(conn, tenant, claim_id,
                                            {**payload, "lines": payload.get("lines", [])})

    async def _on_InvoiceLinesRecorded(self, conn: asyncpg.Connection, tenant: str,
                                       claim_id: str, payload: dict[str, Any]) -> None:
        """v2 invoices' lines (v1 InvoiceIssued events carried them inline)."""
        await conn.execute(
            f"UPDATE {self.s}.fee_lines SET invoice_id = $2 "
            "WHERE tenant_id = $1 AND line_id = ANY($3::text[])",
            tenant, payload["invoice_id"], [line["line_id"] for line in payload["lines"]])


class _BulkRows:
    """Rows of the frequent fee facts, gathered to be inserted with one statement per table."""

    BULK_EVENTS = ("FeeAssessed", "IdrFeePassedThrough")

    def __init__(self) -> None:
        self.activity: list[tuple[Any, ...]] = []
        self.lines: list[tuple[Any, ...]] = []

    def clear(self) -> None:
        self.activity.clear()
        self.lines.clear()

    def add(self, delivery: Delivery) -> bool:
        """Gather the delivery's rows; False when it is not a bulk fact."""
        if delivery.event_type not in self.BULK_EVENTS:
            return False
        self.add_fact(delivery.tenant_id, delivery.envelope.claim_id, delivery.event_type,
                      delivery.payload)
        return True

    def add_fact(self, tenant: str, claim_id: str, event_type: str,
                 payload: dict[str, Any]) -> None:
        line = payload.get("line")
        if event_type == "FeeAssessed":
            recovered = 0 if payload["payment_kind"] == "INTEREST" else payload["amount_cents"]
            self.activity.append((tenant, claim_id, payload["source_event_id"],
                                  dt.date.fromisoformat(payload["posting_date"]), recovered,
                                  line["amount_cents"] if line else 0, 0))
        elif line:
            self.activity.append((tenant, claim_id, payload["source_event_id"],
                                  dt.date.fromisoformat(payload["fee_date"]), 0, 0,
                                  line["amount_cents"]))
        if line:
            self.lines.append((
                tenant, line["line_id"], line["kind"], line["cause"], line["amount_cents"],
                dt.date.fromisoformat(line["line_date"]), line["claim_id"], line["client_id"],
                line["remittance_trn"], line["schedule_version"], line["source_event_id"],
                line["cumulative_recovered_cents"], line["cumulative_fee_cents"]))


class ReadModelBatches:
    """Applies fetched batches of the service's own events to the read models in one
    transaction (rows and tracking together); single deliveries go the same way."""

    def __init__(self, pool: asyncpg.Pool, projections: FeeProjections, consumer: str) -> None:
        self.pool = pool
        self.projections = projections
        self.consumer = consumer

    async def process_batch(self, deliveries: Sequence[Delivery]) -> list[bool | Exception]:
        async with self.pool.acquire() as conn, conn.transaction():
            outcomes = await self.projections.handle_batch(conn, self.consumer, deliveries)
        return list(outcomes)

    async def process(self, delivery: Delivery) -> bool:
        (outcome,) = await self.process_batch([delivery])
        return bool(outcome)
