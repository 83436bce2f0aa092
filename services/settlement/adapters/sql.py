"""Read-side queries over the settlement read models (asyncpg), always filtered by tenant."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from services.common.phi import PATIENT_CONTROL_NUMBER, PAYER_CLAIM_NUMBER, PhiKeys
from services.settlement.adapters.projections import use_schema
from services.settlement.domain import (
    Account,
    BookCheck,
    BookViolation,
    ClaimIndex,
    ClaimLine,
    ClaimReference,
    JournalTransaction,
    Posting,
    PreparedImport,
)

# Rule 4 (CLP01 as a truncated CLM01) looks the file's unmatched CLP01s up among the claims'
# prefix hashes. A few go through the GIN index, one probe each (about 2 ms a probe); many go in
# one pass over the tenant's rows with a hashed look-up per prefix, since a probe per key made a
# 50,000-claim 835 wait minutes here (measured on 50,000 claims: 50,000 prefixes took 94 s by
# the index and 0.19 s by the pass).
PREFIX_INDEX_PROBES = 64
PREFIX_BY_INDEX = """SELECT * FROM claim_refs WHERE tenant_id = $1
                     AND pcn_prefix_indexes && $2::text[]"""
PREFIX_IN_ONE_SCAN = (
    """SELECT * FROM claim_refs c WHERE tenant_id = $1 AND EXISTS (
           SELECT 1 FROM unnest(c.pcn_prefix_indexes) AS p WHERE p = ANY($2::text[]))""")


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    @classmethod
    def of(cls, page_size: int, page_token: str, default: int = 100, maximum: int = 1000) -> Page:
        size = min(page_size or default, maximum)
        offset = int(page_token) if page_token.isdigit() else 0
        return cls(size, offset)

    def next_token(self, returned: int) -> str:
        return str(self.offset + self.limit) if returned == self.limit else ""


class SettlementReads:
    def __init__(self, pool: asyncpg.Pool, schema: str):
        self.pool = pool
        self.schema = schema

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            await use_schema(conn, self.schema)
            yield conn

    # -- matching facts -----------------------------------------------------------------------
    async def claim_index(self, tenant: str, prepared: PreparedImport, keys: PhiKeys
                          ) -> ClaimIndex:  # fmt: skip
        """The tenant's claims a file may name, found by the keyed hashes of its identifiers
        (never their plain values): exact CLP01, the ICNs (CLP07, REF*F8, PLB03-2), then CLP01
        as a truncated prefix of a longer CLM01 (rule 4). The hashing and the index building
        run in a worker thread: for a 50,000-claim file they take seconds of CPU, which on the
        event loop stalled the service's other work (an import job's progress among it)."""
        pcns, icns = await asyncio.to_thread(_hashed_identifiers, tenant, prepared, keys)
        async with self._conn() as conn:
            rows = await conn.fetch(
                """SELECT * FROM claim_refs WHERE tenant_id = $1
                   AND (pcn_index = ANY($2::text[]) OR icn_indexes && $3::text[])""",
                tenant,
                pcns,
                icns,
            )
            found = {r["pcn_index"] for r in rows}
            prefixes = [p for p in pcns if p not in found]
            if prefixes:
                rows += await conn.fetch(
                    PREFIX_BY_INDEX if len(prefixes) <= PREFIX_INDEX_PROBES else PREFIX_IN_ONE_SCAN,
                    tenant,
                    prefixes,
                )
        return await asyncio.to_thread(_claim_index_of, tenant, rows, keys)

    async def line_control_numbers(self, tenant: str, claim_id: str) -> frozenset[str]:
        """The 837 line control numbers settlement knows for a claim (empty when none)."""
        async with self._conn() as conn:
            lines = await conn.fetchval(
                "SELECT lines FROM claim_refs WHERE tenant_id = $1 AND claim_id = $2",
                tenant,
                claim_id,
            )
        return frozenset(
            line.line_control_number
            for line in (ClaimLine.from_dict(x) for x in json.loads(lines or "[]"))
            if line.line_control_number
        )

    # -- settlements ----------------------------------------------------------------------------
    async def settlement(self, tenant: str, claim_id: str) -> tuple[Any, list[Any]] | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM settlements WHERE tenant_id = $1 AND claim_id = $2",
                tenant,
                claim_id,
            )
            if row is None:
                return None
            payments = await conn.fetch(
                "SELECT * FROM payments WHERE tenant_id = $1 AND claim_id = $2 ORDER BY seq",
                tenant,
                claim_id,
            )
        return row, list(payments)

    async def open_items(self, tenant: str, payer_id: str, page: Page) -> tuple[list[Any], int]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                """SELECT * FROM settlements WHERE tenant_id = $1 AND ($2 = '' OR payer_id = $2)
                   AND agreed_total_cents - patient_cost_sharing_cents - paid_cents <> 0
                   ORDER BY due_date, claim_id LIMIT $3 OFFSET $4""",
                tenant,
                payer_id,
                page.limit,
                page.offset,
            )
            total = await conn.fetchval(
                """SELECT coalesce(sum(agreed_total_cents - patient_cost_sharing_cents
                   - paid_cents), 0) FROM settlements
                   WHERE tenant_id = $1 AND ($2 = '' OR payer_id = $2)""",
                tenant,
                payer_id,
            )
        return list(rows), int(total)

    async def overdue(self, tenant: str, as_of: date, page: Page) -> list[Any]:
        async with self._conn() as conn:
            return list(
                await conn.fetch(
                    """SELECT * FROM settlements WHERE tenant_id = $1 AND due_date < $2
                       AND agreed_total_cents - patient_cost_sharing_cents - paid_cents > 0
                       ORDER BY due_date, claim_id LIMIT $3 OFFSET $4""",
                    tenant,
                    as_of,
                    page.limit,
                    page.offset,
                )
            )

    async def overdue_unflagged_claims(self, tenant: str, as_of: date) -> list[str]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                """SELECT claim_id FROM settlements WHERE tenant_id = $1 AND due_date < $2
                   AND overdue_flagged_on IS NULL
                   AND agreed_total_cents - patient_cost_sharing_cents - paid_cents > 0""",
                tenant,
                as_of,
            )
        return [r["claim_id"] for r in rows]

    async def tenants_with_unflagged_overdue(self, as_of: date) -> list[str]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                """SELECT DISTINCT tenant_id FROM settlements WHERE due_date < $1
                   AND overdue_flagged_on IS NULL
                   AND agreed_total_cents - patient_cost_sharing_cents - paid_cents > 0""",
                as_of,
            )
        return [r["tenant_id"] for r in rows]

    # -- exceptions, files, postings -------------------------------------------------------------
    async def exceptions(self, tenant: str, include_resolved: bool, page: Page) -> list[Any]:
        async with self._conn() as conn:
            return list(
                await conn.fetch(
                    """SELECT * FROM payment_exceptions WHERE tenant_id = $1
                       AND ($2 OR resolved_claim_id = '') ORDER BY seq LIMIT $3 OFFSET $4""",
                    tenant,
                    include_resolved,
                    page.limit,
                    page.offset,
                )
            )

    async def quarantined_files(self, tenant: str, page: Page) -> list[Any]:
        async with self._conn() as conn:
            return list(
                await conn.fetch(
                    """SELECT * FROM remittance_files WHERE tenant_id = $1
                       AND outcome = 'quarantined' ORDER BY seq LIMIT $2 OFFSET $3""",
                    tenant,
                    page.limit,
                    page.offset,
                )
            )

    async def transactions(
        self, tenant: str, *, claim_id: str = "", remittance_id: str = "", page: Page | None = None
    ) -> list[tuple[Any, JournalTransaction]]:
        limit, offset = (page.limit, page.offset) if page else (None, 0)
        async with self._conn() as conn:
            rows = await conn.fetch(
                _JOURNAL_SQL + " LIMIT $4 OFFSET $5",
                tenant,
                claim_id,
                remittance_id,
                limit,
                offset,
            )
        return [(r, _transaction(r)) for r in rows]

    # -- the book check ---------------------------------------------------------------------------
    async def check_book(self, tenant: str) -> tuple[int, list[BookViolation], dict[str, int]]:
        """Every transaction balances, reversals negate once, and the book agrees with the facts:
        each settlement's payer receivable equals its outstanding amount and each remittance's
        cash equals its BPR02 payment."""
        balances: dict[str, int] = {}
        receivable_by_claim: dict[str, int] = {}
        cash_by_remittance: dict[str, int] = {}
        count = 0
        # Streamed in posting order: memory grows with claims, remittances and reversals, not
        # with the journal (PRIMARY KEY (tenant_id, transaction_id) keeps the ids unique).
        async with self._conn() as conn:
            reversed_ids = await conn.fetch(
                "SELECT reverses FROM journal_transactions WHERE tenant_id = $1 AND reverses <> ''",
                tenant,
            )
            check = BookCheck((r["reverses"] for r in reversed_ids), ids_unique=True)
            async for row in conn.cursor(_JOURNAL_SQL, tenant, "", "", prefetch=1000):
                tx = _transaction(row)
                check.add(tx)
                count += 1
                for posting in tx.postings:
                    account = posting.account.value
                    balances[account] = balances.get(account, 0) + posting.amount_cents
                    if posting.account is Account.PAYER_RECEIVABLE and row["claim_id"]:
                        receivable_by_claim[row["claim_id"]] = (
                            receivable_by_claim.get(row["claim_id"], 0) + posting.amount_cents
                        )
                    if posting.account is Account.PROVIDER_CASH and row["remittance_id"]:
                        cash_by_remittance[row["remittance_id"]] = (
                            cash_by_remittance.get(row["remittance_id"], 0) + posting.amount_cents
                        )
        violations = check.violations
        async with self._conn() as conn:
            settlements = await conn.fetch(
                """SELECT claim_id, agreed_total_cents - patient_cost_sharing_cents - paid_cents
                   AS outstanding FROM settlements WHERE tenant_id = $1""",
                tenant,
            )
            remittances = await conn.fetch(
                """SELECT remittance_id::text, trace_number, total_paid_cents FROM remittances
                   WHERE tenant_id = $1""",
                tenant,
            )
        for s in settlements:
            booked = receivable_by_claim.get(s["claim_id"], 0)
            if booked != s["outstanding"]:
                violations.append(
                    BookViolation(
                        f"claim {s['claim_id']}",
                        "receivable-equals-outstanding",
                        f"payer receivable {booked} != outstanding {s['outstanding']}",
                    )
                )
        for r in remittances:
            cash = cash_by_remittance.get(r["remittance_id"], 0)
            if cash != r["total_paid_cents"]:
                violations.append(
                    BookViolation(
                        f"remittance {r['trace_number']}",
                        "cash-equals-payment",
                        f"provider cash {cash} != BPR02 {r['total_paid_cents']}",
                    )
                )
        return count, violations, balances


_JOURNAL_SQL = """SELECT t.*, coalesce(array_agg(p.account ORDER BY p.line), '{}') AS accounts,
          coalesce(array_agg(p.amount_cents ORDER BY p.line), '{}') AS amounts
   FROM journal_transactions t JOIN journal_postings p
     ON p.tenant_id = t.tenant_id AND p.transaction_id = t.transaction_id
   WHERE t.tenant_id = $1 AND ($2 = '' OR t.claim_id = $2)
     AND ($3 = '' OR t.remittance_id = $3)
   GROUP BY t.tenant_id, t.transaction_id
   ORDER BY t.seq, t.transaction_id"""


def _transaction(row: Any) -> JournalTransaction:
    return JournalTransaction(
        row["transaction_id"],
        row["description"],
        tuple(
            Posting(Account(account), int(cents))
            for account, cents in zip(row["accounts"], row["amounts"], strict=True)
        ),
        row["reverses"],
    )



def _hashed_identifiers(tenant: str, prepared: PreparedImport, keys: PhiKeys
                        ) -> tuple[list[str], list[str]]:  # fmt: skip
    """The keyed hashes of the file's patient control numbers and payer claim numbers."""
    pcns = [keys.index(tenant, PATIENT_CONTROL_NUMBER, v)
            for v in prepared.patient_control_numbers()]
    icns = [keys.index(tenant, PAYER_CLAIM_NUMBER, v) for v in prepared.claim_control_numbers()]
    # A PLB03-2 may name a patient control number too (rule 6).
    pcns += [keys.index(tenant, PATIENT_CONTROL_NUMBER, v)
             for v in prepared.claim_control_numbers()]
    return [p for p in pcns if p], [i for i in icns if i]


def _claim_index_of(tenant: str, rows: list[asyncpg.Record], keys: PhiKeys) -> ClaimIndex:
    def key(kind: str, value: str) -> str:
        return keys.index(tenant, kind, value)

    return ClaimIndex.build(
        (
            ClaimReference(
                claim_id=r["claim_id"],
                patient_control_number=r["pcn_index"],
                payer_claim_control_numbers=frozenset(r["icn_indexes"]),
                billing_npi=r["billing_npi"],
                billing_tin=r["billing_tin"],
                first_service_date=r["first_service_date"],
                charge_cents=r["charge_cents"],
                lines=tuple(ClaimLine.from_dict(x) for x in json.loads(r["lines"])),
                patient_control_number_prefixes=frozenset(r["pcn_prefix_indexes"]),
                adjudicated=r["adjudicated"],
            )
            for r in {r["claim_id"]: r for r in rows}.values()
        ),
        key=key,
    )

