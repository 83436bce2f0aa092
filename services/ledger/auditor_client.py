"""What the auditor CLI (and the demo) do against a running AuditService."""

from __future__ import annotations

import asyncio
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

WAIT_POLL_SECONDS = 0.5
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


STATUS_NAMES = {
    ledger_pb2.VERIFICATION_STATUS_VERIFIED: "VERIFIED",
    ledger_pb2.VERIFICATION_STATUS_PENDING: "PENDING",
    ledger_pb2.VERIFICATION_STATUS_BROKEN: "BROKEN",
}


async def verify_claim(
    channel: grpc.aio.Channel, caller: Caller, claim_id: str, wait: float = 0.0
) -> tuple[int, list[str]]:
    """The claim's verdict (a ledger_pb2.VerificationStatus) and the lines describing it.

    With `wait`, a PENDING verdict is asked again (after asking the ledger for a checkpoint
    covering the newest entries) until it is VERIFIED or BROKEN or `wait` seconds passed.
    """
    stub = ledger_pb2_grpc.AuditServiceStub(channel)
    request = ledger_pb2.VerifyClaimRequest(claim_id=claim_id)
    deadline = asyncio.get_running_loop().time() + wait
    result = await stub.VerifyClaim(request, metadata=caller.metadata())
    while (
        result.status == ledger_pb2.VERIFICATION_STATUS_PENDING
        and asyncio.get_running_loop().time() < deadline
    ):
        await stub.GetCheckpoint(ledger_pb2.GetCheckpointRequest(), metadata=caller.metadata())
        await asyncio.sleep(WAIT_POLL_SECONDS)  # the checkpointer signs on its own schedule
        result = await stub.VerifyClaim(request, metadata=caller.metadata())
    verdict = STATUS_NAMES.get(result.status, "BROKEN")
    lines = [
        f"claim {claim_id}: {verdict} — "
        f"{result.entries_checked} entries checked, {result.entries_anchored} proven in the "
        f"signed checkpoint (size {result.checkpoint.tree_size}, key {result.checkpoint.key_id}),"
        f" {result.entries_pending} pending (appended after it, not proven yet); "
        f"head #{result.head_seq} {result.head_hash.hex()[:16]}"
    ]
    if result.status == ledger_pb2.VERIFICATION_STATUS_PENDING:
        lines.append("  not proven yet: ask again after the next checkpoint (verify --wait)")
    for b in result.breaks:
        lines.append(
            f"  entry #{b.chain_seq} (event {b.event_id}, log index {b.log_index}): "
            f"{BREAK_NAMES.get(b.kind, 'unknown')}: {b.detail}"
        )
    lines.extend(f"  log: {problem}" for problem in result.log_problems)
    return result.status, lines


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
