"""The partner feed learns each claim's client from the claims service's events; an event of
another service recorded while that is happening must still get the client."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from gateway.partner.feed import PartnerFeed
from tests.contract import golden
from tests.support.plugin import InfraUrls


async def test_an_event_recorded_while_its_claims_client_is_being_learned_gets_the_client(
    infra_urls: InfraUrls,
) -> None:
    pool = await asyncpg.create_pool(infra_urls.database_url, min_size=2, max_size=4)
    feed = PartnerFeed(pool, f"feed_{uuid.uuid4().hex[:10]}")
    await feed.migrate()
    claim_id = f"claim-{uuid.uuid4().hex[:8]}"
    registered = golden.delivery("claims", "ClaimRegistered", claim_id=claim_id)
    client_id = registered.message.claim.client_id  # type: ignore[attr-defined]
    assert client_id
    noted = golden.delivery("negotiation", "AssigneeChanged", claim_id=claim_id)
    try:
        async with pool.acquire() as learning, pool.acquire() as other:
            claims_batch = learning.transaction()
            await claims_batch.start()
            await feed.record_many(learning, [registered])  # learned, not yet committed

            async def negotiation_batch() -> None:
                async with other.transaction():
                    await feed.record_many(other, [noted])

            racing = asyncio.create_task(negotiation_batch())
            await asyncio.sleep(0.5)  # the negotiation batch is now waiting or done
            await claims_batch.commit()
            await asyncio.wait_for(racing, 30)
        rows = await pool.fetch(
            f"SELECT event_type, client_id FROM {feed.events} ORDER BY position")
        assert [(r["event_type"], r["client_id"]) for r in rows] == [
            ("ClaimRegistered", client_id), ("AssigneeChanged", client_id)]
    finally:
        await pool.execute(f'DROP SCHEMA "{feed.schema}" CASCADE')
        await pool.close()
