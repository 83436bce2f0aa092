"""Exported claim bundles and their offline verification.

A bundle holds everything an auditor needs to check a claim with no access to us: the claim's
entries (with hashes), an inclusion proof per entry, the signed checkpoint the proofs lead to,
and a signed chain head so a bundle cut short is noticed. Verifying one needs no database and no
network: only the bundle and (ideally) the ledger's public key obtained through another channel.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.ledger.domain.chain_verification import AnchoredVerdict, verify_anchored
from services.ledger.domain.checkpoint import SignedChainHead, SignedCheckpoint
from services.ledger.domain.encoding import hashes_from_json, hashes_to_json
from services.ledger.domain.entry import AuditEntry
from services.ledger.domain.entry_codec import entry_from_json, entry_to_json

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


# -- offline verification ---------------------------------------------------------------------


@dataclass
class BundleReport:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    bundle: Bundle | None = None
    verdict: AnchoredVerdict | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.verdict is not None and self.verdict.ok

    def findings(self) -> list[str]:
        chain_findings = [b.describe() for b in self.verdict.chain.breaks] if self.verdict else []
        return [*self.problems, *chain_findings]


def load_bundle_text(text: str | bytes, trusted_key: bytes | None) -> BundleReport:
    try:
        document = json.loads(text)
    except ValueError as exc:
        return BundleReport(problems=[f"bundle is not valid JSON: {exc}"])
    return verify_bundle(document, trusted_key)


def verify_bundle(document: Any, trusted_key: bytes | None) -> BundleReport:
    report = BundleReport()
    try:
        bundle = Bundle.from_json(document)
    except ValueError as exc:
        report.problems.append(f"bundle is malformed: {exc}")
        return report
    report.bundle = bundle
    if trusted_key is None:
        report.notes.append(
            "no trusted public key given: signatures were checked against the key inside the "
            "bundle, which proves integrity but not who signed"
        )
    checkpoint, head = bundle.checkpoint.checkpoint, bundle.chain_head.head
    for label, error in (
        ("checkpoint", bundle.checkpoint.check(trusted_key)),
        ("chain head", bundle.chain_head.check(trusted_key)),
    ):
        if error:
            report.problems.append(f"{label}: {error}")
    if head.tree_size != checkpoint.tree_size or head.origin != checkpoint.origin:
        report.problems.append("chain head and checkpoint describe different logs or sizes")
    if head.chain != bundle.chain or head.tenant_id != bundle.tenant_id:
        report.problems.append(f"chain head is for {head.chain!r}, not for {bundle.chain!r}")
    for entry in bundle.entries:
        if entry.facts.tenant_id != bundle.tenant_id or entry.facts.claim_id != bundle.claim_id:
            report.problems.append(
                f"entry #{entry.chain_seq} (event {entry.facts.event_id}) belongs to tenant "
                f"{entry.facts.tenant_id!r} claim {entry.facts.claim_id!r}, not to this bundle"
            )
    entries = list(bundle.entries)
    last = entries[-1] if entries else None
    if last is None or last.chain_seq != head.head_seq or last.entry_hash != head.head_hash:
        shown = f"#{last.chain_seq}" if last else "nothing"
        report.problems.append(
            f"bundle ends at {shown} but the signed chain head is #{head.head_seq} "
            f"({head.head_hash.hex()}): entries were removed or replaced"
        )
    report.verdict = verify_anchored(bundle.chain, entries, checkpoint, bundle.proofs)
    if report.verdict.pending:
        report.problems.append(
            f"{report.verdict.pending} entries lie beyond the bundle's checkpoint"
        )
    return report
