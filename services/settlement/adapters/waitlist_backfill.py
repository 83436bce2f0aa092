"""Upgrade step: list on their claims' waitlists the payments queued for want of a settlement
before the waitlist existed (`python -m services.ops.backfill_waitlists`, docs/operations.md §12).

Until the waitlist (docs/decisions.md §24) an 835 CLP that matched a claim with no open
settlement was queued (reason `NO_SETTLEMENT`) with no `ClaimPaymentWaitlisted`, so the
`awaiting-settlement` reaction never finds it. This lists each such item, tenant by tenant:
the candidates come from the `payment_exceptions` read model (open claim items with that
reason and a matched claim), each is checked against the event store (still waiting for that
claim: `UnmatchedClaimPayment.awaits_settlement_of`), and listed with `SettlementWaitlist.add`,
which lists an item once. The listing is the ordinary `ClaimPaymentWaitlisted`: the running
service's reaction posts the item if its settlement is open already, or when it opens.

Idempotent: a second run finds every item listed (or posted) and records nothing. A concurrent
import listing on the same claim conflicts on the waitlist's version: the batch is read and
tried again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import psycopg
from psycopg import sql

from services.common.auth import SYSTEM
from services.common.context import CommandContext
from services.common.errors import Conflict
from services.settlement.adapters.bulk_loading import load_many
from services.settlement.application import SettlementApplication
from services.settlement.domain import (
    NO_SETTLEMENT,
    SettlementWaitlist,
    UnmatchedClaimPayment,
)

ACTOR = "system:settlement-waitlist-backfill"
BATCH = 200  # items per transaction
ATTEMPTS = 5  # per batch, against concurrent listings by imports


@dataclass
class BackfillReport:
    tenants: int = 0  # tenants examined (those named, or those with a candidate)
    examined: int = 0  # open NO_SETTLEMENT claim items found in the read model
    listed: int = 0  # newly listed on a waitlist (ClaimPaymentWaitlisted recorded)


def candidates(
    database_url: str, schema: str, tenants: Sequence[str] | None = None
) -> dict[str, list[UUID]]:
    """Per tenant, the open claim exceptions queued because their claim had no settlement
    (every tenant named is listed, with none when it has none)."""
    query = sql.SQL(
        "SELECT tenant_id, exception_id FROM {}.payment_exceptions "
        "WHERE kind = 'claim' AND resolved_claim_id = '' AND reason = %s "
        "AND candidate_claim_id <> '' AND (%s::text[] IS NULL OR tenant_id = ANY(%s::text[])) "
        "ORDER BY tenant_id, seq"
    ).format(sql.Identifier(schema))
    wanted = list(tenants) if tenants is not None else None
    found: dict[str, list[UUID]] = {tenant_id: [] for tenant_id in wanted or ()}
    with psycopg.connect(database_url) as conn:
        for tenant_id, exception_id in conn.execute(query, (NO_SETTLEMENT, wanted, wanted)):
            found.setdefault(tenant_id, []).append(UUID(str(exception_id)))
    return found


def backfill_waitlists(
    app: SettlementApplication,
    database_url: str,
    schema: str,
    tenants: Sequence[str] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> BackfillReport:
    """List every still-open item of `tenants` (all tenants when None) that waits for its
    claim's settlement on that claim's waitlist."""
    report = BackfillReport()
    for tenant_id, ids in candidates(database_url, schema, tenants).items():
        report.tenants += 1
        report.examined += len(ids)
        listed = 0
        for start in range(0, len(ids), BATCH):
            listed += _list_batch(app, tenant_id, ids[start : start + BATCH])
        report.listed += listed
        progress(f"tenant {tenant_id}: {len(ids)} waiting item(s) examined, {listed} listed")
    return report


def _list_batch(app: SettlementApplication, tenant_id: str, ids: Iterable[UUID]) -> int:
    ids = list(ids)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _list_once(app, tenant_id, ids)
        except Conflict:
            if attempt == ATTEMPTS:
                raise
    return 0  # not reached


def _list_once(app: SettlementApplication, tenant_id: str, ids: list[UUID]) -> int:
    ctx = CommandContext(tenant_id=tenant_id, actor=ACTOR, now=datetime.now(UTC),
                         roles=frozenset({SYSTEM}), request_id="waitlist-backfill")  # fmt: skip
    items = load_many(app, ids, tenant_id, UnmatchedClaimPayment)
    waiting = [
        item for item in (items.get(i) for i in ids)
        if item is not None and item.awaits_settlement_of(item.candidate_claim_id)
    ]  # fmt: skip
    changed = app.list_on_waitlists(ctx, [(item.candidate_claim_id, item) for item in waiting])
    listed = sum(isinstance(event, SettlementWaitlist.ClaimPaymentWaitlisted)
                 for waitlist in changed for event in waitlist.pending_events)
    if changed:
        app.save_all(*changed)  # collects (empties) the pending events
    return listed
