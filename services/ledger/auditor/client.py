"""What the auditor CLI (and the demo) do against a running AuditService: the calls, and the
lines they print. Verification logic lives in the pure domain (chain_verification,
checkpoint, tenant_verification, bundle); this module only fetches and formats."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime

import grpc

from oonledger.ledger.v1 import ledger_pb2, ledger_pb2_grpc
from services.ledger.adapters import mapping
from services.ledger.domain.checkpoint import SignedCheckpoint, check_consistency
from services.ledger.domain.entry import AuditEntry
from services.ledger.domain.tenant_verification import TenantVerifier
from services.ledger.domain.timeline import entry_marks, timeline

WAIT_POLL_SECONDS = 0.5
BREAK_NAMES = {
    value: name.removeprefix("BREAK_KIND_").lower() for name, value in ledger_pb2.BreakKind.items()
}
STATUS_NAMES = {
    ledger_pb2.VERIFICATION_STATUS_VERIFIED: "VERIFIED",
    ledger_pb2.VERIFICATION_STATUS_PENDING: "PENDING",
    ledger_pb2.VERIFICATION_STATUS_BROKEN: "BROKEN",
}


@dataclass(frozen=True)
class Caller:
    """Who calls. With `api_key` the call goes through the partner gateway, which takes the
    tenant and roles from the key (nothing else is sent); without it, straight to the ledger
    on the internal network, naming the tenant and roles itself."""

    tenant_id: str
    actor: str = "auditor-cli"
    roles: str = "auditor"
    api_key: str = ""

    def metadata(self) -> tuple[tuple[str, str], ...]:
        request = ("x-request-id", uuid.uuid4().hex)
        if self.api_key:
            return (("authorization", f"Bearer {self.api_key}"), request)
        return (
            ("x-tenant-id", self.tenant_id),
            ("x-actor", self.actor),
            ("x-roles", self.roles),
            request,
        )


def _stub(channel: grpc.aio.Channel) -> ledger_pb2_grpc.AuditServiceStub:
    return ledger_pb2_grpc.AuditServiceStub(channel)


async def replay(
    channel: grpc.aio.Channel, caller: Caller, claim_id: str, up_to: datetime | None = None
) -> list[AuditEntry]:
    request = ledger_pb2.ReplayClaimRequest(claim_id=claim_id)
    if up_to is not None:
        request.up_to.CopyFrom(mapping.timestamp(up_to))
    entries: list[AuditEntry] = []
    async for chunk in _stub(channel).ReplayClaim(request, metadata=caller.metadata()):
        entries.extend(mapping.entry_from_message(m) for m in chunk.entries)
    return entries


async def replay_timeline(
    channel: grpc.aio.Channel, caller: Caller, claim_id: str, up_to: datetime | None = None
) -> list[str]:
    """The claim's timeline with every broken, forged or pending entry flagged on its line
    (the claim is verified alongside), ending with the verdict."""
    _, lines = await replay_marked(channel, caller, claim_id, up_to)
    return lines


async def replay_marked(
    channel: grpc.aio.Channel, caller: Caller, claim_id: str, up_to: datetime | None = None
) -> tuple[int, list[str]]:
    entries = await replay(channel, caller, claim_id, up_to)
    result = await _stub(channel).VerifyClaim(
        ledger_pb2.VerifyClaimRequest(claim_id=claim_id), metadata=caller.metadata()
    )
    signed_size = result.checkpoint.tree_size if result.HasField("checkpoint") else 0
    marks = entry_marks(
        entries, [(b.log_index, BREAK_NAMES.get(b.kind, "unknown")) for b in result.breaks],
        signed_size,
    )
    tenant = entries[0].facts.tenant_id if entries else caller.tenant_id
    lines = [f"claim {claim_id} (tenant {tenant}): {len(entries)} events", *timeline(
        entries, marks
    )]
    lines.extend(_verdict_lines(claim_id, result))
    broken = sum(1 for m in marks.values() if m != "PENDING")
    if broken:
        lines.append(
            f"WARNING: {broken} entr{'y' if broken == 1 else 'ies'} marked !! do not hold: their "
            "amounts and facts cannot be relied on"
        )
    return result.status, lines


async def verify_claim(
    channel: grpc.aio.Channel,
    caller: Caller,
    claim_id: str,
    wait: float = 0.0,
    trusted_key: bytes | None = None,
) -> tuple[int, list[str]]:
    """The claim's verdict (a ledger_pb2.VerificationStatus) and the lines describing it.

    With `wait`, a PENDING verdict is asked again (after asking the ledger for a checkpoint
    covering the newest entries) until it is VERIFIED or BROKEN or `wait` seconds passed.
    With `trusted_key`, the checkpoint the verdict rests on must be signed by it.
    """
    stub = _stub(channel)
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
    if trusted_key is not None and result.HasField("checkpoint"):
        signed = mapping.checkpoint_from_message(result.checkpoint)
        if error := signed.check(trusted_key):
            result.status = ledger_pb2.VERIFICATION_STATUS_BROKEN
            result.log_problems.append(f"the checkpoint the verdict rests on: {error}")
    return result.status, _verdict_lines(claim_id, result)


def _verdict_lines(claim_id: str, result: ledger_pb2.VerifyClaimResponse) -> list[str]:
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
    return lines


async def verification_status(channel: grpc.aio.Channel, caller: Caller, claim_id: str) -> int:
    result = await _stub(channel).VerifyClaim(
        ledger_pb2.VerifyClaimRequest(claim_id=claim_id), metadata=caller.metadata()
    )
    return int(result.status)


async def export_bundle(channel: grpc.aio.Channel, caller: Caller, claim_id: str) -> bytes:
    response = await _stub(channel).ExportClaim(
        ledger_pb2.ExportClaimRequest(claim_id=claim_id), metadata=caller.metadata()
    )
    return bytes(response.bundle_json)


async def latest_checkpoint(
    channel: grpc.aio.Channel, caller: Caller, tree_size: int = 0
) -> SignedCheckpoint:
    response = await _stub(channel).GetCheckpoint(
        ledger_pb2.GetCheckpointRequest(tree_size=tree_size), metadata=caller.metadata()
    )
    return mapping.checkpoint_from_message(response.checkpoint)


async def public_key_info(
    channel: grpc.aio.Channel, caller: Caller
) -> ledger_pb2.GetPublicKeyResponse:
    return await _stub(channel).GetPublicKey(
        ledger_pb2.GetPublicKeyRequest(), metadata=caller.metadata()
    )


async def public_key(channel: grpc.aio.Channel, caller: Caller) -> bytes:
    return bytes((await public_key_info(channel, caller)).public_key)


async def consistency_proof(
    channel: grpc.aio.Channel, caller: Caller, first_size: int, second_size: int = 0
) -> tuple[list[bytes], SignedCheckpoint]:
    response = await _stub(channel).GetConsistencyProof(
        ledger_pb2.GetConsistencyProofRequest(
            first_tree_size=first_size, second_tree_size=second_size
        ),
        metadata=caller.metadata(),
    )
    return list(response.hashes), mapping.checkpoint_from_message(response.second)


async def claim_report(
    channel: grpc.aio.Channel, caller: Caller, claim_id: str, fmt: int,
    as_of: datetime | None = None,
) -> ledger_pb2.GetClaimReportResponse:
    request = ledger_pb2.GetClaimReportRequest(claim_id=claim_id, format=fmt)  # type: ignore[arg-type]
    if as_of is not None:
        request.as_of.CopyFrom(mapping.timestamp(as_of))
    return await _stub(channel).GetClaimReport(request, metadata=caller.metadata())


async def verify_tenant(
    channel: grpc.aio.Channel,
    caller: Caller,
    trusted_key: bytes,
    pinned: list[SignedCheckpoint],
) -> TenantVerifier:
    """Stream the tenant's whole log, verify it, and prove its checkpoint extends every pinned
    one (a pinned checkpoint larger than the served one is a rollback)."""
    verifier: TenantVerifier | None = None
    chain = ""
    entries: list[AuditEntry] = []
    proofs: dict[int, list[bytes]] = {}
    leaves: dict[int, bytes] = {}
    stream = _stub(channel).ReplayTenant(
        ledger_pb2.ReplayTenantRequest(), metadata=caller.metadata()
    )
    async for message in stream:
        if message.HasField("log"):
            log = message.log
            verifier = TenantVerifier(
                log.tenant_id, mapping.checkpoint_from_message(log.checkpoint), log.log_size,
                trusted_key,
            )
            verifier.problems.extend(log.log_problems)
            continue
        if verifier is None:
            raise ValueError("the ledger sent chain entries before its checkpoint")
        chunk = message.chunk
        if chunk.chain != chain and entries:
            raise ValueError(f"chain {chain} was not closed before {chunk.chain} began")
        chain = chunk.chain
        for proven in chunk.entries:
            entry = mapping.entry_from_message(proven.entry)
            entries.append(entry)
            proofs[entry.log_index] = list(proven.inclusion_proof)
            if proven.stored_leaf:
                leaves[entry.log_index] = bytes(proven.stored_leaf)
        head = mapping.chain_head_from_message(chunk.head) if chunk.HasField("head") else None
        if chunk.ends_chain:
            verifier.add_chain(chain, entries, proofs, leaves, head)
            entries, proofs, leaves = [], {}, {}
    if verifier is None:
        raise ValueError("the ledger sent no checkpoint")
    if entries:
        verifier.problems.append(f"chain {chain}: the stream ended in the middle of it")
    served = verifier.checkpoint
    for old in pinned:
        if old.checkpoint.tree_size >= served.checkpoint.tree_size:
            proof: list[bytes] = []  # equal roots, or a rollback: nothing to prove
        else:
            proof, _ = await consistency_proof(
                channel, caller, old.checkpoint.tree_size, served.checkpoint.tree_size
            )
        problems = check_consistency(old, served, proof, trusted_key)
        if problems:
            verifier.problems.extend(
                f"pinned checkpoint of size {old.checkpoint.tree_size}: {p}" for p in problems
            )
        else:
            verifier.consistent_with.append(old.checkpoint.tree_size)
    return verifier

