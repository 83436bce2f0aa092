"""An older upstream event retried after a newer one is still applied (exact tracking)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.consumer import Delivery
from services.common.context import CommandContext
from services.common.processors import ApplicationProcessor
from services.common.wire import canonical_json
from services.settlement.adapters.subscriptions import claim_facts_lookup, negotiation_reaction

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _agreed(tenant: str, claim_id: str, notification_id: int) -> Delivery:
    payload = {
        "claim_id": claim_id, "agreed_on": "2026-10-01", "agreed_total_cents": 100_000,
        "patient_cost_sharing_cents": 10_000, "already_paid_cents": 0, "offer_id": "o",
        "payment_due_on": "2026-10-31",
    }  # fmt: skip
    envelope = EventEnvelope(
        event_id=f"negotiation:{notification_id}",
        service="negotiation",
        notification_id=notification_id,
        tenant_id=tenant,
        claim_id=claim_id,
        aggregate_id=claim_id,
        aggregate_version=1,
        event_type="SettlementAgreed",
        payload=canonical_json(payload),
    )
    return Delivery(envelope, payload, datetime.now(UTC))


async def test_retried_older_event_is_not_skipped(settlement_runtime: Any) -> None:
    app = settlement_runtime.parts.app
    settings = settlement_runtime.settings
    processor = ApplicationProcessor(
        app,
        f"exact-{uuid.uuid4().hex[:8]}",
        negotiation_reaction(app, claim_facts_lookup(app, settings.schema)),
        settlement_runtime.infra.blocking.executor,
    )
    tenant = f"exact-{uuid.uuid4().hex[:8]}"
    newer, older = _agreed(tenant, "claim-new", 5_000), _agreed(tenant, "claim-old", 4_000)
    assert await processor.process(newer)
    assert await processor.process(older)  # the library's max-position check would skip it
    assert not await processor.process(older)  # a true duplicate is still absorbed
    ctx = CommandContext(tenant_id=tenant, actor="t", now=datetime.now(UTC))
    assert app.settlement(ctx, "claim-old").plan_share_cents == 90_000
