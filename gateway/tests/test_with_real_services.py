"""The gateway in front of the real claims service (real PostgreSQL + NATS): a call through gRPC
and through JSON, and the tenant boundary as the service enforces it."""

from __future__ import annotations

import hashlib
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


async def _post(gateway: RunningGateway, token: str, path: str, body: bytes,
                headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return await http_request(gateway.http_port, "POST", path, body,
                              headers if headers is not None else bearer(token))


def _violations(reply) -> dict[str, str]:  # type: ignore[no-untyped-def]
    error = reply.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT", error
    return {v["field"]: v["description"] for v in error["details"][0]["fieldViolations"]}


async def test_an_empty_claim_over_json_names_every_missing_field_in_one_answer(claims_gateway):
    token, _, _ = await claims_gateway.key(roles=["negotiator"])
    body = json.dumps({"requestId": uuid.uuid4().hex, "claim": {}}).encode()
    reply = await _post(claims_gateway, token, "/v1/claims/RegisterClaim", body)
    assert reply.status == 400, reply.body
    # Every required field, in one answer (not in stages).
    assert set(_violations(reply)) == {
        "claim.claim_type", "claim.client_id", "claim.patient_control_number", "claim.lines",
        "claim.payer.payer_id", "claim.provider.npi"}


async def test_null_and_type_errors_are_all_named_by_json_path_and_nothing_is_forwarded(
    claims_gateway,
):
    token, _, _ = await claims_gateway.key(roles=["negotiator"])
    before = len(claims_gateway.upstream.received)
    body = json.dumps({
        "requestId": uuid.uuid4().hex,
        "claim": {"claimType": None, "clientId": 7, "emergency": "yes",
                  "lines": [{"billedCents": 1.5, "units": "2"}, {"billedCents": "1e3"}],
                  "diagnosisCodes": None, "provider": {"npi": None}},
    }).encode()
    reply = await _post(claims_gateway, token, "/v1/claims/RegisterClaim", body)
    assert reply.status == 400, reply.body
    violations = _violations(reply)
    assert set(violations) == {
        "claim.claimType", "claim.clientId", "claim.emergency", "claim.lines[0].billedCents",
        "claim.lines[1].billedCents", "claim.diagnosisCodes", "claim.provider.npi",
    }, violations
    assert "null" in violations["claim.claimType"]
    assert "null" in violations["claim.provider.npi"]
    assert "expected a string" in violations["claim.clientId"]
    assert len(claims_gateway.upstream.received) == before
    reply = await _post(claims_gateway, token, "/v1/claims/GetClaim", b'{"claimId": null}')
    assert reply.status == 400 and set(_violations(reply)) == {"claimId"}


async def test_json_without_a_content_type_is_read_when_it_parses(claims_gateway):
    token, _, _ = await claims_gateway.key(roles=["negotiator"])
    request_id = uuid.uuid4().hex
    from google.protobuf import json_format

    claim = json_format.MessageToDict(emergency_claim())
    body = json.dumps({"requestId": request_id, "claim": claim}).encode()
    auth_only = {"Authorization": f"Bearer {token}"}
    curl_default = {**auth_only, "Content-Type": "application/x-www-form-urlencoded"}
    for headers in (auth_only, curl_default):  # `curl -d` without -H content-type
        reply = await _post(claims_gateway, token, "/v1/claims/RegisterClaim", body, headers)
        assert reply.status == 200, reply.body
    reply = await _post(claims_gateway, token, "/v1/claims/RegisterClaim", b"claim=1",
                        curl_default)
    assert reply.status == 400 and "invalid" in reply.json()["error"]["message"]
    reply = await _post(claims_gateway, token, "/v1/claims/RegisterClaim", body,
                        {**auth_only, "Content-Type": "application/xml"})
    assert reply.status == 400 and "Content-Type" in reply.json()["error"]["message"]


async def test_a_duplicate_claim_over_json_is_already_exists_naming_the_open_claim(
    claims_gateway,
):
    token, _, _ = await claims_gateway.key(roles=["negotiator"])
    from google.protobuf import json_format

    claim = json_format.MessageToDict(emergency_claim())
    first_id = uuid.uuid4().hex

    async def send(request_id: str):  # type: ignore[no-untyped-def]
        body = json.dumps({"requestId": request_id, "claim": claim}).encode()
        return await _post(claims_gateway, token, "/v1/claims/RegisterClaim", body)

    first = await send(first_id)
    assert first.status == 200, first.body
    claim_id = first.json()["claim"]["claimId"]
    # The same claim sent again without its request id's retry: refused, naming the first.
    again = await send(uuid.uuid4().hex)
    assert again.status == 409, again.body
    error = again.json()["error"]
    assert error["status"] == "ALREADY_EXISTS" and claim_id in error["message"]
    # The retry of the first request is still its original answer.
    retry = await send(first_id)
    assert retry.status == 200 and retry.json()["claim"]["claimId"] == claim_id
    assert retry.json().get("created", False) is False


async def _start_job(stub, token: str, name: str) -> str:  # type: ignore[no-untyped-def]
    content = f"not yet uploaded: {name} {uuid.uuid4().hex}".encode()
    started = await stub.StartImport(claims_pb2.StartImportRequest(
        request_id=uuid.uuid4().hex, file_sha256=hashlib.sha256(content).hexdigest(),
        total_bytes=len(content), file_name=name, client_id="client-l"),
        metadata=(("authorization", f"Bearer {token}"),), timeout=15)
    assert started.created
    return str(started.job.job_id)


async def test_list_import_jobs_over_json_pages_newest_first_within_the_tenant(claims_gateway):
    gateway = claims_gateway
    writer, _, tenant = await gateway.key(roles=["negotiator"])
    reader, _, _ = await gateway.key(tenant, roles=["auditor"])
    other, _, _ = await gateway.key(roles=["negotiator"])
    async with grpc.aio.insecure_channel(gateway.grpc_address) as channel:
        stub = claims_pb2_grpc.ClaimsServiceStub(channel)
        mine = [await _start_job(stub, writer, f"mine-{n}.837") for n in range(3)]
        theirs = await _start_job(stub, other, "theirs.837")

    seen, token = [], ""
    while True:
        reply = await _post(gateway, writer, "/v1/claims/ListImportJobs",
                            json.dumps({"pageSize": 2, "pageToken": token}).encode())
        assert reply.status == 200, reply.body
        body = reply.json()
        assert len(body["jobs"]) <= 2
        assert all(job.get("findings", []) == [] for job in body["jobs"])  # never sent
        seen += [job["jobId"] for job in body["jobs"]]
        token = body.get("nextPageToken", "")
        if not token:
            break
    assert seen == mine[::-1]  # newest first; no other tenant's job

    reply = await _post(gateway, other, "/v1/claims/ListImportJobs", b"{}")
    assert [job["jobId"] for job in reply.json()["jobs"]] == [theirs]
    reply = await _post(gateway, other, "/v1/claims/ListImportJobs",
                        json.dumps({"state": "IMPORT_JOB_STATE_SUCCEEDED"}).encode())
    assert reply.status == 200 and reply.json().get("jobs", []) == []
    reply = await _post(gateway, reader, "/v1/claims/ListImportJobs", b"{}")  # a read: any role
    assert reply.status == 200 and [job["jobId"] for job in reply.json()["jobs"]] == mine[::-1]

    reply = await _post(gateway, writer, "/v1/claims/ListImportJobs",
                        json.dumps({"pageToken": "no-such-token"}).encode())
    assert reply.status == 400 and set(_violations(reply)) == {"page_token"}
    reply = await _post(gateway, writer, "/v1/claims/ListImportJobs",
                        json.dumps({"pageSize": 501}).encode())
    assert reply.status == 400 and set(_violations(reply)) == {"page_size"}
