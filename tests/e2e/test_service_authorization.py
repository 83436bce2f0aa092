"""Every service checks the role table itself (services/common/auth.py, checked in
services/common/grpc_server.py): a direct call with a valid token signed by the gateway's key,
for this service and this method, but naming only roles the table does not allow that method
(and `system`, which no line grants), is PERMISSION_DENIED, for every method of every service
and of its OperationsService; the same call naming an allowed role passes the check."""

from __future__ import annotations

import uuid

import grpc
import pytest

from gateway.catalog import UPSTREAMS, Catalog
from oonledger.operations.v1 import operations_pb2
from services.common.auth import ROLES, SYSTEM, roles_for
from services.common.internal_auth import TOKEN_HEADER
from tests.support.plugin import TEST_SIGNER

pytestmark = pytest.mark.asyncio(loop_scope="session")

CATALOG = Catalog.discover()
OPERATIONS = operations_pb2.DESCRIPTOR.services_by_name["OperationsService"]


def methods_of(service: str) -> list[tuple[str, bool, bool]]:
    """(path, server streaming, is a read) of every method the service serves."""
    served = [(m.path, m.server_streaming, m.is_read) for m in CATALOG if m.upstream == service]
    served += [(f"/{OPERATIONS.full_name}/{m.name}", m.server_streaming,
                m.name.startswith(("Get", "List"))) for m in OPERATIONS.methods]
    return served


def signed(service: str, path: str, tenant: str, roles: list[str]) -> tuple[tuple[str, str], ...]:
    minted = TEST_SIGNER.token(audience=service, method=path, tenant=tenant, actor="e2e@authz",
                               roles=roles, request_id=uuid.uuid4().hex)
    return ((TOKEN_HEADER, minted),)


async def outcome(channel: grpc.aio.Channel, path: str, streaming: bool,
                  metadata: tuple[tuple[str, str], ...]) -> tuple[grpc.StatusCode, str]:
    try:
        if streaming:
            async for _ in channel.unary_stream(path)(b"", metadata=metadata, timeout=15):
                pass
        else:
            await channel.unary_unary(path)(b"", metadata=metadata, timeout=15)
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


@pytest.mark.parametrize("service", UPSTREAMS)
async def test_a_valid_token_with_a_role_the_table_denies_is_permission_denied(stack, service):
    stack.require(service)
    tenant = f"authz-{uuid.uuid4().hex[:8]}"
    runtime = stack.services[service]
    checked = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.port}") as direct:
        for path, streaming, is_read in methods_of(service):
            allowed = roles_for(path[1:])
            assert allowed, f"{path} has no line in the role table"
            denied = sorted((ROLES - allowed) | {SYSTEM})
            code, details = await outcome(direct, path, streaming,
                                          signed(service, path, tenant, denied))
            assert code == grpc.StatusCode.PERMISSION_DENIED, (path, denied, code, details)
            assert details.startswith(f"{path[1:]} needs one of the roles:"), details
            if is_read:  # the control (reads only: an empty write would still be refused)
                code, details = await outcome(direct, path, streaming,
                                              signed(service, path, tenant, sorted(allowed)))
                assert code != grpc.StatusCode.UNAUTHENTICATED, (path, details)
                assert not details.startswith(f"{path[1:]} needs"), (path, details)
            checked += 1
    assert checked >= 10
