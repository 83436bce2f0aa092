"""The ledger's answer to reconciliation: events appended per source service, and payments
against fee assessments.

The ledger is where settlement's payments and the fees service's assessments meet (it appends
every service's events), so "every PaymentPosted has exactly one FeeAssessed naming it as its
source, and every FeeAssessed names a settlement event" is answered here. A payment or fee not
yet appended shows as an append gap of its service instead. FeeAssessed's payload is fees'
published contract (protobuf; older entries JSON): it is read through the one registry
(services/common/contracts.py), never parsed by hand in SQL.
"""
# The only interpolated SQL text is the schema name (validated settings); values are bound.
# ruff: noqa: S608

from __future__ import annotations

from collections import Counter

import asyncpg

from oonledger.operations.v1 import operations_pb2 as pb
from services.common.contracts import ContractViolation, payload_as_dict

EXAMPLES = 5


class LedgerPipelineFacts:
    def __init__(self, schema: str) -> None:
        entries = f'"{schema}".audit_entries'
        self._queries = {
            scoped: (
                f"SELECT service, count(*) FROM {entries} WHERE {tenant} "
                "GROUP BY service ORDER BY service",
                f"SELECT event_id FROM {entries} WHERE {tenant} AND service = 'settlement' "
                "AND event_type = 'PaymentPosted'",
                f"SELECT event_id, schema_version, payload_content_type, payload FROM {entries} "
                f"WHERE {tenant} AND service = 'fees' AND event_type = 'FeeAssessed'",
                f"SELECT event_id FROM {entries} WHERE {tenant} AND service = 'settlement' "
                "AND event_id = ANY($2::text[])",
            )
            for scoped, tenant in ((True, "tenant_id = $1"), (False, "$1::text IS NULL"))
        }

    async def add_to(self, conn: asyncpg.Connection, tenant_id: str | None,
                     counts: pb.PipelineCounts) -> None:
        appended, payments_sql, fees_sql, sources_sql = self._queries[tenant_id is not None]
        for service, count in await conn.fetch(appended, tenant_id):
            counts.ledger.add(service=service, appended=count)
        payments = [row["event_id"] for row in await conn.fetch(payments_sql, tenant_id)]
        sources: dict[str, str] = {}  # fee event id -> the settlement event it bills
        for row in await conn.fetch(fees_sql, tenant_id):
            try:
                fields = payload_as_dict("fees", "FeeAssessed", row["schema_version"],
                                         row["payload_content_type"], bytes(row["payload"]))
            except (ContractViolation, ValueError):
                fields = {}
            sources[row["event_id"]] = str(fields.get("source_event_id", ""))
        known = {row["event_id"] for row in await conn.fetch(
            sources_sql, tenant_id, sorted(set(sources.values())))}
        assessed = Counter(sources.values())
        unmatched = sorted(p for p in payments if assessed[p] != 1)
        orphans = sorted(fee for fee, source in sources.items() if source not in known)
        counts.payments.CopyFrom(pb.PaymentFeeCheck(
            payments=len(payments), payments_without_one_fee=len(unmatched),
            fees_without_payment=len(orphans),
            examples=unmatched[:EXAMPLES] + orphans[:EXAMPLES]))
