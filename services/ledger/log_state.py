"""Where the next event goes: its log index, its chain link and the Merkle nodes it completes."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field

from services.ledger.anchoring import leaf_of
from services.ledger.entry import GENESIS_HASH, AuditEntry, EventFacts, place
from services.ledger.merkle import Frontier

ChainHead = tuple[int, bytes]
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
    heads: MutableMapping[str, ChainHead]
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
