"""The JSON side: one POST route per RPC, NDJSON for server streams, errors rendered once.

Routes: `POST /v1/<package>.<Service>/<Method>` and the alias `POST /v1/<short>/<Method>`
(`/v1/claims/GetClaim`, `/v1/audit/ReplayClaim`); `GET /openapi.json`; `GET /healthz`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable
from typing import Any

import grpc
from google.rpc import error_details_pb2

from gateway import transcoding
from gateway.catalog import Method
from gateway.forwarding import Gateway
from gateway.http_server import Request, Response
from gateway.openapi import document, routes
from gateway.statuses import HTTP_STATUS, CallFailure, failure
from services.common.request_log import RequestRecord, request_logged

JSON = "application/json"
NDJSON = "application/x-ndjson"
_FORWARDED_HEADERS = ("authorization", "x-request-id", "x-correlation-id", "traceparent",
                      "tracestate")


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def error_body(http_status: int, code: grpc.StatusCode, message: str,
               details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": http_status, "status": code.name, "message": message,
                      "details": details or []}}


def failure_response(refused: CallFailure) -> Response:
    body = error_body(refused.http_status, refused.code, refused.message,
                      transcoding.status_details_json(refused.status))
    headers = []
    retry_after = refused.retry_after_seconds
    if retry_after is None and refused.code == grpc.StatusCode.UNAVAILABLE:
        retry_after = 1  # a service is down or unreachable: worth retrying soon
    if retry_after is not None:
        headers.append(("Retry-After", str(retry_after)))
    if refused.code == grpc.StatusCode.UNAUTHENTICATED:
        headers.append(("WWW-Authenticate", 'Bearer realm="oonledger"'))
    return Response(refused.http_status, _json_bytes(body), JSON, headers)


_PROTOCOL_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    414: grpc.StatusCode.RESOURCE_EXHAUSTED,
    431: grpc.StatusCode.RESOURCE_EXHAUSTED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    505: grpc.StatusCode.UNIMPLEMENTED,
}


def protocol_error(status: int, message: str) -> Response:
    """Errors found before a method is known (bad HTTP, unknown route, oversized body)."""
    code = _PROTOCOL_CODES.get(status) or next(
        (c for c, s in HTTP_STATUS.items() if s == status), grpc.StatusCode.UNKNOWN)
    return Response(status, _json_bytes(error_body(status, code, message)), JSON)


class HttpFront:
    def __init__(self, gateway: Gateway, ready: Callable[[], bool] = lambda: True) -> None:
        self.gateway = gateway
        self.routes = routes(gateway.catalog)
        self.ready = ready
        self._openapi = _json_bytes(document(gateway.catalog))

    async def handle(self, request: Request) -> Response:
        if request.path == "/healthz":
            serving = self.ready()
            return Response(200 if serving else 503,
                            _json_bytes({"status": "SERVING" if serving else "NOT_SERVING"}))
        if request.path == "/openapi.json":
            if request.method != "GET":
                return protocol_error(405, "use GET")
            return Response(200, self._openapi)
        method = self.routes.get(request.path)
        if method is None:
            return protocol_error(404, f"no route {request.path}; see /openapi.json")
        if request.method != "POST":
            return Response(405, _json_bytes(error_body(
                405, grpc.StatusCode.UNIMPLEMENTED, "use POST")), JSON, [("Allow", "POST")])
        with request_logged(RequestRecord("gateway", method.full_name, "http")) as record:
            try:
                return await self._call(method, request, record)
            except CallFailure as refused:
                record.failed(refused.code)
                return failure_response(refused)

    async def _call(self, method: Method, request: Request, record: RequestRecord) -> Response:
        incoming = {name: request.headers[name] for name in _FORWARDED_HEADERS
                    if name in request.headers}
        content_type = request.headers.get("content-type", JSON).split(";")[0].strip().lower()
        admitted = await self.gateway.admit(method, incoming, len(request.body),
                                            _timeout_header(request), record)
        if request.body.strip() and not _json_content_type(content_type):
            raise failure(grpc.StatusCode.INVALID_ARGUMENT,
                          f"Content-Type must be {JSON}, not {content_type}")
        try:
            payload = transcoding.request_bytes(method, request.body)
        except transcoding.MalformedJson as exc:
            violations = [error_details_pb2.BadRequest.FieldViolation(
                field=v.path, description=v.description) for v in exc.violations]
            raise failure(grpc.StatusCode.INVALID_ARGUMENT, str(exc),
                          [error_details_pb2.BadRequest(field_violations=violations)]) from None
        if not method.server_streaming:
            reply = await self.gateway.unary(admitted, payload, record)
            return Response(200, _json_bytes(transcoding.response_json(method, reply)))
        items = self.gateway.stream(admitted, payload, record)
        try:
            first = await items.__anext__()
        except StopAsyncIteration:
            return Response(200, b"", NDJSON)
        return Response(200, content_type=NDJSON, stream=_ndjson(method, first, items))


async def _ndjson(method: Method, first: bytes, rest: AsyncGenerator[bytes, None]
                 ) -> AsyncGenerator[bytes, None]:
    """One JSON object per line; a failure after the first line becomes a final error line.
    `rest` is closed here when the client goes away (not later by the garbage collector)."""
    try:
        yield _json_bytes(transcoding.response_json(method, first)) + b"\n"
        async for item in rest:
            yield _json_bytes(transcoding.response_json(method, item)) + b"\n"
    except CallFailure as refused:
        body = error_body(refused.http_status, refused.code, refused.message,
                          transcoding.status_details_json(refused.status))
        yield _json_bytes(body) + b"\n"
    finally:
        await rest.aclose()


def _json_content_type(content_type: str) -> bool:
    """JSON, or no stated type: `curl -d` sends form-encoded or nothing; the body is read as
    JSON (and refused, naming the problem, when it is not)."""
    return content_type in (JSON, "", "application/x-www-form-urlencoded", "text/plain") or (
        content_type.startswith("application/") and content_type.endswith("+json"))


def _timeout_header(request: Request) -> float | None:
    """Optional `X-Timeout-Ms` (bounded by the gateway's maximum deadline)."""
    text = request.headers.get("x-timeout-ms", "")
    return int(text) / 1000 if text.isdigit() and int(text) > 0 else None
