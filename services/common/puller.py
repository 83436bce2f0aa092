"""Pull batches from a durable JetStream consumer into one inbox subscription.

nats-py's `fetch()` awaits each message of a batch with its own timeout task; at the rates of
the ledger's ingest and the fees service's assessment that bookkeeping costs more than the work
itself. Here a pull request asks for a batch and the server streams it into a subscription
whose callback only appends. Used by consumers that process whole batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

HEARTBEAT = "100"


class BatchPuller:
    def __init__(self, nc: NATS, stream: str, durable: str, api_prefix: str = "$JS.API") -> None:
        self._nc = nc
        self._next = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = ""
        self._sub: Subscription | None = None
        # Messages arriving after a fetch returned wait here for the next one: none is lost
        # and the stream's order is kept.
        self._buffer: list[Msg] = []
        self._wanted = 0
        self._done = asyncio.Event()

    async def start(self) -> None:
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(self._inbox, cb=self._on_message)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    @property
    def buffered(self) -> list[Msg]:
        """Delivered to us, not yet returned by `fetch` (their ack_wait is running)."""
        return list(self._buffer)

    async def _on_message(self, msg: Msg) -> None:
        status = msg.headers.get("Status") if msg.headers else None
        if status:
            if status != HEARTBEAT:
                self._done.set()  # 404 no messages, 408 request expired, 409 conflict
            return
        self._buffer.append(msg)
        if len(self._buffer) >= self._wanted:
            self._done.set()

    async def fetch(self, batch: int, expires: float = 1.0) -> list[Msg]:
        """Up to `batch` messages in stream order, as soon as any are available; none when
        `expires` passes without one."""
        if len(self._buffer) < batch:
            # What is there now: the server answers at once, ending with 404 when short.
            await self._request(
                {"batch": batch - len(self._buffer), "no_wait": True}, wanted=batch, timeout=expires
            )
        if not self._buffer:
            # Nothing yet: wait for the first message (the rest of this request's batch
            # arrives into the buffer for the next fetch).
            request = {"batch": batch, "expires": int(expires * 1e9)}
            await self._request(request, wanted=1, timeout=expires + 1.0)
        taken, self._buffer = self._buffer[:batch], self._buffer[batch:]
        return taken

    async def _request(self, request: Mapping[str, object], wanted: int, timeout: float) -> None:
        self._wanted = wanted
        self._done.clear()
        await self._nc.publish(self._next, json.dumps(request).encode(), reply=self._inbox)
        # asyncio.timeout, not wait_for: Python 3.11's wait_for returns normally when the
        # event is set in the same loop iteration as a cancellation, swallowing the cancel
        # (that left a ledger TaskGroup waiting forever on one stream while the others had
        # stopped; docs/decisions.md §10).
        with contextlib.suppress(TimeoutError):  # no answer in time: return what arrived
            async with asyncio.timeout(timeout):
                await self._done.wait()
