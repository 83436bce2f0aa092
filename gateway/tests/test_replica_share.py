"""Several gateway replicas share each key's rate limit: they find each other over NATS."""

from __future__ import annotations

import asyncio
import uuid

import nats
import pytest

from gateway.presence import ReplicaPresence
from gateway.ratelimit import RateLimiter
from tests.support.plugin import InfraUrls, eventually

INTERVAL = 0.1


@pytest.mark.asyncio(loop_scope="session")
async def test_replicas_count_each_other_and_forget_one_that_left(infra_urls: InfraUrls) -> None:
    subject = f"_oon.test{uuid.uuid4().hex[:8]}.gateway.presence"
    connections = [await nats.connect(infra_urls.nats_url) for _ in range(3)]
    replicas = [ReplicaPresence(nc, subject, interval=INTERVAL) for nc in connections]
    tasks = [asyncio.create_task(r.run()) for r in replicas]
    try:
        assert all(r.count() >= 1 for r in replicas)
        await eventually(lambda: [r.count() for r in replicas] == [3, 3, 3], timeout=5)
        tasks[2].cancel()
        await asyncio.gather(tasks[2], return_exceptions=True)
        # Silent for three intervals: the others stop counting it.
        await eventually(lambda: [r.count() for r in replicas[:2]] == [2, 2], timeout=5)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for nc in connections:
            await nc.close()


def test_each_replica_enforces_its_share_of_the_keys_limit() -> None:
    live = [1]
    limiter = RateLimiter(replicas=lambda: live[0])
    # Alone: the whole burst of 10.
    assert [limiter.take("k", 10.0, 10, now=0.0) for _ in range(10)] == [0.0] * 10
    assert limiter.take("k", 10.0, 10, now=0.0) > 0
    # Two replicas: each allows half the rate and half the burst; nothing is refilled by the
    # change of share.
    live[0] = 2
    assert limiter.take("k", 10.0, 10, now=0.0) == pytest.approx(0.2)  # 5 tokens/s here
    assert [limiter.take("other", 10.0, 10, now=0.0) for _ in range(5)] == [0.0] * 5
    assert limiter.take("other", 10.0, 10, now=0.0) == pytest.approx(0.2)
    assert limiter.take("other", 10.0, 10, now=1.0) == 0.0  # refilled at 5/s, capped at 5
