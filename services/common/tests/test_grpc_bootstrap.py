"""gRPC bootstrap: health turns SERVING when ready, metadata → context, the error → status table."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from services.common import errors, grpc_server
from services.common.auth import ROLE_TABLE, ROLES, grant
from services.common.grpc_server import ServicerBinding, rpc
from services.common.runtime import ServiceParts
from tests.support.plugin import call_metadata, channel_to

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVICE = "oonledger.test.v1.EchoService"
Req = health_pb2.HealthCheckRequest
Resp = health_pb2.HealthCheckResponse


@pytest.fixture(autouse=True)
def echo_in_the_role_table(monkeypatch):  # type: ignore[no-untyped-def]
    """The role table names the real services only (deny by default): this test service is
    granted to every role for the length of a test."""
    monkeypatch.setattr(grpc_server, "ROLE_TABLE", (grant(f"{SERVICE}/*", *ROLES), *ROLE_TABLE))


class Echo:
    """Raises the error named in the request so every mapping can be observed."""

    @rpc
    async def Check(self, request, ctx, context):
        failures = {
            "invalid": errors.InvalidArgument(
                [errors.FieldViolation("amount_cents", "must be positive")]),
            "missing": errors.NotFound("claim x not found"),
            "exists": errors.AlreadyExists("already there"),
            "rule": errors.FailedPrecondition("IDR window closed (45 CFR 149.510(b)(1))"),
            "role": errors.PermissionDenied("provider_approver role required"),
            "race": errors.Conflict("concurrent modification"),
        }
        if request.service in failures:
            raise failures[request.service]
        assert ctx.tenant_id and ctx.roles
        return Resp(status=Resp.SERVING)


def add(servicer: Echo, server: grpc.aio.Server) -> None:
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {"Check": grpc.unary_unary_rpc_method_handler(
            servicer.Check, Req.FromString, Resp.SerializeToString)},
    )
    server.add_generic_rpc_handlers((handler,))


async def test_statuses_and_health(service_runner):
    runtime = await service_runner.start(
        "echo", lambda infra: ServiceParts(bindings=[ServicerBinding(add, Echo(), SERVICE)])
    )
    channel = channel_to(runtime)
    health = health_pb2_grpc.HealthStub(channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING

    call = channel.unary_unary(f"/{SERVICE}/Check", Req.SerializeToString, Resp.FromString)
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    assert (await call(Req(service="ok"), metadata=call_metadata(tenant))).status == Resp.SERVING

    expected = {
        "invalid": grpc.StatusCode.INVALID_ARGUMENT,
        "missing": grpc.StatusCode.NOT_FOUND,
        "exists": grpc.StatusCode.ALREADY_EXISTS,
        "rule": grpc.StatusCode.FAILED_PRECONDITION,
        "role": grpc.StatusCode.PERMISSION_DENIED,
        "race": grpc.StatusCode.ABORTED,
    }
    for name, code in expected.items():
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(Req(service=name), metadata=call_metadata(tenant))
        assert caught.value.code() == code, name

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(Req(service="invalid"), metadata=call_metadata(tenant))
    status = rpc_status.from_call(caught.value)
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert bad_request.field_violations[0].field == "amount_cents"

    # No identity at all: nothing to sign, so the service cannot tell who calls.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(Req(service="ok"), metadata=(("x-actor", "nobody"),))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    await channel.close()
    await service_runner.stop(runtime)
