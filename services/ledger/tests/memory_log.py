"""A whole audit log in memory: the reference the tests and benchmarks compare the store with."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from services.ledger.domain.appending import LogState
from services.ledger.domain.bundle import Bundle
from services.ledger.domain.checkpoint import (
    ChainHead,
    Checkpoint,
    SignedChainHead,
    SignedCheckpoint,
)
from services.ledger.domain.entry import AuditEntry, EventFacts
from services.ledger.domain.merkle import (
    Frontier,
    NodeKey,
    assemble,
    consistency_ranges,
    inclusion_ranges,
    root_from_nodes,
)
from services.ledger.domain.signing import Signer


class MemoryTree:
    """Whole tree held in memory: proofs for tests, offline checks and benchmarks."""

    def __init__(self) -> None:
        self.nodes: dict[NodeKey, bytes] = {}
        self.frontier = Frontier()

    def append(self, leaf: bytes) -> None:
        for level, index, digest in self.frontier.append(leaf):
            self.nodes[(level, index)] = digest

    @property
    def size(self) -> int:
        return self.frontier.size

    def root(self, size: int | None = None) -> bytes:
        return root_from_nodes(self.size if size is None else size, self.nodes)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return assemble(inclusion_ranges(index, self.size if size is None else size), self.nodes)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        target = self.size if new_size is None else new_size
        return assemble(consistency_ranges(old_size, target), self.nodes)


class MemoryLog:
    def __init__(self, origin: str = "memory") -> None:
        self.origin = origin
        self.tree = MemoryTree()
        self.state = LogState(Frontier(), {})
        self.entries: list[AuditEntry] = []

    def append(self, events: Iterable[EventFacts]) -> list[AuditEntry]:
        placement = self.state.place_all(list(events))
        for level, index, digest in placement.nodes:
            self.tree.nodes[(level, index)] = digest
        self.tree.frontier = self.state.frontier
        self.entries.extend(placement.entries)
        return placement.entries

    def chain(self, chain: str) -> list[AuditEntry]:
        return [e for e in self.entries if e.chain == chain]

    def checkpoint(self, signer: Signer, issued_at: datetime) -> SignedCheckpoint:
        head = Checkpoint(self.origin, self.tree.size, self.tree.root(), issued_at)
        return SignedCheckpoint.sign(head, signer)

    def export(
        self, tenant_id: str, claim_id: str, chain: str, signer: Signer, issued_at: datetime
    ) -> Bundle:
        entries = self.chain(chain)
        signed = self.checkpoint(signer, issued_at)
        size = signed.checkpoint.tree_size
        last = entries[-1]
        head = ChainHead(self.origin, tenant_id, chain, last.chain_seq, last.entry_hash, size)
        return Bundle(
            tenant_id=tenant_id,
            claim_id=claim_id,
            chain=chain,
            checkpoint=signed,
            chain_head=SignedChainHead.sign(head, signer),
            entries=entries,
            proofs={e.log_index: self.tree.inclusion_proof(e.log_index, size) for e in entries},
        )
