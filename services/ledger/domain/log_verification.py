"""Verifying the whole log in one pass: every chain link, every hash, every signed tree head.

Pure and streaming: feed entries in log order; memory grows with the number of chains (their
heads), not with the number of entries. `verify_stored_log` runs it over a stored log (the
auditor's `verify-log`, operators with read access to the database).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from services.ledger.domain.appending import ChainTip
from services.ledger.domain.chain_verification import leaf_of
from services.ledger.domain.checkpoint import SignedCheckpoint
from services.ledger.domain.entry import GENESIS_HASH, AuditEntry
from services.ledger.domain.merkle import Frontier

MAX_PROBLEMS = 100


@dataclass
class LogVerifier:
    trusted_key: bytes | None
    checkpoints: dict[int, SignedCheckpoint] = field(default_factory=dict)
    frontier: Frontier = field(default_factory=Frontier)
    heads: dict[str, ChainTip] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    checkpoints_verified: int = 0

    @classmethod
    def for_checkpoints(
        cls, checkpoints: Iterable[SignedCheckpoint], trusted_key: bytes | None
    ) -> LogVerifier:
        verifier = cls(trusted_key, {c.checkpoint.tree_size: c for c in checkpoints})
        for signed in verifier.checkpoints.values():
            if error := signed.check(trusted_key):
                verifier._problem(f"checkpoint of size {signed.checkpoint.tree_size}: {error}")
        return verifier

    @property
    def ok(self) -> bool:
        return not self.problems

    def _problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)

    def feed(self, entry: AuditEntry) -> None:
        index = self.frontier.size
        name = f"log index {index} (event {entry.facts.event_id}, {entry.chain} #{entry.chain_seq})"
        if entry.log_index != index:
            self._problem(f"{name}: stored at index {entry.log_index}: entries missing or moved")
        seq, prev = self.heads.get(entry.chain, (0, GENESIS_HASH))
        if entry.chain_seq != seq + 1 or entry.prev_hash != prev:
            self._problem(f"{name}: does not follow #{seq} of its chain")
        if entry.recomputed_hash() != entry.entry_hash:
            self._problem(f"{name}: content does not match its hash")
        self.heads[entry.chain] = (entry.chain_seq, entry.entry_hash)
        self.frontier.append(leaf_of(entry))
        signed = self.checkpoints.get(self.frontier.size)
        if signed is not None:
            self._check_checkpoint(signed)

    def _check_checkpoint(self, signed: SignedCheckpoint) -> None:
        self.checkpoints_verified += 1
        if self.frontier.root() != signed.checkpoint.root_hash:
            self._problem(
                f"the first {signed.checkpoint.tree_size} entries do not hash to the signed "
                f"root of that checkpoint: the log was changed after it was signed"
            )

    def finish(self) -> None:
        beyond = [size for size in self.checkpoints if size > self.frontier.size]
        for size in sorted(beyond):
            self._problem(
                f"a checkpoint covers {size} entries but the log has only {self.frontier.size}"
            )



class StoredLog(Protocol):
    """What `verify_stored_log` reads (the SQL reader, adapters/sql_reader.py, is one)."""

    async def checkpoints(self) -> list[SignedCheckpoint]: ...

    def whole_log(self) -> AsyncIterator[AuditEntry]: ...


async def verify_stored_log(reader: StoredLog, trusted_key: bytes | None) -> LogVerifier:
    verifier = LogVerifier.for_checkpoints(await reader.checkpoints(), trusted_key)
    async for entry in reader.whole_log():
        verifier.feed(entry)
    verifier.finish()
    return verifier
