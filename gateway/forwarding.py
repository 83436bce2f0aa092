"""The one path every call takes, whatever the front end: authenticate → authorise → limit →
forward with the internal metadata set from the key (never from the caller)."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass

import grpc

from gateway.auth import Authenticator
from gateway.catalog import Catalog, Method
from gateway.config import Limits
from gateway.keystore import KeyRecord
from gateway.ratelimit import RateLimiter
from gateway.statuses import failure, retry_info, upstream_failure
from gateway.upstreams import Upstreams
from services.common.auth import ROLE_TABLE, needs_roles, roles_for
from services.common.grpc_server import REQUEST_HEADER
from services.common.internal_auth import TOKEN_HEADER, InternalSigner
from services.common.request_log import RequestRecord
from services.common.telemetry import StreamSpan, current_traceparent, server_span

# Caller metadata passed on as is; everything else (x-tenant-id, x-roles, x-actor,
# authorization...) is dropped, and who calls is asserted in the signed internal token.
_PASSED_THROUGH = ("x-correlation-id",)


@dataclass(frozen=True)
class Admitted:
    method: Method
    key: KeyRecord
    metadata: tuple[tuple[str, str], ...]
    timeout: float


class Gateway:
    def __init__(
        self,
        catalog: Catalog,
        authenticator: Authenticator,
        upstreams: Upstreams,
        limits: Limits,
        signer: InternalSigner,
        limiter: RateLimiter | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.catalog = catalog
        self.authenticator = authenticator
        self.upstreams = upstreams
        self.limits = limits
        self.signer = signer
        self.limiter = limiter or RateLimiter()
        # The one role table (services/common/auth.py): the same object every service checks
        # again on the roles in the signed token (services/common/grpc_server.py).
        self.role_table = ROLE_TABLE
        self.monotonic = monotonic
        # The table is fixed for the process's life: match each method's patterns once.
        self._roles = {m.full_name: roles_for(m.full_name, self.role_table) for m in catalog}

    async def admit(
        self,
        method: Method,
        incoming: Mapping[str, str],
        request_size: int,
        requested_timeout: float | None,
        record: RequestRecord | None = None,
    ) -> Admitted:
        key = await self.authenticator.authenticate(incoming.get("authorization"))
        if record is not None:
            record.tenant, record.caller = key.tenant_id, key.key_id
            record.request_id = incoming.get(REQUEST_HEADER, "").strip()
        allowed = self._roles.get(method.full_name, frozenset())
        if not allowed.intersection(key.roles):
            raise failure(
                grpc.StatusCode.PERMISSION_DENIED, needs_roles(method.full_name, allowed))
        if request_size > self.limits.max_request_bytes:
            raise failure(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"request of {request_size} bytes exceeds the limit of "
                f"{self.limits.max_request_bytes} bytes",
            )
        wait = self.limiter.take(key.key_id, key.rate_per_second, key.burst, self.monotonic())
        if wait > 0:
            raise failure(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"rate limit of {key.rate_per_second:g}/s (burst {key.burst}) exceeded; "
                f"retry in {wait:.3f}s",
                [retry_info(wait)],
            )
        metadata = internal_metadata(key, incoming, method, self.signer)
        return Admitted(method, key, metadata, self._timeout(method, requested_timeout))

    def _timeout(self, method: Method, requested: float | None) -> float:
        if method.server_streaming:
            default = ceiling = self.limits.stream_deadline_seconds
        else:
            default, ceiling = (
                self.limits.default_deadline_seconds, self.limits.max_deadline_seconds)
        return min(requested, ceiling) if requested else default

    async def unary(
        self, admitted: Admitted, request: bytes, record: RequestRecord | None = None
    ) -> bytes:
        call = self.upstreams.unary(admitted.method.path)
        with server_span(f"gateway {admitted.method.full_name}", dict(admitted.metadata)):
            if record is not None:
                record.note_trace()
            try:
                response: bytes = await call(
                    request, metadata=_with_trace(admitted.metadata), timeout=admitted.timeout
                )
                return response
            except grpc.aio.AioRpcError as exc:
                raise upstream_failure(
                    exc.code(), exc.details() or "", list(exc.trailing_metadata() or ())
                ) from None

    async def stream(
        self, admitted: Admitted, request: bytes, record: RequestRecord | None = None
    ) -> AsyncGenerator[bytes, None]:
        # The span is current only while this code runs, never across a yield (StreamSpan).
        span = StreamSpan(f"gateway {admitted.method.full_name}", dict(admitted.metadata))
        try:
            with span.current():
                if record is not None:
                    record.note_trace()
                call = self.upstreams.stream(admitted.method.path)(
                    request, metadata=_with_trace(admitted.metadata), timeout=admitted.timeout
                )
            try:
                async for item in span.iterate(aiter(call)):
                    yield item
            except grpc.aio.AioRpcError as exc:
                raise upstream_failure(
                    exc.code(), exc.details() or "", list(exc.trailing_metadata() or ())
                ) from None
            finally:
                call.cancel()
        finally:
            span.end()


def internal_metadata(
    key: KeyRecord, incoming: Mapping[str, str], method: Method, signer: InternalSigner
) -> tuple[tuple[str, str], ...]:
    """The token the services trust (from the authenticated key alone, for this one method of
    this one upstream), the request id, and the caller's correlation and trace ids."""
    return internal_metadata_for(key, incoming, method.upstream, method.path, signer)


def internal_metadata_for(
    key: KeyRecord, incoming: Mapping[str, str], upstream: str, path: str, signer: InternalSigner
) -> tuple[tuple[str, str], ...]:
    """`internal_metadata` for a call the gateway makes itself (`path` = "/pkg.Service/Method").

    The caller's `x-request-id` is passed on as sent and never invented: on a mutating call it
    is the idempotency key when the body has no `request_id`, and a made-up one would turn two
    identical calls into two effects. The service checks it (services/common/requests.py).
    """
    request_id = incoming.get(REQUEST_HEADER, "").strip()
    token = signer.token(
        audience=upstream, method=path, tenant=key.tenant_id, actor=key.actor,
        roles=key.roles, request_id=request_id,
    )
    metadata = [(TOKEN_HEADER, token)]
    if request_id:
        metadata.append((REQUEST_HEADER, request_id))
    for name in (*_PASSED_THROUGH, "traceparent", "tracestate"):
        value = incoming.get(name, "").strip()
        if value:
            metadata.append((name, value))
    return tuple(metadata)


def _with_trace(metadata: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Replace the caller's trace context by the gateway span's, so services continue it."""
    traceparent, tracestate = current_traceparent()
    if not traceparent:
        return metadata
    kept = [(k, v) for k, v in metadata if k not in ("traceparent", "tracestate")]
    kept.append(("traceparent", traceparent))
    if tracestate:
        kept.append(("tracestate", tracestate))
    return tuple(kept)

