"""Signs the log's tree head periodically, and on demand when an export needs it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from services.ledger.checkpoint import Checkpoint, SignedCheckpoint
from services.ledger.reader import LogReader
from services.ledger.signing import Signer

log = logging.getLogger(__name__)


class Checkpointer:
    def __init__(
        self, reader: LogReader, signer: Signer, origin: str, clock: Callable[[], datetime]
    ) -> None:
        self.reader = reader
        self.signer = signer
        self.origin = origin
        self.clock = clock

    async def checkpoint(self, at_least: int = 0) -> SignedCheckpoint | None:
        """The latest checkpoint if it covers the log (or `at_least` entries), else a new one."""
        latest = await self.reader.latest_checkpoint()
        covered = latest.checkpoint.tree_size if latest else 0
        if at_least and covered >= at_least:
            return latest
        size = await self.reader.tree_size()
        if size <= covered:
            return latest
        head = Checkpoint(self.origin, size, await self.reader.root(size), self.clock())
        return await self.reader.store_checkpoint(SignedCheckpoint.sign(head, self.signer))

    async def run(self, interval: float) -> None:
        while True:
            signed = await self.checkpoint()
            if signed is not None:
                log.debug("checkpoint at size %d", signed.checkpoint.tree_size)
            await asyncio.sleep(interval)  # periodic signing cadence, not a test wait
