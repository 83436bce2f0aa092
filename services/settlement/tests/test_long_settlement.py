"""A settlement with many events saves and reloads exactly (it once failed taking a snapshot)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from services.common.runtime import ServiceRuntime
from services.settlement.tests.builders import ctx, opened_settlement

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_settlement_with_more_than_fifty_events_saves_and_reloads(
    settlement_runtime: ServiceRuntime,
) -> None:
    assert settlement_runtime.parts is not None
    app: Any = settlement_runtime.parts.app
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    settlement = opened_settlement(tenant=tenant, agreed=1_000_000, already_paid=0)
    for i in range(60):  # a payer paying in instalments, some bounced
        settlement.post_payment(
            ctx(tenant), payment_id=f"p{i}", amount_cents=100 + i, method="eft",
            reference=f"EFT-{i}", paid_on=date(2026, 11, 3),
        )  # fmt: skip
        if i % 10 == 9:
            settlement.reverse_payment(
                ctx(tenant), payment_id=f"p{i}", reason="bounced", reversed_on=date(2026, 11, 4)
            )
    assert settlement.version > 60
    app.save_all(settlement)

    app.repository.cache = None  # read it back from the database, not the cache
    reloaded = app.repository.get(settlement.id)
    assert reloaded.version == settlement.version
    assert reloaded.paid_cents == settlement.paid_cents
    assert reloaded.payments == settlement.payments
