"""AuditService servicer: thin. Request fields are read and every answer is built in
mapping.py; the use cases (and their role checks) are application.py's."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import grpc

from oonledger.ledger.v1 import ledger_pb2, ledger_pb2_grpc
from services.common.context import CommandContext
from services.common.grpc_server import rpc, rpc_stream
from services.ledger.adapters import mapping, replay_rows
from services.ledger.application import AuditApplication

REPLAY_CHUNK = 1000


class AuditServicer(ledger_pb2_grpc.AuditServiceServicer):
    def __init__(self, app: AuditApplication) -> None:
        self.app = app

    @rpc_stream
    async def ReplayClaim(
        self,
        request: ledger_pb2.ReplayClaimRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> AsyncGenerator[ledger_pb2.ReplayClaimResponse, None]:
        up_to = mapping.optional_instant(request, "up_to")
        rows = await self.app.replay_rows(ctx, request.claim_id, up_to)
        for start in range(0, len(rows), REPLAY_CHUNK):
            yield replay_rows.replay_chunk(rows[start : start + REPLAY_CHUNK])

    @rpc
    async def GetClaimAsOf(
        self,
        request: ledger_pb2.GetClaimAsOfRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> ledger_pb2.GetClaimAsOfResponse:
        state = await self.app.state_as_of(
            ctx, request.claim_id, mapping.optional_instant(request, "as_of")
        )
        return mapping.claim_as_of_response(state)

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
        return mapping.checkpoint_response(signed)

    @rpc
    async def ListWitnessedCheckpoints(
        self,
        request: ledger_pb2.ListWitnessedCheckpointsRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> ledger_pb2.ListWitnessedCheckpointsResponse:
        found = await self.app.witnessed_checkpoints(ctx, request.since_tree_size)
        return mapping.witnessed_checkpoints_response(found)

    @rpc
    async def GetInclusionProof(
        self,
        request: ledger_pb2.GetInclusionProofRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> ledger_pb2.GetInclusionProofResponse:
        proof = await self.app.inclusion(ctx, request.event_id, request.tree_size)
        return mapping.inclusion_proof_response(proof)

    @rpc
    async def GetConsistencyProof(
        self,
        request: ledger_pb2.GetConsistencyProofRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> ledger_pb2.GetConsistencyProofResponse:
        proof = await self.app.consistency(ctx, request.first_tree_size, request.second_tree_size)
        return mapping.consistency_proof_response(proof)

    @rpc
    async def ExportClaim(
        self,
        request: ledger_pb2.ExportClaimRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> ledger_pb2.ExportClaimResponse:
        bundle = await self.app.export(ctx, request.claim_id)
        return mapping.export_response(bundle)

    @rpc
    async def GetPublicKey(
        self,
        request: ledger_pb2.GetPublicKeyRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> ledger_pb2.GetPublicKeyResponse:
        return mapping.public_key_response(self.app.signer, self.app.origin)

    @rpc_stream
    async def ReplayTenant(
        self,
        request: ledger_pb2.ReplayTenantRequest,
        ctx: CommandContext,
        context: grpc.aio.ServicerContext,
    ) -> AsyncGenerator[ledger_pb2.ReplayTenantResponse, None]:
        log = await self.app.tenant_log(ctx, request.tree_size)
        yield mapping.tenant_log_message(log)
        async for chunk in self.app.tenant_chains(ctx, log):
            yield mapping.tenant_chunk_message(chunk)

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
            mapping.report_format(request.format),
            mapping.optional_instant(request, "as_of"),
        )
        return mapping.report_response(report)
