"""Anchor a verified chain in the signed log: each entry must be provably in the checkpoint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.ledger.chain_check import BreakKind, ChainBreak, ChainVerdict, verify_chain
from services.ledger.checkpoint import Checkpoint
from services.ledger.entry import AuditEntry
from services.ledger.merkle import leaf_hash, verify_inclusion


class Status(StrEnum):
    VERIFIED = "verified"
    """Every entry holds and is proven in the signed checkpoint."""
    PENDING = "pending"
    """Nothing is broken, but some entries are not covered by a signed checkpoint yet."""
    BROKEN = "broken"


@dataclass(slots=True)
class AnchoredVerdict:
    chain: ChainVerdict
    checkpoint: Checkpoint | None
    anchored: int
    """Entries proven to be in the signed checkpoint."""
    pending: int
    """Entries appended after the checkpoint (not yet covered by a signature)."""

    @property
    def ok(self) -> bool:
        return self.chain.ok

    def status(self, log_problems: Sequence[str] = ()) -> Status:
        if not self.ok or log_problems:
            return Status.BROKEN
        return Status.PENDING if self.pending else Status.VERIFIED


def leaf_of(entry: AuditEntry) -> bytes:
    """The Merkle leaf of an entry commits to its chain hash (and so to its whole history)."""
    return leaf_hash(entry.entry_hash)


def verify_anchored(
    chain: str,
    entries: Sequence[AuditEntry],
    checkpoint: Checkpoint | None,
    proofs: Mapping[int, Sequence[bytes]],
    log_size: int | None = None,
    stored_leaves: Mapping[int, bytes] | None = None,
) -> AnchoredVerdict:
    """With `log_size` (the leaves the appender stored) and `stored_leaves` (the stored leaf of
    each entry not yet under the checkpoint), an entry the appender never wrote is FORGED
    rather than pending."""
    verdict = verify_chain(chain, entries)
    anchored = pending = 0
    for entry in entries:
        if checkpoint is None or entry.log_index >= checkpoint.tree_size:
            if log_size is not None and entry.log_index >= log_size:
                verdict.add(_forged(entry, f"log index {entry.log_index} is beyond the log "
                                           f"({log_size} entries): nobody appended it"))
            elif stored_leaves is not None and stored_leaves.get(entry.log_index) != leaf_of(
                entry
            ):
                verdict.add(_forged(entry, f"it is not the leaf stored at log index "
                                           f"{entry.log_index}"))
            else:
                pending += 1
            continue
        proof = proofs.get(entry.log_index)
        if proof is not None and verify_inclusion(
            entry.log_index, checkpoint.tree_size, leaf_of(entry), proof, checkpoint.root_hash
        ):
            anchored += 1
            continue
        verdict.add(
            ChainBreak(
                BreakKind.NOT_IN_LOG,
                entry.chain_seq,
                entry.facts.event_id,
                entry.log_index,
                f"not proven at log index {entry.log_index} of the checkpoint of size "
                f"{checkpoint.tree_size} (root {checkpoint.root_hash.hex()})",
            )
        )
    return AnchoredVerdict(verdict, checkpoint, anchored, pending)


def _forged(entry: AuditEntry, detail: str) -> ChainBreak:
    return ChainBreak(BreakKind.FORGED, entry.chain_seq, entry.facts.event_id, entry.log_index,
                      detail)
