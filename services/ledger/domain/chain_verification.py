"""Verifying one chain (pure): recompute its links and hashes, then anchor every entry in the
signed log (each must be provably under the checkpoint's root, or stored by the appender)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from services.ledger.domain.checkpoint import Checkpoint
from services.ledger.domain.entry import GENESIS_HASH, AuditEntry
from services.ledger.domain.merkle import leaf_hash, verify_inclusion

MAX_FINDINGS = 100


class BreakKind(StrEnum):
    CONTENT_ALTERED = "content_altered"
    LINK_BROKEN = "link_broken"
    MISSING_ENTRY = "missing_entry"
    OUT_OF_ORDER = "out_of_order"
    WRONG_CHAIN = "wrong_chain"
    NOT_IN_LOG = "not_in_log"
    FORGED = "forged"


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """One entry that fails verification, named so an auditor can find it."""

    kind: BreakKind
    chain_seq: int
    event_id: str
    log_index: int
    detail: str

    def describe(self) -> str:
        return (
            f"entry #{self.chain_seq} (event {self.event_id}, log index {self.log_index}): "
            f"{self.kind.value}: {self.detail}"
        )


@dataclass(slots=True)
class ChainVerdict:
    chain: str
    entries_checked: int = 0
    head_hash: bytes = GENESIS_HASH
    head_seq: int = 0
    breaks: list[ChainBreak] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    def add(self, finding: ChainBreak) -> None:
        if len(self.breaks) < MAX_FINDINGS:
            self.breaks.append(finding)


def verify_chain(chain: str, entries: Iterable[AuditEntry]) -> ChainVerdict:
    """Check entries given in chain order: sequence, link to the previous hash, own hash.

    A broken entry is reported once; the next entry is linked against the hash that was
    stored, so one altered row yields one finding instead of a cascade.
    """
    verdict = ChainVerdict(chain=chain)
    expected_seq, prev_hash = 1, GENESIS_HASH
    for entry in entries:
        verdict.entries_checked += 1

        def found(kind: BreakKind, detail: str, entry: AuditEntry = entry) -> None:
            verdict.add(
                ChainBreak(kind, entry.chain_seq, entry.facts.event_id, entry.log_index, detail)
            )

        if entry.chain != chain or entry.facts.chain != chain:
            found(BreakKind.WRONG_CHAIN, f"belongs to {entry.facts.chain!r}, not {chain!r}")
        if entry.chain_seq > expected_seq:
            missing = (
                f"#{expected_seq}"
                if entry.chain_seq == expected_seq + 1
                else f"#{expected_seq}..#{entry.chain_seq - 1}"
            )
            found(BreakKind.MISSING_ENTRY, f"entry {missing} is missing before this one")
        elif entry.chain_seq < expected_seq:
            found(BreakKind.OUT_OF_ORDER, f"sequence {entry.chain_seq} after #{expected_seq - 1}")
        if entry.prev_hash != prev_hash:
            found(
                BreakKind.LINK_BROKEN,
                f"prev_hash {entry.prev_hash.hex()} does not match the previous entry's hash "
                f"{prev_hash.hex()}",
            )
        recomputed = entry.recomputed_hash()
        if recomputed != entry.entry_hash:
            found(
                BreakKind.CONTENT_ALTERED,
                f"stored hash {entry.entry_hash.hex()} but the content hashes to "
                f"{recomputed.hex()}",
            )
        prev_hash = entry.entry_hash
        expected_seq = max(expected_seq, entry.chain_seq) + 1
        verdict.head_hash, verdict.head_seq = entry.entry_hash, entry.chain_seq
    return verdict


# -- anchoring: every entry proven in the signed checkpoint ------------------------------------


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
