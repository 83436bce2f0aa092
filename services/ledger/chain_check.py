"""Recompute a hash chain and name every entry that does not hold (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from services.ledger.entry import GENESIS_HASH, AuditEntry

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
