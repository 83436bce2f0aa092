"""Signs the log's tree head periodically, and on demand when an export needs it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from services.common.errors import FailedPrecondition
from services.ledger.checkpoint import Checkpoint, SignedCheckpoint
from services.ledger.merkle import verify_consistency
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
        root = await self.reader.root(size)
        if latest is not None:
            await self._refuse_rewritten_history(latest, size, root)
        head = Checkpoint(self.origin, size, root, self.clock())
        return await self.reader.store_checkpoint(SignedCheckpoint.sign(head, self.signer))

    async def _refuse_rewritten_history(
        self, latest: SignedCheckpoint, size: int, root: bytes
    ) -> None:
        """Never sign a tree that does not extend what was signed before (tampered nodes)."""
        old = latest.checkpoint
        proof = await self.reader.consistency_proof(old.tree_size, size)
        if not verify_consistency(old.tree_size, size, old.root_hash, root, proof):
            log.error(
                "ledger: stored tree of size %d does not extend the signed checkpoint of "
                "size %d; refusing to sign",
                size,
                old.tree_size,
            )
            raise FailedPrecondition(
                f"the stored Merkle tree of size {size} does not extend the signed checkpoint "
                f"of size {old.tree_size}: the log was altered; no new checkpoint is signed"
            )

    async def run(self, interval: float) -> None:
        while True:
            signed = await self.checkpoint()
            if signed is not None:
                log.debug("checkpoint at size %d", signed.checkpoint.tree_size)
            await asyncio.sleep(interval)  # periodic signing cadence, not a test wait
