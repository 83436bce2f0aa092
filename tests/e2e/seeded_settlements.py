"""A large 835's set-up without negotiation: the claims are imported through the gateway, fees
learns them from claims' events, and settlement's matching facts (claim_refs) and open
settlements are written directly through settlement's own application, so that every event in
the pipeline is a real one (reconciliation must come out at zero gaps, every service SERVING).

Opening 50,000 settlements one negotiation agreement at a time takes most of an hour on 2 cores;
publishing hand-made `SettlementAgreed` messages instead (`agreed_through_negotiation_events`)
leaves negotiation's own consumers waiting for negotiations that never opened (its health goes
NOT_SERVING, and reconciliation counts messages no event store holds). Used by the import-job
tests (tests/jobs, tests/large)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime

import asyncpg

from services.common.context import CommandContext
from services.common.phi import PATIENT_CONTROL_NUMBER
from services.settlement.application import OpeningTerms, SettlementApplication
from services.settlement.domain import ClaimLine, SettlementSource
from tests.e2e.journey import Vendor
from tests.e2e.large_remittance import PAID_CENTS, SERVICE_DATE, Timings, fees_know
from tests.support.plugin import eventually

# The 837 lines of gateway/tests/samples.py's emergency claim, as settlement keeps them.
LINES = json.dumps([
    ClaimLine(1, "", "99285", ("25",), SERVICE_DATE, 185_000).to_dict(),
    ClaimLine(2, "", "12002", (), SERVICE_DATE, 64_000).to_dict(),
])
OPEN_PER_SAVE = 1000


async def opened_in_settlement(
    vendor: Vendor, imported: list[tuple[str, str]], timings: Timings
) -> None:
    """post_large_835's `setup`: see the module docstring."""
    claim_ids = [claim_id for claim_id, _ in imported]
    await timings.measure("claims known to fees", eventually(
        lambda: fees_know(vendor, claim_ids), timeout=1800, interval=1.0))
    settlement = vendor.stack.services["settlement"]
    assert settlement.infra is not None and settlement.parts is not None
    keys = settlement.settings.phi_keys()  # the matching facts by keyed hash
    rows = [(vendor.tenant, claim_id, keys.index(vendor.tenant, PATIENT_CONTROL_NUMBER, pcn), [],
             "1234567893", "", SERVICE_DATE, 249_000, "87726", True, LINES)
            for claim_id, pcn in imported]
    schema = settlement.settings.schema
    pool = settlement.infra.pool

    async def projected() -> bool:
        """Settlement's own claim-facts projection wrote every claim's row: from now on
        nothing else writes these rows (writing them beside it deadlocked once)."""
        count = await pool.fetchval(
            f'SELECT count(*) FROM "{schema}".claim_refs '
            "WHERE tenant_id = $1 AND claim_id = ANY($2::text[])", vendor.tenant, claim_ids)
        return bool(count == len(claim_ids))

    await timings.measure("claims known to settlement",
                          eventually(projected, timeout=1800, interval=0.5))
    for attempt in range(3):  # a later claim event's row update may still cross this one
        try:
            async with pool.acquire() as conn:
                await conn.executemany(
                    f'INSERT INTO "{schema}".claim_refs (tenant_id, claim_id, pcn_index, '
                    "icn_indexes, billing_npi, billing_tin, first_service_date, charge_cents, "
                    "payer_id, nsa_protected, lines) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
                    "$9, $10, $11::jsonb) "
                    "ON CONFLICT (tenant_id, claim_id) DO UPDATE SET lines = EXCLUDED.lines",
                    rows)
            break
        except asyncpg.DeadlockDetectedError:  # rolled back whole: the upsert again
            if attempt == 2:
                raise
    app = settlement.parts.app
    assert isinstance(app, SettlementApplication)
    await timings.measure("settlements opened (written directly)",
                          asyncio.to_thread(_open, app, vendor.tenant, claim_ids))


def _open(app: SettlementApplication, tenant: str, claim_ids: list[str]) -> None:
    ctx = CommandContext(tenant_id=tenant, actor="test", now=datetime.now(UTC),
                         roles=frozenset({"finance"}), request_id="test-open")
    for start in range(0, len(claim_ids), OPEN_PER_SAVE):
        app.save_all(*(app.open_settlement(ctx, OpeningTerms(
            claim_id=claim_id, source=SettlementSource.AGREEMENT, source_ref="test",
            decided_on=date(2026, 11, 10), due_date=date(2026, 12, 10),
            amount_owed_cents=PAID_CENTS, agreed_total_cents=PAID_CENTS,
            patient_cost_sharing_cents=0, already_paid_cents=0, payer_id="87726"))
            for claim_id in claim_ids[start:start + OPEN_PER_SAVE]))
