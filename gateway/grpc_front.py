"""The gRPC side: one generic handler forwarding raw bytes for every method of the catalog."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from gateway.catalog import Method
from gateway.forwarding import Gateway
from gateway.statuses import CallFailure
from services.common.request_log import RequestRecord, request_logged


def incoming_metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {
        key.lower(): value
        for key, value in (context.invocation_metadata() or ())
        if isinstance(value, str)
    }


class ForwardingHandler(grpc.GenericRpcHandler):
    """Answers for every public method; unknown methods fall through to UNIMPLEMENTED."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        method = self.gateway.catalog.get(handler_call_details.method)  # type: ignore[attr-defined]
        if method is None:
            return None
        if method.server_streaming:
            return grpc.unary_stream_rpc_method_handler(self._streaming(method))
        return grpc.unary_unary_rpc_method_handler(self._unary(method))

    def _unary(self, method: Method) -> Callable[[bytes, Any], Awaitable[bytes]]:
        gateway = self.gateway

        async def forward(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            with request_logged(RequestRecord("gateway", method.full_name)) as record:
                try:
                    admitted = await gateway.admit(
                        method, incoming_metadata(context), len(request),
                        context.time_remaining(), record,
                    )
                    return await gateway.unary(admitted, request, record)
                except CallFailure as refused:
                    record.failed(refused.code)
                    await context.abort(
                        refused.code, refused.message,
                        trailing_metadata=refused.trailing_metadata(),
                    )
                    raise  # abort() raises; this line only satisfies the type checker

        return forward

    def _streaming(self, method: Method) -> Callable[[bytes, Any], AsyncIterator[bytes]]:
        gateway = self.gateway

        async def forward(
            request: bytes, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[bytes]:
            with request_logged(RequestRecord("gateway", method.full_name)) as record:
                try:
                    admitted = await gateway.admit(
                        method, incoming_metadata(context), len(request),
                        context.time_remaining(), record,
                    )
                    # Closed with this generator: the upstream call ends when the caller
                    # goes away, not whenever the garbage collector gets to it.
                    async with contextlib.aclosing(
                        gateway.stream(admitted, request, record)
                    ) as items:
                        async for item in items:
                            yield item
                except CallFailure as refused:
                    record.failed(refused.code)
                    await context.abort(
                        refused.code, refused.message,
                        trailing_metadata=refused.trailing_metadata(),
                    )

        return forward
