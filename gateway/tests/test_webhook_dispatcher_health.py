"""The webhook dispatcher is watched like every other background part of the gateway."""

from __future__ import annotations

import asyncio

import asyncpg

from gateway.partner.feed import PartnerFeed
from gateway.partner.webhooks import Dispatcher, DispatchSettings, WebhookStore
from services.common.health import ProgressMonitor


async def test_a_dispatcher_that_cannot_reach_its_database_turns_the_gateway_not_serving():
    # A real pool to a port where no PostgreSQL listens: every acquire is refused.
    pool = await asyncpg.create_pool("postgresql://postgres@127.0.0.1:9/none", min_size=0)
    monitor = ProgressMonitor("gateway", stall_seconds=0.3)
    dispatcher = Dispatcher(WebhookStore(pool, "gw"), PartnerFeed(pool, "gw"), b"k" * 32,
                            DispatchSettings(poll_seconds=0.05),
                            part=monitor.part("webhook-dispatcher"))
    task = asyncio.create_task(dispatcher.run())
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            (status,) = monitor.statuses()
            if status.stalled_seconds > 0.3:
                break
            assert asyncio.get_running_loop().time() < deadline, status
            await asyncio.sleep(0.05)
        await monitor.check()
        document = monitor.status()
        assert document["serving"] is False
        part = document["parts"]["webhook-dispatcher"]
        assert part["serving"] is False
        assert "cannot read the webhook endpoints" in part["reason"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        monitor.close()
        await pool.close()
