"""Signs the log's tree head periodically, and on demand when an export needs it.

It vouches only for what it can check: the new tree must extend the last signed one (and the
last witnessed one, services/ledger/adapters/witness.py), every new position must hold exactly the
entry whose leaf the appender stored, and the database must not contradict the witness.
Otherwise it refuses (`DataLoss`, DATA_LOSS to a caller, an ERROR log, `refusal` for health).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from services.common.errors import DataLoss
from services.common.health import Part
from services.ledger.adapters.sql_reader import LogReader
from services.ledger.adapters.witness import Witness
from services.ledger.domain.checkpoint import Checkpoint, SignedCheckpoint, witness_disagreements
from services.ledger.domain.merkle import verify_consistency
from services.ledger.domain.signing import Signer

log = logging.getLogger(__name__)


class Checkpointer:
    def __init__(
        self,
        reader: LogReader,
        signer: Signer,
        origin: str,
        clock: Callable[[], datetime],
        witness: Witness | None = None,
        part: Part | None = None,
    ) -> None:
        self.part = part  # health: NOT_SERVING while it refuses to sign
        self.reader = reader
        self.signer = signer
        self.origin = origin
        self.clock = clock
        self.witness = witness
        self.refusal: str | None = None
        """Why the last attempt refused to sign (None when it signed or had nothing to do)."""

    async def checkpoint(self, at_least: int = 0) -> SignedCheckpoint | None:
        """The latest checkpoint if it covers the log (or `at_least` entries), else a new one."""
        try:
            signed = await self._checkpoint(at_least)
        except DataLoss as exc:
            if self.refusal != str(exc):
                log.error("ledger: refusing to sign a checkpoint: %s", exc)
            self.refusal = str(exc)
            if self.part is not None:
                self.part.failed(f"refusing to sign a checkpoint: {exc}")
            raise
        self.refusal = None
        if self.part is not None:
            self.part.recovered()
        return signed

    async def _checkpoint(self, at_least: int) -> SignedCheckpoint | None:
        latest = await self.reader.latest_checkpoint()
        covered = latest.checkpoint.tree_size if latest else 0
        size = await self.reader.tree_size()
        await self._refuse_contradicted_witness(size)
        if (at_least and covered >= at_least) or size <= covered:
            await self._witness(latest)
            return latest
        root = await self.reader.root(size)
        if latest is not None:
            await self._refuse_rewritten_history(latest, size, root)
        await self._refuse_unaccounted_positions(covered, size)
        head = Checkpoint(self.origin, size, root, self.clock())
        signed = await self.reader.store_checkpoint(SignedCheckpoint.sign(head, self.signer))
        await self._witness(signed)
        return signed

    async def _witness(self, signed: SignedCheckpoint | None) -> None:
        if self.witness is not None and signed is not None:
            await self.witness.publish(signed)

    async def _refuse_contradicted_witness(self, size: int) -> None:
        if self.witness is None:
            return
        witnessed = await self.witness.latest()
        if witnessed is None:
            return
        stored = await self.reader.checkpoint_of_size(witnessed.checkpoint.tree_size)
        problems = witness_disagreements(witnessed, stored, size)
        if problems:
            raise DataLoss("; ".join(problems) + "; no new checkpoint is signed")

    async def _refuse_unaccounted_positions(self, start: int, end: int) -> None:
        """Every position about to be signed holds one entry, whose leaf is the stored one."""
        rows, matching = await self.reader.accounted_positions(start, end)
        if rows != end - start or matching != rows:
            raise DataLoss(
                f"log positions {start}..{end - 1}: {end - start - rows} without an entry and "
                f"{rows - matching} whose entry is not the stored leaf; no new checkpoint is "
                "signed over a gap or a substituted entry"
            )

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
            raise DataLoss(
                f"the stored Merkle tree of size {size} does not extend the signed checkpoint "
                f"of size {old.tree_size}: the log was altered; no new checkpoint is signed"
            )

    async def run(self, interval: float) -> None:
        while True:
            try:
                signed = await self.checkpoint()
            except DataLoss:
                signed = None  # logged once and kept in `refusal` (health); asked again below
            if signed is not None:
                log.debug("checkpoint at size %d", signed.checkpoint.tree_size)
            await asyncio.sleep(interval)  # periodic signing cadence, not a test wait
