"""One role table: the gateway refuses a call by the same table object, with the same verdict for
every method and role, as every service checks again (services/common/grpc_server.py)."""

from __future__ import annotations

import pytest

from services.common import auth, grpc_server
from services.common.auth import ROLES, SYSTEM, refusal

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_gateway_and_the_services_check_the_same_role_table(gateway) -> None:  # type: ignore[no-untyped-def]
    front = gateway.process.gateway
    assert front.role_table is auth.ROLE_TABLE
    assert grpc_server.ROLE_TABLE is auth.ROLE_TABLE
    checked = 0
    for method in front.catalog:
        for role in (*sorted(ROLES), SYSTEM):
            by_gateway = role in front._roles[method.full_name]
            by_service = refusal(method.path, {role}, grpc_server.ROLE_TABLE) is None
            assert by_gateway == by_service, (method.full_name, role)
            checked += 1
    assert checked > 400
