"""Exported claim bundles: everything an auditor needs to check a claim with no access to us.

A bundle holds the claim's entries (with hashes), an inclusion proof per entry, the signed
checkpoint the proofs lead to, and a signed chain head so a bundle cut short is noticed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.ledger.checkpoint import SignedChainHead, SignedCheckpoint
from services.ledger.encoding import hashes_from_json, hashes_to_json
from services.ledger.entry import AuditEntry
from services.ledger.entry_codec import entry_from_json, entry_to_json

BUNDLE_FORMAT = "oonledger.audit-bundle/v2"
"""v2: every binary value is base64 (encoding.py); v1 carried hashes and proofs as hex."""


@dataclass(frozen=True)
class Bundle:
    tenant_id: str
    claim_id: str
    chain: str
    checkpoint: SignedCheckpoint
    chain_head: SignedChainHead
    entries: Sequence[AuditEntry]
    proofs: Mapping[int, Sequence[bytes]]
    """Inclusion proof of each entry, by log index, against the checkpoint."""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": BUNDLE_FORMAT,
            "tenant_id": self.tenant_id,
            "claim_id": self.claim_id,
            "chain": self.chain,
            "checkpoint": self.checkpoint.to_json(),
            "chain_head": self.chain_head.to_json(),
            "entries": [
                {
                    **entry_to_json(entry),
                    "inclusion_proof": hashes_to_json(self.proofs.get(entry.log_index, ())),
                }
                for entry in self.entries
            ],
        }

    @classmethod
    def from_json(cls, data: Any) -> Bundle:
        """Parse a bundle document; raises ValueError naming what is malformed."""
        if not isinstance(data, dict):
            raise ValueError("a bundle is a JSON object")
        if data.get("format") != BUNDLE_FORMAT:
            raise ValueError(
                f"unknown bundle format {data.get('format')!r} (this tool reads {BUNDLE_FORMAT}"
                "; export the claim again)"
            )
        try:
            entries: list[AuditEntry] = []
            proofs: dict[int, list[bytes]] = {}
            if not isinstance(data["entries"], list):
                raise ValueError("entries must be a list")
            for position, item in enumerate(data["entries"]):
                try:
                    entry = entry_from_json(item)
                    proof = hashes_from_json(item["inclusion_proof"], "inclusion_proof")
                except (KeyError, TypeError, AttributeError, ValueError) as exc:
                    raise ValueError(f"entry at position {position} is malformed: {exc}") from exc
                entries.append(entry)
                proofs[entry.log_index] = proof
            return cls(
                tenant_id=str(data["tenant_id"]),
                claim_id=str(data["claim_id"]),
                chain=str(data["chain"]),
                checkpoint=SignedCheckpoint.from_json(data["checkpoint"]),
                chain_head=SignedChainHead.from_json(data["chain_head"]),
                entries=entries,
                proofs=proofs,
            )
        except KeyError as exc:
            raise ValueError(f"bundle is missing {exc}") from exc
        except TypeError as exc:
            raise ValueError(f"bundle is malformed: {exc}") from exc
