"""Verify everything a tenant has in the log, from what the API streams (pure).

`auditor verify-tenant` feeds it the ReplayTenant stream: a signed checkpoint, then every
chain of the tenant with an inclusion proof per entry and a signed head per chain. Each chain
is recomputed and every entry proven under the checkpoint's root; the heads show no chain was
cut short; pinned checkpoints (checkpoint.py) show the checkpoint extends what was seen before.
No database, no trust in the server beyond the pinned key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from services.ledger.domain.chain_verification import ChainBreak, Status, verify_anchored
from services.ledger.domain.checkpoint import SignedChainHead, SignedCheckpoint
from services.ledger.domain.entry import AuditEntry


@dataclass
class TenantVerifier:
    tenant_id: str
    checkpoint: SignedCheckpoint
    log_size: int
    trusted_key: bytes
    problems: list[str] = field(default_factory=list)
    breaks: list[tuple[str, ChainBreak]] = field(default_factory=list)
    chains: int = 0
    entries: int = 0
    anchored: int = 0
    pending: int = 0
    consistent_with: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if error := self.checkpoint.check(self.trusted_key):
            self.problems.append(f"checkpoint: {error}")

    @property
    def status(self) -> Status:
        if self.problems or self.breaks:
            return Status.BROKEN
        return Status.PENDING if self.pending else Status.VERIFIED

    def add_chain(
        self,
        chain: str,
        entries: Sequence[AuditEntry],
        proofs: Mapping[int, Sequence[bytes]],
        stored_leaves: Mapping[int, bytes],
        head: SignedChainHead | None,
    ) -> None:
        cp = self.checkpoint.checkpoint
        self.chains += 1
        self.entries += len(entries)
        verdict = verify_anchored(
            chain, entries, cp, proofs, log_size=self.log_size, stored_leaves=stored_leaves
        )
        self.anchored += verdict.anchored
        self.pending += verdict.pending
        self.breaks.extend((chain, b) for b in verdict.chain.breaks)
        for entry in entries:
            if entry.facts.tenant_id != self.tenant_id:
                self.problems.append(
                    f"chain {chain}: entry #{entry.chain_seq} belongs to tenant "
                    f"{entry.facts.tenant_id!r}, not {self.tenant_id!r}"
                )
        covered = [e for e in entries if e.log_index < cp.tree_size]
        if covered:
            self._check_head(chain, covered[-1], head)

    def _check_head(self, chain: str, last: AuditEntry, signed: SignedChainHead | None) -> None:
        cp = self.checkpoint.checkpoint
        if signed is None:
            self.problems.append(f"chain {chain}: no signed head was sent")
            return
        if error := signed.check(self.trusted_key):
            self.problems.append(f"chain {chain}: head: {error}")
        h = signed.head
        if (h.chain, h.tenant_id, h.origin, h.tree_size) != (
            chain, self.tenant_id, cp.origin, cp.tree_size
        ):
            self.problems.append(
                f"chain {chain}: the signed head is for {h.chain!r} of tenant {h.tenant_id!r} "
                f"at size {h.tree_size}, not this chain at size {cp.tree_size}"
            )
        if (h.head_seq, h.head_hash) != (last.chain_seq, last.entry_hash):
            self.problems.append(
                f"chain {chain}: it ends at #{last.chain_seq} but the signed head is "
                f"#{h.head_seq}: entries were removed or replaced"
            )

    def findings(self) -> list[str]:
        """Each finding once (the server may report what the verifier found itself)."""
        found = [*self.problems, *(f"chain {c}: {b.describe()}" for c, b in self.breaks)]
        return list(dict.fromkeys(found))
