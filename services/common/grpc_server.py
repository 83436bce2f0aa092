"""grpc.aio bootstrap: health, reflection, signed token → CommandContext, the role table checked
on every call, one error → status table."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from services.common import errors, internal_auth
from services.common.auth import ROLE_TABLE, refusal
from services.common.context import CommandContext
from services.common.faults import is_fault
from services.common.request_log import RequestRecord, request_logged
from services.common.requests import read_request, unreadable_field
from services.common.telemetry import StreamSpan, current_traceparent, server_span

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# Suggested wait before retrying after an infrastructure fault (google.rpc.RetryInfo).
RETRY_AFTER_FAULT_SECONDS = 1
T = TypeVar("T")

# Who calls travels only in the gateway's signed token (internal_auth.TOKEN_HEADER); the request
# id is also sent in plain metadata, for logs.
REQUEST_HEADER = "x-request-id"


@dataclass(frozen=True)
class ServicerBinding:
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any
    service_name: str  # full name, e.g. "oonledger.claims.v1.ClaimsService"


def _status(code: grpc.StatusCode, message: str, details: Sequence[Any] = ()) -> grpc.Status:
    proto = status_pb2.Status(code=getattr(code_pb2, code.name), message=message)
    for detail in details:
        packed = any_pb2.Any()
        packed.Pack(detail)
        proto.details.append(packed)
    return rpc_status.to_status(proto)


def status_for(exc: BaseException) -> grpc.Status | None:
    """The single mapping from exceptions to gRPC statuses; None for a bug (→ INTERNAL).

    Infrastructure faults (database, broker, timeouts: services/common/faults.py) are
    UNAVAILABLE with a RetryInfo detail: the same request may succeed once it is back, and
    clients that retry only on UNAVAILABLE must see it.
    """
    if isinstance(exc, errors.InvalidArgument):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in exc.violations
            ]
        )
        return _status(grpc.StatusCode.INVALID_ARGUMENT, str(exc), [bad_request])
    table: list[tuple[type[BaseException], grpc.StatusCode]] = [
        (errors.NotFound, grpc.StatusCode.NOT_FOUND),
        (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
        (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
        (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
        (errors.Conflict, grpc.StatusCode.ABORTED),
        (errors.DataLoss, grpc.StatusCode.DATA_LOSS),
    ]
    for kind, code in table:
        if isinstance(exc, kind):
            return _status(code, str(exc) or code.name)
    if is_fault(exc):
        retry = error_details_pb2.RetryInfo(
            retry_delay=duration_pb2.Duration(seconds=RETRY_AFTER_FAULT_SECONDS)
        )
        return _status(
            grpc.StatusCode.UNAVAILABLE,
            f"temporarily unavailable ({type(exc).__name__}); retry with the same request_id",
            [retry],
        )
    return None


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {
        key: value
        for key, value in (context.invocation_metadata() or ())
        if isinstance(value, str)
    }


def command_context(metadata: dict[str, str], now: datetime | None = None) -> CommandContext:
    """Who calls, from the gateway's signed token alone (raises `internal_auth.Unauthenticated`);
    only the correlation and trace ids, which grant nothing, come from plain metadata."""
    return _context(internal_auth.verify_call(metadata), metadata, now)


def _context(
    claims: internal_auth.InternalClaims, metadata: dict[str, str], now: datetime | None = None
) -> CommandContext:
    traceparent, tracestate = current_traceparent()
    return CommandContext(
        tenant_id=claims.tenant.strip(),
        actor=claims.actor.strip() or "unknown",
        now=now or datetime.now(UTC),
        roles=frozenset(r.strip() for r in claims.roles if r.strip()),
        request_id=claims.request_id.strip(),
        correlation_id=metadata.get("x-correlation-id", "") or claims.request_id.strip(),
        traceparent=traceparent or metadata.get("traceparent", ""),
        tracestate=tracestate,
    )


async def _admitted(
    context: grpc.aio.ServicerContext, metadata: dict[str, str], record: RequestRecord
) -> CommandContext:
    """The caller, once its signed token is verified (else UNAUTHENTICATED) and the role table
    allows one of its roles this method (else PERMISSION_DENIED): every service checks the
    table itself and never trusts that a call came through the gateway."""
    try:
        claims = internal_auth.verify_call(metadata)
    except internal_auth.Unauthenticated as exc:
        record.failed(grpc.StatusCode.UNAUTHENTICATED)
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        raise  # abort raises; this line only tells the type checker
    ctx = _context(claims, metadata)
    denied = refusal(claims.method, ctx.roles, ROLE_TABLE)
    if denied is not None:
        record.failed(grpc.StatusCode.PERMISSION_DENIED)
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, denied)
    record.tenant, record.caller, record.request_id = ctx.tenant_id, ctx.actor, ctx.request_id
    return ctx


async def _abort_for(
    context: grpc.aio.ServicerContext, exc: BaseException, record: RequestRecord
) -> None:
    status = status_for(exc)
    if status is None:
        record.failed(grpc.StatusCode.INTERNAL)
        log.exception("unexpected error", exc_info=exc)
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")
        return
    if status.code == grpc.StatusCode.UNAVAILABLE:
        log.warning("infrastructure fault: %r", exc)
    record.failed(status.code)
    await context.abort_with_status(status)


def _request_record() -> RequestRecord:
    """The request-log line of the call being served (services/common/request_log.py)."""
    method = internal_auth.current_method()
    component = method.split(".")[1] if method.count(".") >= 2 else "service"
    return RequestRecord(component, method.lstrip("/"))


# Requests larger than this are read in a worker thread (a 50,000-claim import takes about 1.5 s
# to walk), so the event loop keeps serving other calls.
READ_IN_THREAD_BYTES = 256 * 1024


async def _read(request: Any, ctx: CommandContext) -> CommandContext:
    """The caller's CommandContext, completed by the request reader once the request passed it
    (services/common/requests.py)."""
    if isinstance(request, UnreadableRequest):
        raise errors.InvalidArgument(request.reason, field=request.field)
    if request.ByteSize() > READ_IN_THREAD_BYTES:
        return await asyncio.to_thread(read_request, request, ctx)
    return read_request(request, ctx)


def rpc(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a unary servicer method `(self, request, ctx: CommandContext, context)`.

    Builds the CommandContext from the signed token, checks the caller's roles against the role
    table (services/common/auth.py), checks the request (services/common/requests.py),
    opens a server span, maps every exception once (`status_for`).
    """

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        metadata = _metadata(context)
        with server_span(method.__name__, metadata), request_logged(_request_record()) as record:
            ctx = await _admitted(context, metadata, record)
            try:
                ctx = await _read(request, ctx)
                record.request_id = ctx.request_id
                return await method(self, request, ctx, context)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await _abort_for(context, exc, record)

    return wrapper


def rpc_stream(
    method: Callable[..., AsyncGenerator[Any, None]],
) -> Callable[..., AsyncIterator[Any]]:
    """Like `rpc`, for server-streaming methods written as async generators; the span is
    current only while the method runs, never across a yield (`StreamSpan`)."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        metadata = _metadata(context)
        span = StreamSpan(method.__name__, metadata)
        try:
            with request_logged(_request_record()) as record:
                with span.current():
                    record.note_trace()
                    ctx = await _admitted(context, metadata, record)
                try:
                    with span.current():
                        ctx = await _read(request, ctx)
                    record.request_id = ctx.request_id
                    async for item in span.iterate(method(self, request, ctx, context)):
                        yield item
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    with span.current():
                        await _abort_for(context, exc, record)
        finally:
            span.end()

    return wrapper


@dataclass(frozen=True)
class UnreadableRequest:
    """Bytes protobuf could not parse (e.g. invalid UTF-8 in a string), handed to the servicer
    instead of failing in grpc's deserializer, which would answer INTERNAL."""

    field: str
    reason: str


def _tolerant(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    descriptor = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError as exc:
            if descriptor is not None and (field := unreadable_field(descriptor, data)):
                return UnreadableRequest(field, "is not valid UTF-8")
            return UnreadableRequest("", f"the request is not a readable message: {exc}")

    return parse


class TolerantParsing(grpc.aio.ServerInterceptor):
    """Lets the `rpc` wrappers answer INVALID_ARGUMENT for a request protobuf cannot parse."""

    def __init__(self, service_names: Sequence[str]) -> None:
        self._prefixes = tuple(f"/{name}/" for name in service_names)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method or ""
        if handler is None or handler.request_deserializer is None:
            return handler
        if not method.startswith(self._prefixes):
            return handler
        return handler._replace(request_deserializer=_tolerant(handler.request_deserializer))


class Blocking:
    """Runs the synchronous eventsourcing library off the event loop, in a bounded pool."""

    def __init__(self, threads: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="app")

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        if kwargs:
            return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))
        return await loop.run_in_executor(self.executor, fn, *args)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def _health_status(serving: bool) -> Any:
    if serving:
        return health_pb2.HealthCheckResponse.SERVING
    return health_pb2.HealthCheckResponse.NOT_SERVING


class GrpcServer:
    def __init__(
        self, host: str, port: int, bindings: Sequence[ServicerBinding],
        verifier: internal_auth.InternalVerifier | None = None,
    ):
        self.host = host
        self.requested_port = port
        self.bindings = list(bindings)
        self.server = grpc.aio.server(
            interceptors=[
                internal_auth.CallTarget(verifier),  # None: every @rpc call refused
                TolerantParsing([b.service_name for b in self.bindings]),
            ],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ]
        )
        self.port = 0
        self._health = health.aio.HealthServicer()
        self._serving = False
        self._failing_parts: set[str] = set()

    async def start(self) -> int:
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self.server)
        names = [b.service_name for b in self.bindings]
        for binding in self.bindings:
            binding.add_to_server(binding.servicer, self.server)
        reflection.enable_server_reflection(
            [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME],
            self.server,
        )
        self.port = self.server.add_insecure_port(f"{self.host}:{self.requested_port}")
        await self.set_serving(False)
        await self.server.start()
        return self.port

    async def set_serving(self, serving: bool) -> None:
        self._serving = serving
        for name in [b.service_name for b in self.bindings]:
            await self._health.set(name, _health_status(serving))
        await self._health.set("", _health_status(self._overall()))

    async def set_part(self, name: str, serving: bool) -> None:
        """One part's health (a relay, a consumer: services/common/health.py) under its own
        name; any part NOT_SERVING makes the overall "" status NOT_SERVING too."""
        if serving:
            self._failing_parts.discard(name)
        else:
            self._failing_parts.add(name)
        await self._health.set(name, _health_status(serving))
        await self._health.set("", _health_status(self._overall()))

    def _overall(self) -> bool:
        return self._serving and not self._failing_parts

    async def stop(self, grace: float) -> None:
        await self.set_serving(False)
        await self.server.stop(grace)
