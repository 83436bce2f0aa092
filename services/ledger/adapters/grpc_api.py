"""AuditService servicer: thin; decoding and encoding live in mapping.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc

from oonledger.ledger.v1 import ledger_pb2, ledger_pb2_grpc
from services.common.context import CommandContext
from services.common.grpc_server import rpc, rpc_stream
from services.ledger.adapters import mapping
from services.ledger.application import AuditApplication
from services.ledger.domain.chain_verification import leaf_of

REPLAY_CHUNK = 1000


def _instant_or_none(message: Any, field: str) -> Any:
    return mapping.instant(getattr(message, field)) if message.HasField(field) else None


class AuditServicer(ledger_pb2_grpc.AuditServiceServicer):
    def __init__(self, app: AuditApplication) -> None:
        self.app = app

    @rpc_stream
    async def ReplayClaim(
        self,
        request: ledger_pb2.ReplayClaimRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[ledger_pb2.ReplayClaimResponse]:
        entries = await self.app.replay(ctx, request.claim_id, _instant_or_none(request, "up_to"))
        for start in range(0, len(entries), REPLAY_CHUNK):
            yield mapping.replay_chunk(entries[start : start + REPLAY_CHUNK])

    @rpc
    async def GetClaimAsOf(
        self,
        request: ledger_pb2.GetClaimAsOfRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> ledger_pb2.GetClaimAsOfResponse:
        state = await self.app.state_as_of(
            ctx, request.claim_id, _instant_or_none(request, "as_of")
        )
        return ledger_pb2.GetClaimAsOfResponse(state=mapping.state_message(state))

    @rpc
    async def VerifyClaim(
        self,
        request: ledger_pb2.VerifyClaimRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> ledger_pb2.VerifyClaimResponse:
        result = await self.app.verify(ctx, request.claim_id)
        return mapping.verdict_message(result.verdict, result.log_problems, result.checkpoint)

    @rpc
    async def GetCheckpoint(
        self,
        request: ledger_pb2.GetCheckpointRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> ledger_pb2.GetCheckpointResponse:
        signed = await self.app.checkpoint(ctx, request.tree_size)
        return ledger_pb2.GetCheckpointResponse(checkpoint=mapping.checkpoint_message(signed))

    @rpc
    async def ListWitnessedCheckpoints(
        self,
        request: ledger_pb2.ListWitnessedCheckpointsRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> ledger_pb2.ListWitnessedCheckpointsResponse:
        found = await self.app.witnessed_checkpoints(ctx, request.since_tree_size)
        return ledger_pb2.ListWitnessedCheckpointsResponse(
            checkpoints=[mapping.checkpoint_message(signed) for signed in found]
        )

    @rpc
    async def GetInclusionProof(
        self,
        request: ledger_pb2.GetInclusionProofRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> ledger_pb2.GetInclusionProofResponse:
        proof = await self.app.inclusion(ctx, request.event_id, request.tree_size)
        return ledger_pb2.GetInclusionProofResponse(
            log_index=proof.entry.log_index,
            tree_size=proof.checkpoint.checkpoint.tree_size,
            leaf_hash=leaf_of(proof.entry),
            hashes=proof.hashes,
            checkpoint=mapping.checkpoint_message(proof.checkpoint),
        )

    @rpc
    async def GetConsistencyProof(
        self,
        request: ledger_pb2.GetConsistencyProofRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> ledger_pb2.GetConsistencyProofResponse:
        proof = await self.app.consistency(ctx, request.first_tree_size, request.second_tree_size)
        return ledger_pb2.GetConsistencyProofResponse(
            first_tree_size=proof.first_size,
            second_tree_size=proof.second.checkpoint.tree_size,
            hashes=proof.hashes,
            first=mapping.checkpoint_message(proof.first) if proof.first else None,
            second=mapping.checkpoint_message(proof.second),
        )

    @rpc
    async def ExportClaim(
        self,
        request: ledger_pb2.ExportClaimRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> ledger_pb2.ExportClaimResponse:
        bundle = await self.app.export(ctx, request.claim_id)
        document = json.dumps(bundle.to_json(), indent=1, ensure_ascii=False).encode("utf-8")
        return ledger_pb2.ExportClaimResponse(
            bundle_json=document,
            entries=len(bundle.entries),
            checkpoint=mapping.checkpoint_message(bundle.checkpoint),
        )

    @rpc
    async def GetPublicKey(
        self,
        request: ledger_pb2.GetPublicKeyRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> ledger_pb2.GetPublicKeyResponse:
        signer = self.app.signer
        return ledger_pb2.GetPublicKeyResponse(
            public_key=signer.public_key,
            key_id=signer.key_id,
            public_key_pem=mapping.public_key_pem(signer.public_key),
            origin=self.app.origin,
        )

    @rpc_stream
    async def ReplayTenant(
        self,
        request: ledger_pb2.ReplayTenantRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[ledger_pb2.ReplayTenantResponse]:
        log = await self.app.tenant_log(ctx, request.tree_size)
        yield mapping.tenant_log_message(log.tenant_id, log.checkpoint, log.log_size, log.problems)
        async for chunk in self.app.tenant_chains(ctx, log):
            yield mapping.tenant_chunk_message(
                chunk.chain,
                chunk.entries,
                chunk.proofs,
                chunk.stored_leaves,
                chunk.head,
                chunk.ends_chain,
            )

    @rpc
    async def GetClaimReport(
        self,
        request: ledger_pb2.GetClaimReportRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> ledger_pb2.GetClaimReportResponse:
        report = await self.app.report(
            ctx,
            request.claim_id,
            mapping.REPORT_FORMATS.get(request.format, ""),
            _instant_or_none(request, "as_of"),
        )
        return ledger_pb2.GetClaimReportResponse(
            content=report.content,
            content_type=report.content_type,
            file_name=report.file_name,
            status=mapping.STATUS_BY_NAME[report.status],
        )
