"""The work-queue projection is order-safe: an offer (or assignment) that arrives after a later
one never overwrites it (seen in the fault suite: a redelivered offer left the provider's
amount as the last offer although the payer had countered)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.common.calendar import federal_calendar
from services.common.consumer import Delivery
from services.negotiation.adapters.projections import WorkQueue
from services.negotiation.domain.deadlines import DeadlineEngine
from tests.contract import golden

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _delivery(event_type: str, negotiation_id: str, version: int, claim_id: str,
              tenant: str, **fields: Any) -> Delivery:
    payload = golden.load("negotiation", event_type) | fields
    if "claim_id" in payload:
        payload["claim_id"] = claim_id
    found = golden.delivery("negotiation", event_type, claim_id=claim_id, tenant_id=tenant,
                            fields=payload)
    found.envelope.aggregate_type = "Negotiation"
    found.envelope.aggregate_id = negotiation_id
    found.envelope.aggregate_version = version
    return found


async def test_a_late_offer_or_assignment_does_not_overwrite_a_later_one(runtime: Any) -> None:
    infra = runtime.infra
    queue = WorkQueue(infra.pool, infra.settings.schema, DeadlineEngine(federal_calendar()))
    await queue.migrate(infra.pool)
    tenant, nid, claim = f"t-{uuid.uuid4().hex[:8]}", str(uuid.uuid4()), str(uuid.uuid4())
    arrivals = [
        _delivery("Opened", nid, 1, claim, tenant),
        _delivery("CounterOfferMade", nid, 5, claim, tenant, amount_cents=120_000),
        _delivery("AssigneeChanged", nid, 6, claim, tenant, assignee="nego-bo"),
        _delivery("OfferMade", nid, 4, claim, tenant, amount_cents=180_000),  # redelivered
        _delivery("AssigneeChanged", nid, 3, claim, tenant, assignee="nego-ana"),  # late
    ]
    async with infra.pool.acquire() as conn:
        for delivery in arrivals:
            await queue.apply(conn, delivery)
        row = await conn.fetchrow(
            queue.sql("SELECT last_offer_cents, assignee FROM @table WHERE negotiation_id = $1"),
            uuid.UUID(nid))
    assert (row["last_offer_cents"], row["assignee"]) == (120_000, "nego-bo")
