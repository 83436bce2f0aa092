"""How many gateway replicas are alive: each announces itself on core NATS every `interval`
and counts the peers it heard from within the last three intervals (itself included).

Used to split each API key's rate limit between replicas (`gateway.ratelimit`). Core NATS,
not JetStream: a heartbeat is worth nothing once it is old. The subject sits outside every
service stream's subjects, so no heartbeat is ever stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from services.common.cancellation import raise_if_cancelling
from services.common.settings import Settings

STALE_AFTER_INTERVALS = 3


def presence_subject(settings: Settings) -> str:
    return f"_oon.{settings.namespace or 'default'}.gateway.presence"


class ReplicaPresence:
    def __init__(
        self,
        nc: NATS,
        subject: str,
        interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.nc = nc
        self.subject = subject
        self.interval = interval
        self.replica_id = uuid.uuid4().hex
        self._clock = clock
        self._last_seen: dict[str, float] = {}

    def count(self) -> int:
        """Live replicas, this one included (1 until the first heartbeat comes back)."""
        horizon = self._clock() - STALE_AFTER_INTERVALS * self.interval
        live = {rid for rid, seen in self._last_seen.items() if seen >= horizon}
        return len(live | {self.replica_id})

    async def _heard(self, msg: Msg) -> None:
        self._last_seen[msg.data.decode()] = self._clock()

    async def run(self) -> None:
        subscription = await self.nc.subscribe(self.subject, cb=self._heard)
        try:
            while True:
                raise_if_cancelling()
                await self.nc.publish(self.subject, self.replica_id.encode())
                horizon = self._clock() - STALE_AFTER_INTERVALS * self.interval
                for rid in [r for r, seen in self._last_seen.items() if seen < horizon]:
                    del self._last_seen[rid]  # replicas that left
                await asyncio.sleep(self.interval)  # the heartbeat period
        finally:
            with contextlib.suppress(nats.errors.Error):  # the connection may be closing
                await subscription.unsubscribe()
