"""The ledger's answer to reconciliation: events appended per source service, and payments
against fee assessments.

The ledger is where settlement's payments and the fees service's assessments meet (it appends
every service's events), so "every PaymentPosted has exactly one FeeAssessed naming it as its
source, and every FeeAssessed names a settlement event" is one query here. A payment or fee not
yet appended shows as an append gap of its service instead.
"""
# The only interpolated SQL text is the schema name (validated settings); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import asyncpg

from oonledger.operations.v1 import operations_pb2 as pb

EXAMPLES = 5


class LedgerPipelineFacts:
    def __init__(self, schema: str) -> None:
        self._queries = {
            scope: _queries(f'"{schema}".audit_entries', tenant)
            for scope, tenant in ((True, "tenant_id = $1"), (False, "$1::text IS NULL"))
        }

    async def add_to(self, conn: asyncpg.Connection, tenant_id: str | None,
                     counts: pb.PipelineCounts) -> None:
        appended, payments = self._queries[tenant_id is not None]
        for service, count in await conn.fetch(appended, tenant_id):
            counts.ledger.add(service=service, appended=count)
        row = await conn.fetchrow(payments, tenant_id)
        counts.payments.CopyFrom(pb.PaymentFeeCheck(
            payments=row["payments"], payments_without_one_fee=row["unmatched"],
            fees_without_payment=row["orphans"], examples=list(row["examples"])))


def _queries(entries: str, tenant: str) -> tuple[str, str]:
    appended = (f"SELECT service, count(*) FROM {entries} WHERE {tenant} "
                "GROUP BY service ORDER BY service")
    payments = f"""
        WITH payments AS (
            SELECT event_id FROM {entries}
            WHERE {tenant} AND service = 'settlement' AND event_type = 'PaymentPosted'),
        fees AS (
            SELECT convert_from(payload, 'UTF8')::jsonb ->> 'source_event_id' AS source,
                   event_id, tenant_id
            FROM {entries} WHERE {tenant} AND service = 'fees' AND event_type = 'FeeAssessed'),
        per_payment AS (
            SELECT p.event_id, count(f.source) AS assessments
            FROM payments p LEFT JOIN fees f ON f.source = p.event_id GROUP BY p.event_id),
        orphans AS (
            SELECT f.event_id FROM fees f WHERE NOT EXISTS (
                SELECT 1 FROM {entries} s
                WHERE s.event_id = f.source AND s.tenant_id = f.tenant_id
                  AND s.service = 'settlement'))
        SELECT
            (SELECT count(*) FROM payments) AS payments,
            (SELECT count(*) FROM per_payment WHERE assessments <> 1) AS unmatched,
            (SELECT count(*) FROM orphans) AS orphans,
            ARRAY(SELECT event_id FROM per_payment WHERE assessments <> 1
                  ORDER BY event_id LIMIT {EXAMPLES}) ||
            ARRAY(SELECT event_id FROM orphans ORDER BY event_id LIMIT {EXAMPLES}) AS examples"""
    return appended, payments
