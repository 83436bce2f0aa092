"""Through the running gateway (real PostgreSQL, NATS, gRPC on port 0) to a recording upstream:
who gets through, with which identity, and what never reaches a service."""

from __future__ import annotations

import json
import uuid

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from gateway.catalog import Method
from gateway.server import make_builder, process_of
from gateway.tests.conftest import (
    MAX_REQUEST_BYTES,
    RunningGateway,
    bearer,
    gateway_environ,
    http_request,
    stop_quickly,
)
from gateway.tests.upstream import FAIL_UNAVAILABLE, FAIL_WITH_BAD_REQUEST
from services.common.auth import ROLES, roles_for
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


def raw_call(channel: grpc.aio.Channel, method: Method):  # type: ignore[no-untyped-def]
    if method.server_streaming:
        stream = channel.unary_stream(method.path)

        async def collect(request: bytes, **kwargs):  # type: ignore[no-untyped-def]
            return [item async for item in stream(request, **kwargs)]

        return collect
    return channel.unary_unary(method.path)


def method_at(gateway: RunningGateway, path: str) -> Method:
    method = gateway.process.gateway.catalog.get(path)
    assert method is not None, path
    return method


GET_CLAIM = "/oonledger.claims.v1.ClaimsService/GetClaim"


def auth(token: str, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"), *extra)


async def expect_code(call, code: grpc.StatusCode, *args, **kwargs) -> grpc.aio.AioRpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(*args, **kwargs)
    assert caught.value.code() == code, caught.value.details()
    return caught.value


async def test_every_method_gets_the_tenant_and_roles_of_the_key_never_the_callers(
    gateway: RunningGateway, channel
):
    methods = list(gateway.process.gateway.catalog)
    assert len(methods) >= 40
    for method in methods:
        role = sorted(roles_for(method.full_name))[0]
        token, key_id, tenant = await gateway.key(roles=[role])
        spoofed = (("x-tenant-id", "someone-else"), ("x-roles", "admin,auditor"),
                   ("x-actor", "mallory"), ("x-request-id", f"req-{key_id}"))
        await raw_call(channel, method)(b"", metadata=auth(token, *spoofed), timeout=10)
        received = gateway.upstream.calls_to(method.full_name)[-1]
        seen, identity = received.metadata, received.identity
        assert identity is not None, f"{method.full_name}: no valid internal token"
        assert identity.tenant == tenant, method.full_name
        assert identity.roles == {role}
        assert identity.actor.startswith(f"apikey:{key_id}")
        assert identity.request_id == seen["x-request-id"] == f"req-{key_id}"
        assert identity.method == method.path and identity.audience == method.upstream
        assert 0 < identity.expires_at - identity.issued_at <= 60
        assert "authorization" not in seen
        # The caller's own identity headers never reach a service.
        assert not {"x-tenant-id", "x-roles", "x-actor"} & set(seen), method.full_name


async def test_every_method_refuses_roles_outside_its_line(gateway: RunningGateway, channel):
    before = len(gateway.upstream.received)
    for method in gateway.process.gateway.catalog:
        outsiders = sorted(ROLES - roles_for(method.full_name))
        if not outsiders:
            continue
        token, _, _ = await gateway.key(roles=outsiders)
        error = await expect_code(raw_call(channel, method), grpc.StatusCode.PERMISSION_DENIED,
                                  b"", metadata=auth(token), timeout=10)
        assert method.full_name in error.details()
    assert len(gateway.upstream.received) == before, "a refused call reached a service"


async def test_missing_malformed_unknown_and_wrong_secret_keys(gateway: RunningGateway, channel):
    get_claim = method_at(gateway, GET_CLAIM)
    call = raw_call(channel, get_claim)
    token, _, _ = await gateway.key()
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    unknown = f"oon_{uuid.uuid4().hex[:16]}_{token.rsplit('_', 1)[1]}"
    before = len(gateway.upstream.received)
    for metadata in [(), (("authorization", "Basic abc"),), auth("oon_nope"), auth(forged),
                     auth(unknown), (("x-tenant-id", "t1"), ("x-roles", "admin"))]:
        await expect_code(call, grpc.StatusCode.UNAUTHENTICATED, b"", metadata=metadata)
    reply = await http_request(gateway.http_port, "POST", "/v1/claims/GetClaim", b"{}",
                               {"X-Tenant-Id": "t1", "Content-Type": "application/json"})
    assert reply.status == 401
    assert reply.json()["error"]["status"] == "UNAUTHENTICATED"
    assert reply.headers["www-authenticate"].startswith("Bearer")
    assert len(gateway.upstream.received) == before


async def test_revoked_key_stops_working_at_once(gateway: RunningGateway, channel):
    get_claim = method_at(gateway, GET_CLAIM)
    call = raw_call(channel, get_claim)
    token, key_id, _ = await gateway.key()
    await call(b"", metadata=auth(token))  # now cached in the gateway
    assert await gateway.store.revoke(key_id, gateway.process.gateway.authenticator.clock())

    async def refused() -> bool:
        try:
            await call(b"", metadata=auth(token))
        except grpc.aio.AioRpcError as exc:
            return exc.code() == grpc.StatusCode.UNAUTHENTICATED and "revoked" in exc.details()
        return False

    # The NOTIFY evicts the cached key; far sooner than the cache's own expiry.
    await eventually(refused, timeout=3)  # type: ignore[arg-type]


async def test_expired_key_is_refused(gateway: RunningGateway, channel):
    token, key_id, _ = await gateway.key()
    async with gateway.store.pool.acquire() as conn:
        await conn.execute(
            f"UPDATE {gateway.store.table} SET expires_at = now() - interval '1 second' "
            "WHERE key_id = $1", key_id)
    get_claim = method_at(gateway, GET_CLAIM)
    error = await expect_code(raw_call(channel, get_claim), grpc.StatusCode.UNAUTHENTICATED,
                              b"", metadata=auth(token))
    assert "expired" in error.details()


async def test_oversized_requests_are_refused_on_both_sides(gateway: RunningGateway, channel):
    token, _, _ = await gateway.key()
    register = method_at(gateway, "/oonledger.claims.v1.ClaimsService/RegisterClaim")
    before = len(gateway.upstream.received)
    # Field 1 (request_id, a string) of MAX_REQUEST_BYTES + 1 bytes.
    payload = b"x" * (MAX_REQUEST_BYTES + 1)
    big = b"\x0a" + _varint(len(payload)) + payload
    await expect_code(raw_call(channel, register), grpc.StatusCode.RESOURCE_EXHAUSTED,
                      big, metadata=auth(token))
    body = json.dumps({"requestId": "x" * (MAX_REQUEST_BYTES + 1)}).encode()
    reply = await http_request(gateway.http_port, "POST", "/v1/claims/RegisterClaim", body,
                               bearer(token))
    assert reply.status == 413
    assert reply.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert len(gateway.upstream.received) == before


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"claimId": 42, "bogus": true}'])
async def test_malformed_json_is_invalid_argument_and_reaches_nothing(gateway, body):
    token, _, _ = await gateway.key()
    before = len(gateway.upstream.received)
    reply = await http_request(gateway.http_port, "POST", "/v1/claims/GetClaim", body,
                               bearer(token))
    assert reply.status == 400
    error = reply.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["@type"].endswith("google.rpc.BadRequest")
    assert len(gateway.upstream.received) == before


async def test_rate_limit_answers_resource_exhausted_with_retry_info(gateway, channel):
    token, _, _ = await gateway.key(rate=0.5, burst=2)
    get_claim = method_at(gateway, GET_CLAIM)
    call = raw_call(channel, get_claim)
    await call(b"", metadata=auth(token))
    await call(b"", metadata=auth(token))
    error = await expect_code(call, grpc.StatusCode.RESOURCE_EXHAUSTED, b"", metadata=auth(token))
    status = rpc_status.from_call(error)
    info = error_details_pb2.RetryInfo()
    assert status is not None and status.details[0].Unpack(info)
    assert 0 < info.retry_delay.seconds + info.retry_delay.nanos / 1e9 <= 2
    reply = await http_request(gateway.http_port, "POST", "/v1/claims/GetClaim", b"{}",
                               bearer(token))
    assert reply.status == 429
    assert 1 <= int(reply.headers["retry-after"]) <= 2
    assert reply.json()["error"]["details"][0]["@type"].endswith("google.rpc.RetryInfo")


async def test_a_call_through_json_reaches_the_service_as_protobuf(gateway):
    token, _, tenant = await gateway.key()
    body = json.dumps({"requestId": "r-json", "claim": {"clientId": "c1",
                       "totalBilledCents": "125000"}}).encode()
    reply = await http_request(gateway.http_port, "POST",
                               "/v1/oonledger.claims.v1.ClaimsService/RegisterClaim", body,
                               bearer(token) | {"X-Tenant-Id": "not-mine"})
    assert reply.status == 200, reply.body
    assert reply.json() == {"created": False}
    from oonledger.claims.v1 import claims_pb2

    seen = gateway.upstream.calls_to("oonledger.claims.v1.ClaimsService/RegisterClaim")[-1]
    request = claims_pb2.RegisterClaimRequest.FromString(seen.request)
    assert request.claim.total_billed_cents == 125000
    assert seen.identity is not None and seen.identity.tenant == tenant


async def test_service_errors_keep_their_details_on_both_sides(gateway, channel):
    token, _, _ = await gateway.key(roles=["finance"])
    post = method_at(gateway, "/oonledger.settlement.v1.SettlementService/PostPayment")
    error = await expect_code(raw_call(channel, post), grpc.StatusCode.INVALID_ARGUMENT, b"",
                              metadata=auth(token, ("x-request-id", FAIL_WITH_BAD_REQUEST)))
    violations = error_details_pb2.BadRequest()
    assert rpc_status.from_call(error).details[0].Unpack(violations)
    assert violations.field_violations[0].field == "amount_cents"
    reply = await http_request(gateway.http_port, "POST", "/v1/settlement/PostPayment", b"{}",
                               bearer(token) | {"X-Request-Id": FAIL_WITH_BAD_REQUEST})
    assert reply.status == 400
    detail = reply.json()["error"]["details"][0]
    assert detail["fieldViolations"][0] == {"field": "amount_cents",
                                            "description": "must be positive"}


async def test_unavailable_passes_through_with_its_retry_info_and_is_503_retry_after(
    gateway, channel
):
    token, _, _ = await gateway.key(roles=["finance"])
    post = method_at(gateway, "/oonledger.settlement.v1.SettlementService/PostPayment")
    error = await expect_code(raw_call(channel, post), grpc.StatusCode.UNAVAILABLE, b"",
                              metadata=auth(token, ("x-request-id", FAIL_UNAVAILABLE)))
    info = error_details_pb2.RetryInfo()
    assert rpc_status.from_call(error).details[0].Unpack(info)
    assert info.retry_delay.seconds == 2
    reply = await http_request(gateway.http_port, "POST", "/v1/settlement/PostPayment", b"{}",
                               bearer(token) | {"X-Request-Id": FAIL_UNAVAILABLE})
    assert reply.status == 503, reply.body
    assert reply.headers["retry-after"] == "2"
    assert reply.json()["error"]["status"] == "UNAVAILABLE"


async def test_no_request_id_is_invented_for_a_caller_that_sent_none(gateway, channel):
    token, _, _ = await gateway.key(roles=["finance"])
    path = "/oonledger.settlement.v1.SettlementService/PostPayment"
    await raw_call(channel, method_at(gateway, path))(b"", metadata=auth(token))
    seen = gateway.upstream.calls_to(path.lstrip("/"))[-1]
    assert "x-request-id" not in seen.metadata


async def test_audit_replay_streams_as_ndjson(gateway):
    token, _, _ = await gateway.key(roles=["auditor"])
    reply = await http_request(gateway.http_port, "POST", "/v1/audit/ReplayClaim",
                               b'{"claimId": "c-1"}', bearer(token))
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/x-ndjson"
    assert [json.loads(line) for line in reply.body.splitlines()] == [{"entries": []}] * 3


async def test_unknown_routes_and_methods(gateway, channel):
    token, _, _ = await gateway.key(roles=["admin"])
    missing = channel.unary_unary("/oonledger.claims.v1.ClaimsService/DropAll")
    await expect_code(missing, grpc.StatusCode.UNIMPLEMENTED, b"", metadata=auth(token))
    reply = await http_request(gateway.http_port, "POST", "/v1/claims/DropAll", b"{}",
                               bearer(token))
    assert reply.status == 404
    reply = await http_request(gateway.http_port, "GET", "/v1/claims/GetClaim", b"",
                               bearer(token))
    assert reply.status == 405


async def test_health_reflection_and_openapi(gateway, channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ["", "oonledger.claims.v1.ClaimsService"]:
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def ask():  # type: ignore[no-untyped-def]
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    async for answer in reflection.ServerReflectionInfo(ask()):
        names = {s.name for s in answer.list_services_response.service}
        assert {"oonledger.claims.v1.ClaimsService", "oonledger.ledger.v1.AuditService"} <= names
    reply = await http_request(gateway.http_port, "GET", "/openapi.json")
    assert reply.status == 200
    assert "/v1/oonledger.claims.v1.ClaimsService/GetClaim" in reply.json()["paths"]
    assert (await http_request(gateway.http_port, "GET", "/healthz")).status == 200


async def test_the_callers_trace_continues_through_the_gateway(gateway, channel):
    token, _, _ = await gateway.key()
    trace_id = uuid.uuid4().hex
    incoming = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    await raw_call(channel, method_at(gateway, GET_CLAIM))(
        b"", metadata=auth(token, ("traceparent", incoming), ("x-correlation-id", "corr-1")))
    seen = gateway.upstream.calls_to("oonledger.claims.v1.ClaimsService/GetClaim")[-1].metadata
    assert seen["traceparent"].split("-")[1] == trace_id
    assert seen["traceparent"] != incoming  # the gateway's own span is the parent
    assert seen["x-correlation-id"] == "corr-1"


async def test_made_up_keys_cost_one_lookup_per_id(gateway, channel):
    authenticator = gateway.process.gateway.authenticator
    made_up = f"oon_{uuid.uuid4().hex[:16]}_{'A' * 43}"
    calls = 0
    original = authenticator.store.find

    async def counting(key_id: str):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return await original(key_id)

    authenticator.store.find = counting  # type: ignore[method-assign]
    try:
        for _ in range(5):
            await expect_code(raw_call(channel, method_at(gateway, GET_CLAIM)),
                              grpc.StatusCode.UNAUTHENTICATED, b"", metadata=auth(made_up))
    finally:
        authenticator.store.find = original  # type: ignore[method-assign]
    assert calls == 1


async def test_a_service_that_cannot_be_reached_is_503_with_retry_after(
    service_runner, recording_upstream
):
    env = gateway_environ(recording_upstream.port, SETTLEMENT_ADDR="127.0.0.1:9")
    runtime = await service_runner.start("gateway", make_builder(env))
    try:
        down = RunningGateway(runtime, process_of(runtime), recording_upstream)
        token, _, _ = await down.key(roles=["finance"])
        reply = await http_request(down.http_port, "POST", "/v1/settlement/PostPayment",
                                   b'{"requestId": "r-1"}', bearer(token))
        assert reply.status == 503, reply.body
        assert reply.headers["retry-after"] == "1"
    finally:
        await stop_quickly(service_runner, runtime)
