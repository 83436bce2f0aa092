"""The `make run` demo functions against the running service (real PostgreSQL + NATS)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from deploy.local.demo.negotiation import negotiate_to_agreement, take_through_idr
from services.negotiation.tests.claims_events import publish_claim_events, triaged_claim_events
from tests.support.plugin import channel_to

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_demo_negotiates_one_claim_and_takes_another_through_idr(
    runtime: Any,
    infra_urls: Any,
) -> None:
    tenant = f"demo-{uuid.uuid4().hex[:8]}"
    prefix = runtime.settings.subject_prefix_for("claims")
    agreed_claim, idr_claim = str(uuid.uuid4()), str(uuid.uuid4())
    for claim_id in (agreed_claim, idr_claim):
        await publish_claim_events(
            infra_urls.nats_url, prefix, tenant, claim_id, triaged_claim_events()
        )
    lines: list[str] = []
    async with channel_to(runtime) as channel:
        agreed = await negotiate_to_agreement(channel, tenant, agreed_claim, lines.append)
        determined = await take_through_idr(channel, tenant, idr_claim, lines.append)
    assert agreed.status == "agreed"
    assert agreed.agreed_total_cents >= agreed.qpa_cents
    assert determined.status == "determined"
    assert determined.award_total_cents == determined.offers[0].amount_cents
    timeline = "\n".join(lines)
    assert "SettlementAgreed" in timeline and "IdrDetermined" in timeline
    assert "IDR window 2026-07-15..2026-07-20" in timeline  # ON business days 31..34
