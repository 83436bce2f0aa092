"""`oonledger.operations.v1.OperatorService`, answered by the gateway itself.

The gateway already holds a channel to every service: it authenticates the caller (the `admin`
role, from the role table) and calls the services' `OperationsService` with the caller's
internal metadata (the services check the role again, and answer for the key's tenant only).
- Reconcile: every service's `GetPipelineCounts`, compared (services/ops/reconciliation.py); a
  service that does not answer is named in the report, which is then not healthy.
- ListDeadLetters / ReplayDeadLetters: sent to the service owning the consumer (a durable is
  named `<service>-<subscription>`), or to every service when no consumer is named.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
from google.protobuf.message import Message

from gateway.forwarding import Gateway, internal_metadata_for
from gateway.grpc_front import incoming_metadata
from gateway.keystore import KeyRecord
from gateway.statuses import CallFailure, failure
from oonledger.operations.v1 import operations_pb2 as pb
from services.common.auth import needs_roles, roles_for
from services.ops.reconciliation import reconcile

SERVICE = "oonledger.operations.v1.OperatorService"
UPSTREAM_SERVICE = "oonledger.operations.v1.OperationsService"
UPSTREAM_TIMEOUT_SECONDS = 600.0  # a replay of many dead letters takes a while

Caller = tuple[KeyRecord, Mapping[str, str]]
"""The authenticated key and the incoming metadata: each upstream call is signed for itself."""


class OperatorHandler(grpc.GenericRpcHandler):
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.allowed = roles_for(f"{SERVICE}/Reconcile", gateway.role_table)
        self.calls = {
            (name, method): channel.unary_unary(
                f"/{UPSTREAM_SERVICE}/{method}", request_serializer=request.SerializeToString,
                response_deserializer=response.FromString)
            for name, channel in gateway.upstreams.channels.items()
            for method, request, response in (
                ("GetPipelineCounts", pb.GetPipelineCountsRequest, pb.PipelineCounts),
                ("ListDeadLetters", pb.ListDeadLettersRequest, pb.ListDeadLettersResponse),
                ("ReplayDeadLetters", pb.ReplayDeadLettersRequest, pb.ReplayDeadLettersResponse),
            )
        }
        self.methods: dict[str, tuple[Callable[..., Awaitable[Message]], type[Message],
                                      type[Message]]] = {
            "Reconcile": (self._reconcile, pb.ReconcileRequest, pb.ReconciliationReport),
            "ListDeadLetters": (self._list, pb.ListDeadLettersRequest,
                                pb.ListDeadLettersResponse),
            "ReplayDeadLetters": (self._replay, pb.ReplayDeadLettersRequest,
                                  pb.ReplayDeadLettersResponse),
        }

    def service(self, handler_call_details: grpc.HandlerCallDetails
                ) -> grpc.RpcMethodHandler | None:
        path: str = handler_call_details.method  # type: ignore[attr-defined]
        service, _, method = path.lstrip("/").partition("/")
        if service != SERVICE or method not in self.methods:
            return None
        handler, request, response = self.methods[method]
        return grpc.unary_unary_rpc_method_handler(
            self._admitted(handler), request_deserializer=request.FromString,
            response_serializer=response.SerializeToString)

    def _admitted(self, handler: Callable[..., Awaitable[Message]]
                  ) -> Callable[[Message, grpc.aio.ServicerContext], Awaitable[Message]]:
        async def call(request: Message, context: grpc.aio.ServicerContext) -> Message:
            incoming = incoming_metadata(context)
            try:
                key = await self.gateway.authenticator.authenticate(incoming.get("authorization"))
                if not self.allowed.intersection(key.roles):
                    raise failure(grpc.StatusCode.PERMISSION_DENIED,
                                  needs_roles(SERVICE, self.allowed))
                return await handler(request, key.tenant_id, (key, incoming))
            except CallFailure as refused:
                await context.abort(refused.code, refused.message,
                                    trailing_metadata=refused.trailing_metadata())
                raise  # abort() raises; this line only satisfies the type checker

        return call

    async def _each(self, method: str, request: Message, caller: Caller,
                    services: list[str]) -> dict[str, Any]:
        """Call `method` on these services at once: a reply or the AioRpcError, by service."""
        key, incoming = caller
        path = f"/{UPSTREAM_SERVICE}/{method}"
        results = await asyncio.gather(
            *(self.calls[(name, method)](
                request,
                metadata=internal_metadata_for(key, incoming, name, path, self.gateway.signer),
                timeout=UPSTREAM_TIMEOUT_SECONDS)
              for name in services), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, grpc.aio.AioRpcError):
                raise result
        return dict(zip(services, results, strict=True))

    async def _reconcile(self, request: pb.ReconcileRequest, tenant_id: str,
                         caller: Caller) -> pb.ReconciliationReport:
        replies = await self._each("GetPipelineCounts", pb.GetPipelineCountsRequest(), caller,
                                   sorted(self.gateway.upstreams.channels))
        answers = {name: reply for name, reply in replies.items()
                   if not isinstance(reply, grpc.aio.AioRpcError)}
        unreachable = {name: f"{reply.code().name}: {reply.details()}"
                       for name, reply in replies.items()
                       if isinstance(reply, grpc.aio.AioRpcError)}
        return reconcile(tenant_id, answers, unreachable)

    async def _list(self, request: pb.ListDeadLettersRequest, tenant_id: str,
                    caller: Caller) -> pb.ListDeadLettersResponse:
        replies = _succeeded(await self._each("ListDeadLetters", request, caller,
                                              self._owners(request.consumer)))
        letters = [letter for reply in replies.values() for letter in reply.dead_letters]
        return pb.ListDeadLettersResponse(
            dead_letters=sorted(letters, key=lambda letter: letter.sequence))

    async def _replay(self, request: pb.ReplayDeadLettersRequest, tenant_id: str,
                      caller: Caller) -> pb.ReplayDeadLettersResponse:
        replies = _succeeded(await self._each("ReplayDeadLetters", request, caller,
                                              self._owners(request.consumer)))
        outcomes = [outcome for reply in replies.values() for outcome in reply.outcomes]
        return pb.ReplayDeadLettersResponse(
            outcomes=sorted(outcomes, key=lambda outcome: outcome.sequence))

    def _owners(self, consumer: str) -> list[str]:
        """The service owning a durable (`<service>-<subscription>`), or every service."""
        services = sorted(self.gateway.upstreams.channels)
        if not consumer:
            return services
        owners = [name for name in services if consumer.startswith(f"{name}-")]
        if not owners:
            raise failure(grpc.StatusCode.NOT_FOUND, f"no service owns a consumer {consumer!r}")
        return owners


def _succeeded(replies: Mapping[str, Any]) -> dict[str, Any]:
    """Every reply, or the first failure as this call's status (nothing is half reported)."""
    for name, reply in sorted(replies.items()):
        if isinstance(reply, grpc.aio.AioRpcError):
            raise failure(reply.code(), f"{name}: {reply.details()}")
    return dict(replies)
