"""A real gRPC server standing in for every upstream service at once: it answers every public
method with an empty message (valid for any proto3 type) and records what reached it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from gateway.catalog import Catalog
from services.common.internal_auth import (
    TOKEN_HEADER,
    InternalClaims,
    InternalVerifier,
    Unauthenticated,
    public_keys_from_pem,
)
from tests.support.plugin import TEST_VERIFY_PEM

FAIL_WITH_BAD_REQUEST = "fail-bad-request"  # x-request-id that makes the recorder refuse
FAIL_UNAVAILABLE = "fail-unavailable"  # x-request-id: the recorder's "database" is down


@dataclass
class Received:
    method: str
    metadata: dict[str, str]
    request: bytes
    identity: InternalClaims | None  # the verified internal token, None when it did not verify


@dataclass
class RecordingUpstream:
    catalog: Catalog
    received: list[Received] = field(default_factory=list)
    server: grpc.aio.Server | None = None
    port: int = 0

    def calls_to(self, method: str) -> list[Received]:
        return [r for r in self.received if r.method == method]

    async def start(self) -> int:
        self.server = grpc.aio.server()
        self.server.add_generic_rpc_handlers((_Handler(self),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        return self.port

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(0)


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, upstream: RecordingUpstream) -> None:
        self.upstream = upstream

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = self.upstream.catalog.get(details.method)  # type: ignore[attr-defined]
        if method is None:
            return None
        upstream = self.upstream

        async def record(request: bytes, context: grpc.aio.ServicerContext) -> None:
            metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
            verifier = InternalVerifier(public_keys_from_pem(TEST_VERIFY_PEM), method.upstream)
            try:
                identity: InternalClaims | None = verifier.verify(
                    metadata.get(TOKEN_HEADER, ""), method.path)
            except Unauthenticated:
                identity = None
            upstream.received.append(Received(method.full_name, metadata, request, identity))
            if metadata.get("x-request-id") == FAIL_WITH_BAD_REQUEST:
                status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="bad amount")
                status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field="amount_cents", description="must be positive")]))
                await context.abort_with_status(rpc_status.to_status(status))
            if metadata.get("x-request-id") == FAIL_UNAVAILABLE:
                status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message="database down")
                status.details.add().Pack(error_details_pb2.RetryInfo(
                    retry_delay=duration_pb2.Duration(seconds=2)))
                await context.abort_with_status(rpc_status.to_status(status))

        if method.server_streaming:
            async def stream(
                request: bytes, context: grpc.aio.ServicerContext
            ) -> AsyncIterator[bytes]:
                await record(request, context)
                for _ in range(3):
                    yield b""

            return grpc.unary_stream_rpc_method_handler(stream)

        async def unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            await record(request, context)
            return b""

        return grpc.unary_unary_rpc_method_handler(unary)
