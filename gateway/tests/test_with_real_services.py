"""The gateway in front of the real claims service (real PostgreSQL + NATS): a call through gRPC
and through JSON, and the tenant boundary as the service enforces it."""

from __future__ import annotations

import json
import uuid

import grpc
import pytest

from gateway import keys
from gateway.demo import bearer as bearer_metadata
from gateway.demo import create_demo_key, first_calls
from gateway.server import make_builder, process_of
from gateway.tests.conftest import (
    RunningGateway,
    bearer,
    gateway_environ,
    http_request,
    stop_quickly,
)
from gateway.tests.samples import emergency_claim
from oonledger.claims.v1 import claims_pb2, claims_pb2_grpc

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
async def claims_gateway(service_runner, recording_upstream):
    claims_main = pytest.importorskip("services.claims.main",
                                      reason="the claims service has no main.py yet")
    claims = await service_runner.start("claims", claims_main.build)
    env = gateway_environ(recording_upstream.port, CLAIMS_ADDR=f"127.0.0.1:{claims.port}")
    runtime = await service_runner.start("gateway", make_builder(env))
    yield RunningGateway(runtime, process_of(runtime), recording_upstream)
    await stop_quickly(service_runner, runtime, claims)


async def test_register_over_grpc_read_over_json_and_other_tenants_see_nothing(claims_gateway):
    gateway = claims_gateway
    token, _, tenant = await gateway.key(roles=["negotiator"])
    other_token, _, _ = await gateway.key(roles=["negotiator", "admin", "auditor"])
    request_id = uuid.uuid4().hex
    async with grpc.aio.insecure_channel(gateway.grpc_address) as channel:
        stub = claims_pb2_grpc.ClaimsServiceStub(channel)
        created = await stub.RegisterClaim(
            claims_pb2.RegisterClaimRequest(request_id=request_id, claim=emergency_claim()),
            metadata=(("authorization", f"Bearer {token}"), ("x-tenant-id", "spoofed")),
            timeout=15)
        claim_id = created.claim.claim_id
        assert created.created and created.claim.tenant_id == tenant
        retried = await stub.RegisterClaim(
            claims_pb2.RegisterClaimRequest(request_id=request_id, claim=emergency_claim()),
            metadata=(("authorization", f"Bearer {token}"),), timeout=15)
        assert retried.claim.claim_id == claim_id and not retried.created

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetClaim(claims_pb2.GetClaimRequest(claim_id=claim_id),
                                metadata=(("authorization", f"Bearer {other_token}"),
                                          ("x-tenant-id", tenant)), timeout=15)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    reply = await http_request(gateway.http_port, "POST", "/v1/claims/GetClaim",
                               json.dumps({"claimId": claim_id}).encode(), bearer(token))
    assert reply.status == 200, reply.body
    claim = reply.json()["claim"]
    assert claim["claimId"] == claim_id and claim["totalBilledCents"] == "249000"
    reply = await http_request(gateway.http_port, "POST", "/v1/claims/GetClaim",
                               json.dumps({"claimId": claim_id}).encode(), bearer(other_token))
    assert reply.status == 404 and reply.json()["error"]["status"] == "NOT_FOUND"


async def test_service_validation_errors_come_back_as_field_violations_over_json(claims_gateway):
    token, _, _ = await claims_gateway.key(roles=["negotiator"])
    body = json.dumps({"requestId": uuid.uuid4().hex, "claim": {"clientId": "c"}}).encode()
    reply = await http_request(claims_gateway.http_port, "POST", "/v1/claims/RegisterClaim",
                               body, bearer(token))
    assert reply.status == 400, reply.body
    error = reply.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    violations = error["details"][0]["fieldViolations"]
    assert violations and all(v["field"] for v in violations)


async def test_the_demo_helpers_issue_a_key_and_make_the_first_calls(claims_gateway, infra_urls,
                                                                     namespace):
    token = await create_demo_key(infra_urls.database_url, namespace, tenant_id="demo-test")
    record = await claims_gateway.store.find(keys.parse_token(token).key_id)
    assert record is not None and record[0].tenant_id == "demo-test"
    async with grpc.aio.insecure_channel(claims_gateway.grpc_address) as channel:
        stub = claims_pb2_grpc.ClaimsServiceStub(channel)
        created = await stub.RegisterClaim(
            claims_pb2.RegisterClaimRequest(request_id=uuid.uuid4().hex, claim=emergency_claim()),
            metadata=bearer_metadata(token), timeout=15)
        status, body = await first_calls(channel, f"http://127.0.0.1:{claims_gateway.http_port}",
                                         token, created.claim.claim_id)
    assert status == "CLAIM_STATUS_REGISTERED"
    assert body["claim"]["status"] == status
