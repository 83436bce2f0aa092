"""Appending to the log (pure): where the next event goes, and the guard that the appender
extends only history it wrote itself.

Placement: its log index, its chain link and the Merkle nodes it completes (`LogState`).

The guard: before a batch is placed, the appender compares what the table says with its own
view: the log size it wrote (its Merkle frontier) and the head of every chain it touches. A row
it did not write — at an index beyond its log, a head that differs from the one it remembers, or
a head it reloads that does not hash or is not the leaf it stored — is a forgery: the chain is
halted (its events wait, unacknowledged) and the finding is recorded, instead of chaining a real
event onto a row somebody inserted with a correctly computed hash (issue 14).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field

from services.ledger.domain.chain_verification import leaf_of
from services.ledger.domain.entry import GENESIS_HASH, AuditEntry, EventFacts, place
from services.ledger.domain.merkle import Frontier

ChainTip = tuple[int, bytes]
"""(sequence, hash) of the last entry of a chain."""

MerkleNode = tuple[int, int, bytes]
"""(level, index, hash) of a completed perfect subtree."""


@dataclass
class Placement:
    entries: list[AuditEntry] = field(default_factory=list)
    nodes: list[MerkleNode] = field(default_factory=list)


@dataclass
class LogState:
    frontier: Frontier
    heads: MutableMapping[str, ChainTip]
    """Heads of the chains the caller loaded; a chain missing here starts at genesis."""

    @property
    def size(self) -> int:
        return self.frontier.size

    def place_all(self, batch: list[EventFacts]) -> Placement:
        placement = Placement()
        for facts in batch:
            chain = facts.chain
            seq, prev = self.heads.get(chain, (0, GENESIS_HASH))
            entry = place(facts, self.frontier.size, seq + 1, prev)
            self.heads[chain] = (entry.chain_seq, entry.entry_hash)
            placement.nodes.extend(self.frontier.append(leaf_of(entry)))
            placement.entries.append(entry)
        return placement


# -- the guard --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Forgery:
    """A row of the audit table that the appender did not write, and why it says so."""

    chain: str
    log_index: int
    event_id: str
    detail: str

    def describe(self) -> str:
        return f"chain {self.chain}: {self.detail}"


def beyond_the_log(chain: str, log_index: int, event_id: str, size: int) -> Forgery:
    return Forgery(
        chain,
        log_index,
        event_id,
        f"event {event_id} sits at log index {log_index}, beyond the {size} entries this "
        "appender wrote: nobody appended it through the ledger",
    )


def check_remembered_head(
    chain: str, remembered: ChainTip, stored: ChainTip | None
) -> Forgery | None:
    """A chain the appender holds in memory: the table's head must be exactly that one."""
    seq, digest = remembered
    if stored is None:
        return Forgery(
            chain, -1, "", f"the head this appender wrote (#{seq}) is no longer in the table"
        )
    if stored != remembered:
        stored_seq, stored_digest = stored
        return Forgery(
            chain,
            -1,
            "",
            f"the stored head #{stored_seq} ({stored_digest.hex()[:16]}) is not the head this "
            f"appender wrote (#{seq}, {digest.hex()[:16]})",
        )
    return None


def check_reloaded_head(
    stored: AuditEntry, size: int, stored_leaves: Mapping[int, bytes]
) -> Forgery | None:
    """A head the appender reloads from the table (not in memory): it must be inside the
    appender's log, hash to its stored hash, and be the leaf the appender stored there."""
    where = (
        f"head #{stored.chain_seq} (event {stored.facts.event_id}, log index {stored.log_index})"
    )
    if stored.log_index >= size:
        return beyond_the_log(stored.chain, stored.log_index, stored.facts.event_id, size)
    if stored.recomputed_hash() != stored.entry_hash:
        return Forgery(stored.chain, stored.log_index, stored.facts.event_id,
                       f"{where} does not hash to its stored hash")
    if stored_leaves.get(stored.log_index) != leaf_of(stored):
        return Forgery(stored.chain, stored.log_index, stored.facts.event_id,
                       f"{where} is not the leaf the appender stored at that index")
    return None
