"""The work-queue projection is order-safe: an offer (or assignment) that arrives after a later
one never overwrites it (seen in the fault suite: a redelivered offer left the provider's
amount as the last offer although the payer had countered)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.calendar import federal_calendar
from services.common.consumer import Delivery
from services.common.contracts import publish_fields
from services.common.wire import decode_payload
from services.negotiation.adapters.projections import WorkQueue
from services.negotiation.domain.deadlines import DeadlineEngine

pytestmark = pytest.mark.asyncio(loop_scope="session")


GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "contract" / "golden" / "negotiation"


def _delivery(event_type: str, negotiation_id: str, version: int, claim_id: str,
              tenant: str, **fields: Any) -> Delivery:
    """The golden event (tests/contract/golden) as the relay would publish it, at `version`."""
    payload = json.loads((GOLDEN / f"{event_type}.v1.json").read_text()) | fields
    if "claim_id" in payload:
        payload["claim_id"] = claim_id
    published = publish_fields("negotiation", event_type, payload)
    envelope = EventEnvelope(
        event_id=f"negotiation:{uuid.uuid4().int % 10**12}", service="negotiation",
        tenant_id=tenant, claim_id=claim_id, aggregate_type="Negotiation",
        aggregate_id=negotiation_id, aggregate_version=version, event_type=event_type,
        schema_version=published.schema_version, payload=published.payload,
        payload_content_type=published.content_type)
    return Delivery(envelope, decode_payload(envelope), datetime.now(UTC))


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
