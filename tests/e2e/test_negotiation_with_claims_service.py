"""The claims service's real events open a negotiation, which the demo takes to agreement."""

from __future__ import annotations

import contextlib
import io
import uuid
from typing import Any

import pytest

from deploy.local.demo.claims import seed_claims
from deploy.local.demo.negotiation import negotiate_to_agreement
from tests.support.plugin import call_metadata, channel_to

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_claim_triaged_by_the_claims_service_is_negotiated_to_agreement(
    stack: Any,
) -> None:
    """Straight to the two services (no gateway): the demo's own calls, signed as it does."""
    stack.require("claims", "negotiation")
    claims_runtime, runtime = stack.services["claims"], stack.services["negotiation"]
    tenant = f"e2e-{uuid.uuid4().hex[:8]}"
    async with channel_to(claims_runtime) as claims_channel:
        with contextlib.redirect_stdout(io.StringIO()):
            claim_ids = await seed_claims(claims_channel, call_metadata(tenant))
    lines: list[str] = []
    async with channel_to(runtime) as channel:
        agreed = await negotiate_to_agreement(channel, tenant, claim_ids[0], lines.append)
    assert agreed.claim_id == claim_ids[0]
    assert agreed.status == "agreed" and agreed.qpa_cents > 0
    assert agreed.route == "federal_idr"
