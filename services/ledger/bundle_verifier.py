"""Offline verification of an exported bundle: no database, no network, only the bundle
and (ideally) the ledger's public key obtained through another channel."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from services.ledger.anchoring import AnchoredVerdict, verify_anchored
from services.ledger.bundle import Bundle


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
