"""What the auditor CLI (and the demo) do against a running AuditService."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import grpc

from oonledger.ledger.v1 import ledger_pb2, ledger_pb2_grpc
from services.ledger import mapping
from services.ledger.checkpoint import SignedCheckpoint
from services.ledger.entry import AuditEntry
from services.ledger.merkle import verify_consistency
from services.ledger.timeline import timeline

BREAK_NAMES = {
    value: name.removeprefix("BREAK_KIND_").lower() for name, value in ledger_pb2.BreakKind.items()
}


@dataclass(frozen=True)
class Caller:
    """Who calls. With `api_key` the call goes through the partner gateway, which takes the
    tenant and roles from the key; without it, straight to the ledger on the internal network,
    over a channel that signs this identity (`internal_auth.signed_channel`)."""

    tenant_id: str
    actor: str = "auditor-cli"
    roles: str = "auditor"
    api_key: str = ""

    def metadata(self) -> tuple[tuple[str, str], ...]:
        internal = (
            ("x-tenant-id", self.tenant_id),
            ("x-actor", self.actor),
            ("x-roles", self.roles),
            ("x-request-id", uuid.uuid4().hex),
        )
        if self.api_key:
            return (("authorization", f"Bearer {self.api_key}"), *internal)
        return internal


async def replay(
    channel: grpc.aio.Channel, caller: Caller, claim_id: str, up_to: datetime | None = None
) -> list[AuditEntry]:
    stub = ledger_pb2_grpc.AuditServiceStub(channel)
    request = ledger_pb2.ReplayClaimRequest(claim_id=claim_id)
    if up_to is not None:
        request.up_to.CopyFrom(mapping.timestamp(up_to))
    entries: list[AuditEntry] = []
    async for chunk in stub.ReplayClaim(request, metadata=caller.metadata()):
        entries.extend(mapping.entry_from_message(m) for m in chunk.entries)
    return entries


async def replay_timeline(
    channel: grpc.aio.Channel, caller: Caller, claim_id: str, up_to: datetime | None = None
) -> list[str]:
    entries = await replay(channel, caller, claim_id, up_to)
    header = f"claim {claim_id} (tenant {caller.tenant_id}): {len(entries)} events"
    return [header, *timeline(entries)]


async def verify_claim(
    channel: grpc.aio.Channel, caller: Caller, claim_id: str
) -> tuple[bool, list[str]]:
    stub = ledger_pb2_grpc.AuditServiceStub(channel)
    result = await stub.VerifyClaim(
        ledger_pb2.VerifyClaimRequest(claim_id=claim_id), metadata=caller.metadata()
    )
    lines = [
        f"claim {claim_id}: {'VERIFIED' if result.ok else 'BROKEN'} — "
        f"{result.entries_checked} entries checked, {result.entries_anchored} proven in the "
        f"signed checkpoint (size {result.checkpoint.tree_size}, key {result.checkpoint.key_id}),"
        f" {result.entries_pending} not yet checkpointed; head #{result.head_seq} "
        f"{result.head_hash.hex()[:16]}"
    ]
    for b in result.breaks:
        lines.append(
            f"  entry #{b.chain_seq} (event {b.event_id}, log index {b.log_index}): "
            f"{BREAK_NAMES.get(b.kind, 'unknown')}: {b.detail}"
        )
    lines.extend(f"  log: {problem}" for problem in result.log_problems)
    return result.ok, lines


async def export_bundle(channel: grpc.aio.Channel, caller: Caller, claim_id: str) -> bytes:
    stub = ledger_pb2_grpc.AuditServiceStub(channel)
    response = await stub.ExportClaim(
        ledger_pb2.ExportClaimRequest(claim_id=claim_id), metadata=caller.metadata()
    )
    return bytes(response.bundle_json)


async def latest_checkpoint(
    channel: grpc.aio.Channel, caller: Caller, tree_size: int = 0
) -> SignedCheckpoint:
    stub = ledger_pb2_grpc.AuditServiceStub(channel)
    response = await stub.GetCheckpoint(
        ledger_pb2.GetCheckpointRequest(tree_size=tree_size), metadata=caller.metadata()
    )
    return mapping.checkpoint_from_message(response.checkpoint)


async def public_key(channel: grpc.aio.Channel, caller: Caller) -> bytes:
    stub = ledger_pb2_grpc.AuditServiceStub(channel)
    response = await stub.GetPublicKey(ledger_pb2.GetPublicKeyRequest(), metadata=caller.metadata())
    return bytes(response.public_key)


async def consistency_proof(
    channel: grpc.aio.Channel, caller: Caller, first_size: int, second_size: int = 0
) -> tuple[list[bytes], SignedCheckpoint]:
    stub = ledger_pb2_grpc.AuditServiceStub(channel)
    response = await stub.GetConsistencyProof(
        ledger_pb2.GetConsistencyProofRequest(
            first_tree_size=first_size, second_tree_size=second_size
        ),
        metadata=caller.metadata(),
    )
    return list(response.hashes), mapping.checkpoint_from_message(response.second)


def check_consistency(
    old: SignedCheckpoint, new: SignedCheckpoint, proof: list[bytes], trusted_key: bytes | None
) -> list[str]:
    """Problems found (empty when the newer checkpoint extends the older one)."""
    problems = [
        f"{label} checkpoint: {error}"
        for label, signed in (("older", old), ("newer", new))
        if (error := signed.check(trusted_key))
    ]
    o, n = old.checkpoint, new.checkpoint
    if o.origin != n.origin:
        problems.append(f"different logs: {o.origin!r} vs {n.origin!r}")
    if not verify_consistency(o.tree_size, n.tree_size, o.root_hash, n.root_hash, proof):
        problems.append(
            f"the tree of size {n.tree_size} does not extend the tree of size {o.tree_size}: "
            "history was rewritten (or the proof is wrong)"
        )
    return problems
