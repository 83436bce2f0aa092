"""Signed statements the ledger makes: checkpoints of the whole log and heads of one chain,
and whether a checkpoint extends one an auditor pinned (pure).

Each statement has a line-oriented text body (what is signed) in the spirit of transparency-log
checkpoints, so an auditor can read what the service vouched for.

An auditor keeps every checkpoint they saw (`auditor checkpoint --out`, `verify-tenant --save`).
A later checkpoint must be an append-only extension of each: same origin, a tree at least as
large, and an RFC 9162 consistency proof from the old root to the new one. A smaller tree than a
pinned one means the log was rolled back (e.g. restored from an old backup).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.ledger.domain.encoding import b64, unb64
from services.ledger.domain.entry import format_instant, parse_instant
from services.ledger.domain.merkle import verify_consistency
from services.ledger.domain.signing import Signer, key_id_of, signature_valid

CHECKPOINT_KIND = "oonledger.audit.checkpoint/v1"
CHAIN_HEAD_KIND = "oonledger.audit.chain-head/v1"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The log's tree head at one size: every entry below tree_size is committed to."""

    origin: str
    tree_size: int
    root_hash: bytes
    issued_at: datetime

    def body(self) -> bytes:
        lines = [
            CHECKPOINT_KIND,
            self.origin,
            str(self.tree_size),
            b64(self.root_hash),
            format_instant(self.issued_at),
        ]
        return ("\n".join(lines) + "\n").encode("utf-8")


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last entry of one chain as of a checkpoint: lets an export prove it is complete."""

    origin: str
    tenant_id: str
    chain: str
    head_seq: int
    head_hash: bytes
    tree_size: int

    def body(self) -> bytes:
        lines = [
            CHAIN_HEAD_KIND,
            self.origin,
            self.tenant_id,
            self.chain,
            str(self.head_seq),
            b64(self.head_hash),
            str(self.tree_size),
        ]
        return ("\n".join(lines) + "\n").encode("utf-8")


@dataclass(frozen=True, slots=True)
class Signature:
    key_id: str
    public_key: bytes
    value: bytes

    @classmethod
    def make(cls, signer: Signer, body: bytes) -> Signature:
        return cls(signer.key_id, signer.public_key, signer.sign(body))

    def check(self, body: bytes, trusted_key: bytes | None) -> str | None:
        """None when valid; otherwise what is wrong with the signature."""
        if key_id_of(self.public_key) != self.key_id:
            return f"key id {self.key_id} does not match the attached public key"
        if trusted_key is not None and trusted_key != self.public_key:
            return f"signed by key {self.key_id}, not by the trusted key {key_id_of(trusted_key)}"
        if not signature_valid(self.public_key, body, self.value):
            return f"signature by key {self.key_id} does not verify"
        return None

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "public_key": b64(self.public_key), "value": b64(self.value)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Signature:
        return cls(
            str(data["key_id"]),
            unb64(data["public_key"], "signature public_key"),
            unb64(data["value"], "signature value"),
        )


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    signature: Signature

    @classmethod
    def sign(cls, checkpoint: Checkpoint, signer: Signer) -> SignedCheckpoint:
        return cls(checkpoint, Signature.make(signer, checkpoint.body()))

    def check(self, trusted_key: bytes | None) -> str | None:
        return self.signature.check(self.checkpoint.body(), trusted_key)

    def to_json(self) -> dict[str, Any]:
        c = self.checkpoint
        return {
            "kind": CHECKPOINT_KIND,
            "origin": c.origin,
            "tree_size": c.tree_size,
            "root_hash": b64(c.root_hash),
            "issued_at": format_instant(c.issued_at),
            "signature": self.signature.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> SignedCheckpoint:
        """Raises ValueError naming what is malformed."""
        if not isinstance(data, dict) or data.get("kind") != CHECKPOINT_KIND:
            kind = data.get("kind") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"not a checkpoint (kind {kind!r})")
        with _malformed("checkpoint"):
            checkpoint = Checkpoint(
                origin=str(data["origin"]),
                tree_size=int(data["tree_size"]),
                root_hash=unb64(data["root_hash"], "root_hash"),
                issued_at=parse_instant(data["issued_at"]),
            )
            return cls(checkpoint, Signature.from_json(data["signature"]))


@dataclass(frozen=True, slots=True)
class SignedChainHead:
    head: ChainHead
    signature: Signature

    @classmethod
    def sign(cls, head: ChainHead, signer: Signer) -> SignedChainHead:
        return cls(head, Signature.make(signer, head.body()))

    def check(self, trusted_key: bytes | None) -> str | None:
        return self.signature.check(self.head.body(), trusted_key)

    def to_json(self) -> dict[str, Any]:
        h = self.head
        return {
            "kind": CHAIN_HEAD_KIND,
            "origin": h.origin,
            "tenant_id": h.tenant_id,
            "chain": h.chain,
            "head_seq": h.head_seq,
            "head_hash": b64(h.head_hash),
            "tree_size": h.tree_size,
            "signature": self.signature.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> SignedChainHead:
        """Raises ValueError naming what is malformed."""
        if not isinstance(data, dict) or data.get("kind") != CHAIN_HEAD_KIND:
            kind = data.get("kind") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"not a chain head (kind {kind!r})")
        with _malformed("chain head"):
            head = ChainHead(
                origin=str(data["origin"]),
                tenant_id=str(data["tenant_id"]),
                chain=str(data["chain"]),
                head_seq=int(data["head_seq"]),
                head_hash=unb64(data["head_hash"], "head_hash"),
                tree_size=int(data["tree_size"]),
            )
            return cls(head, Signature.from_json(data["signature"]))


@contextmanager
def _malformed(what: str) -> Iterator[None]:
    try:
        yield
    except KeyError as exc:
        raise ValueError(f"{what} lacks {exc}") from exc
    except (TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"{what} is malformed: {exc}") from exc



def witness_disagreements(
    witnessed: SignedCheckpoint | None, stored: SignedCheckpoint | None, log_size: int
) -> list[str]:
    """What the database contradicts in the witness (pure). `stored` is the database's
    checkpoint of the witnessed size; `log_size` the leaves the database holds."""
    if witnessed is None:
        return []
    w = witnessed.checkpoint
    problems = []
    if w.tree_size > log_size:
        problems.append(
            f"the witness holds a checkpoint of size {w.tree_size} signed at "
            f"{w.issued_at.isoformat()}, but the log has only {log_size} entries: the log was "
            "rolled back or truncated"
        )
    if stored is None:
        problems.append(
            f"the witnessed checkpoint of size {w.tree_size} is missing from the database"
        )
    elif stored.checkpoint != w or stored.signature != witnessed.signature:
        problems.append(
            f"the stored checkpoint of size {w.tree_size} is not the one that was witnessed "
            f"(root {w.root_hash.hex()[:16]}): the checkpoint was replaced"
        )
    return problems


# -- does a checkpoint extend a pinned one ------------------------------------------------------


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
