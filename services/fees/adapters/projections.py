"""Read models of the fees service (asyncpg), fed from its own event stream (each event read as
its contract message, proto/oonledger/fees/v1/events.proto).

`fee_lines` lists invoice lines and credit memos per client, `fee_activity` holds every assessed
fact (for ROI), `fee_claims` what is known of each claim, `fee_invoices` the invoice headers.
Every row carries the tenant; the queries over them are in `sql.py`.
"""
# The only interpolated SQL text is the schema name (from validated settings); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import asyncpg

from oonledger.fees.v1 import events_pb2 as v1
from services.common.consumer import Delivery
from services.fees.adapters.sql import BASE_COLUMNS, REFERENCE_COLUMNS, REFERENCE_COLUMNS_DDL


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
        # The line's references and formula inputs (issue 16), added to existing tables too.
        *(f"ALTER TABLE {s}.fee_lines ADD COLUMN IF NOT EXISTS {column}"
          for column in REFERENCE_COLUMNS_DDL),
        f"""CREATE INDEX IF NOT EXISTS fee_lines_by_client
            ON {s}.fee_lines (tenant_id, client_id, line_date)""",
        f"""CREATE TABLE IF NOT EXISTS {s}.fee_activity (
            tenant_id text NOT NULL, claim_id text NOT NULL, source_event_id text NOT NULL,
            activity_date date NOT NULL, recovered_delta_cents bigint NOT NULL,
            fee_delta_cents bigint NOT NULL, pass_through_delta_cents bigint NOT NULL,
            PRIMARY KEY (tenant_id, claim_id, source_event_id))""",
        # The payer's interest per fact (ROI's recovered with interest); added after the table.
        f"""ALTER TABLE {s}.fee_activity
            ADD COLUMN IF NOT EXISTS interest_delta_cents bigint NOT NULL DEFAULT 0""",
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
                "$7::bigint[], $8::bigint[]) ON CONFLICT DO NOTHING",
                *zip(*bulk.activity, strict=True))
        if bulk.lines:
            await conn.execute(
                f"INSERT INTO {self.s}.fee_lines (tenant_id, {BASE_COLUMNS}, {REFERENCE_COLUMNS}) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
                "$5::bigint[], $6::date[], $7::text[], $8::text[], $9::text[], $10::bigint[], "
                "$11::text[], $12::bigint[], $13::bigint[], $14::date[], $15::text[], "
                "$16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::bool[]) "
                "ON CONFLICT DO NOTHING",
                *zip(*bulk.lines, strict=True))
        bulk.clear()

    async def handle(self, conn: asyncpg.Connection, delivery: Delivery) -> None:
        """Project one event of the service's own stream, read as its contract message."""
        tenant, claim_id = delivery.tenant_id, delivery.envelope.claim_id
        m = delivery.message if delivery.event_type in _PROJECTED else None
        if isinstance(m, v1.FeeAccountOpened):
            # Upserts, here and for ClaimFactsRecorded: a redelivered opening (its consumer
            # killed before the ack) can come after the account's later facts, and both orders
            # fold to the same row. Found by the fault suite (tests/faults): the facts' UPDATE
            # found no row, so the live read model lost the initial payment a rebuild has.
            await conn.execute(
                f"INSERT INTO {self.s}.fee_claims AS c (tenant_id, claim_id, client_id) "
                "VALUES ($1, $2, $3) ON CONFLICT (tenant_id, claim_id) "
                "DO UPDATE SET client_id = EXCLUDED.client_id",
                tenant, m.claim_id, m.client_id)
        elif isinstance(m, v1.ClaimFactsRecorded):
            await conn.execute(
                f"INSERT INTO {self.s}.fee_claims AS c (tenant_id, claim_id, client_id, "
                "payer_id, service_code, initial_payment_cents) "
                "VALUES ($1, $2, '', $3, $4, COALESCE($5, 0)) "
                "ON CONFLICT (tenant_id, claim_id) DO UPDATE SET "
                "payer_id = COALESCE(NULLIF($3, ''), c.payer_id), "
                "service_code = COALESCE(NULLIF($4, ''), c.service_code), "
                "initial_payment_cents = COALESCE($5, c.initial_payment_cents)",
                tenant, claim_id, m.payer_id, m.service_code,
                m.initial_payment_cents if m.HasField("initial_payment_cents") else None)
        elif isinstance(m, v1.FeeAssessed | v1.IdrFeePassedThrough):
            bulk = _BulkRows()
            bulk.add_fact(tenant, claim_id, m)
            await self._flush(conn, bulk)
        elif isinstance(m, v1.InvoiceIssued):
            await conn.execute(
                f"INSERT INTO {self.s}.fee_invoices VALUES ($1, $2, $3, $4, $5, $6) "
                "ON CONFLICT DO NOTHING",
                tenant, m.invoice_id, m.client_id, dt.date.fromisoformat(m.period_start),
                dt.date.fromisoformat(m.period_end), m.total_cents)
            await self._invoiced(conn, tenant, m.invoice_id, m.lines)  # inline: domain v1
        elif isinstance(m, v1.InvoiceLinesRecorded):
            await self._invoiced(conn, tenant, m.invoice_id, m.lines)

    async def _invoiced(self, conn: asyncpg.Connection, tenant: str, invoice_id: str,
                        lines: Iterable[v1.FeeAssessed.FeeLine]) -> None:
        await conn.execute(
            f"UPDATE {self.s}.fee_lines SET invoice_id = $2 "
            "WHERE tenant_id = $1 AND line_id = ANY($3::text[])",
            tenant, invoice_id, [line.line_id for line in lines])


_PROJECTED = frozenset({"FeeAccountOpened", "ClaimFactsRecorded", "FeeAssessed",
                        "IdrFeePassedThrough", "InvoiceIssued", "InvoiceLinesRecorded"})


class _BulkRows:
    """Rows of the frequent fee facts, gathered to be inserted with one statement per table."""

    BULK_EVENTS = frozenset({"FeeAssessed", "IdrFeePassedThrough"})

    def __init__(self) -> None:
        self.activity: list[tuple[object, ...]] = []
        self.lines: list[tuple[object, ...]] = []

    def clear(self) -> None:
        self.activity.clear()
        self.lines.clear()

    def add(self, delivery: Delivery) -> bool:
        """Gather the delivery's rows; False when it is not a bulk fact."""
        if delivery.event_type not in self.BULK_EVENTS:
            return False
        message = delivery.message
        assert isinstance(message, v1.FeeAssessed | v1.IdrFeePassedThrough)
        self.add_fact(delivery.tenant_id, delivery.envelope.claim_id, message)
        return True

    def add_fact(self, tenant: str, claim_id: str,
                 m: v1.FeeAssessed | v1.IdrFeePassedThrough) -> None:
        line = m.line if m.HasField("line") else None
        if isinstance(m, v1.FeeAssessed):
            interest = m.payment_kind == v1.FeeAssessed.PAYMENT_KIND_INTEREST
            self.activity.append((tenant, claim_id, m.source_event_id,
                                  dt.date.fromisoformat(m.posting_date),
                                  0 if interest else m.amount_cents,
                                  line.amount_cents if line else 0, 0, m.interest_cents))
        elif line:
            self.activity.append((tenant, claim_id, m.source_event_id,
                                  dt.date.fromisoformat(m.fee_date), 0, 0, line.amount_cents, 0))
        if line:
            self.lines.append((
                tenant, line.line_id, line.kind, line.cause, line.amount_cents,
                dt.date.fromisoformat(line.line_date), line.claim_id, line.client_id,
                line.remittance_trn, line.schedule_version, line.source_event_id,
                line.cumulative_recovered_cents, line.cumulative_fee_cents,
                dt.date.fromisoformat(line.deposit_date) if line.deposit_date else None,
                line.payer_claim_control_number_index, line.payer_claim_control_number_sealed,
                line.plb_reference_index, line.plb_reference_sealed, line.resolution_stage,
                line.fee_base, line.interest_included))


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
