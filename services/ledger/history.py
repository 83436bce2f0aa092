"""Does a checkpoint the ledger serves extend the checkpoints an auditor pinned? (pure)

An auditor keeps every checkpoint they saw (`auditor_cli checkpoint --out`, `verify-tenant
--save`). A later checkpoint must be an append-only extension of each: same origin, a tree at
least as large, and an RFC 9162 consistency proof from the old root to the new one. A smaller
tree than a pinned one means the log was rolled back (e.g. restored from an old backup).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.ledger.checkpoint import SignedCheckpoint
from services.ledger.merkle import verify_consistency


def check_consistency(
    old: SignedCheckpoint,
    new: SignedCheckpoint,
    proof: Sequence[bytes],
    trusted_key: bytes | None,
) -> list[str]:
    """Problems found (empty when `new` extends `old`)."""
    problems = [
        f"{label} checkpoint: {error}"
        for label, signed in (("older", old), ("newer", new))
        if (error := signed.check(trusted_key))
    ]
    o, n = old.checkpoint, new.checkpoint
    if o.origin != n.origin:
        problems.append(f"different logs: {o.origin!r} vs {n.origin!r}")
    if o.tree_size > n.tree_size:
        problems.append(
            f"the ledger serves a tree of size {n.tree_size}, smaller than the pinned one of "
            f"size {o.tree_size}: the log was rolled back"
        )
    elif not verify_consistency(o.tree_size, n.tree_size, o.root_hash, n.root_hash, proof):
        problems.append(
            f"the tree of size {n.tree_size} does not extend the tree of size {o.tree_size}: "
            "history was rewritten (or the proof is wrong)"
        )
    return problems
