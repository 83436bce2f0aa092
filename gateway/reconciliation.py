"""`oonledger.operations.v1.ReconciliationService/Reconcile`, answered by the gateway itself.

The gateway already holds a channel to every service: it authenticates the caller (the `admin`
role, from the role table), asks every service for its `GetPipelineCounts` with the caller's
internal metadata (the services check the role again), and compares the answers
(services/ops/reconciliation.py). A service that does not answer is named in the report, which
is then not healthy.
"""

from __future__ import annotations

import asyncio

import grpc

from gateway.forwarding import Gateway, internal_metadata
from gateway.grpc_front import incoming_metadata
from gateway.policy import roles_for
from gateway.statuses import CallFailure, failure
from oonledger.operations.v1 import operations_pb2 as pb
from services.ops.reconciliation import reconcile

FULL_NAME = "oonledger.operations.v1.ReconciliationService/Reconcile"
COUNTS_PATH = "/oonledger.operations.v1.OperationsService/GetPipelineCounts"
UPSTREAM_TIMEOUT_SECONDS = 60.0


class ReconciliationHandler(grpc.GenericRpcHandler):
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.allowed = roles_for(FULL_NAME, gateway.role_table)
        self.counts = {
            name: channel.unary_unary(
                COUNTS_PATH,
                request_serializer=pb.GetPipelineCountsRequest.SerializeToString,
                response_deserializer=pb.PipelineCounts.FromString)
            for name, channel in gateway.upstreams.channels.items()
        }

    def service(self, handler_call_details: grpc.HandlerCallDetails
                ) -> grpc.RpcMethodHandler | None:
        if handler_call_details.method != f"/{FULL_NAME}":  # type: ignore[attr-defined]
            return None
        return grpc.unary_unary_rpc_method_handler(
            self.reconcile, request_deserializer=pb.ReconcileRequest.FromString,
            response_serializer=pb.ReconciliationReport.SerializeToString)

    async def reconcile(self, request: pb.ReconcileRequest,
                        context: grpc.aio.ServicerContext) -> pb.ReconciliationReport:
        incoming = incoming_metadata(context)
        try:
            key = await self.gateway.authenticator.authenticate(incoming.get("authorization"))
            if not self.allowed.intersection(key.roles):
                raise failure(grpc.StatusCode.PERMISSION_DENIED,
                              f"{FULL_NAME} needs one of the roles: "
                              f"{', '.join(sorted(self.allowed)) or 'none'}")
        except CallFailure as refused:
            await context.abort(refused.code, refused.message,
                                trailing_metadata=refused.trailing_metadata())
            raise  # abort() raises; this line only satisfies the type checker
        metadata = internal_metadata(key, incoming)
        names = sorted(self.counts)
        results = await asyncio.gather(
            *(self.counts[name](pb.GetPipelineCountsRequest(), metadata=metadata,
                                timeout=UPSTREAM_TIMEOUT_SECONDS) for name in names),
            return_exceptions=True)
        answers: dict[str, pb.PipelineCounts] = {}
        unreachable: dict[str, str] = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, grpc.aio.AioRpcError):
                unreachable[name] = f"{result.code().name}: {result.details()}"
            elif isinstance(result, BaseException):
                raise result
            else:
                answers[name] = result
        return reconcile(key.tenant_id, answers, unreachable)
