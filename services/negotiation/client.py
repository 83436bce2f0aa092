"""A small client over the NegotiationService stub. It writes the caller's identity as plain
metadata: the gateway ignores it (the key decides), and a signing channel (`channel_to`) turns it
into the internal token a service requires."""

from __future__ import annotations

import uuid
from typing import Any

import grpc

from oonledger.negotiation.v1 import negotiation_pb2_grpc

ALL_ROLES = ("negotiator", "provider_approver", "supervisor", "manager", "admin")


def metadata(tenant: str, roles: tuple[str, ...], actor: str = "") -> tuple[tuple[str, str], ...]:
    return (
        ("x-tenant-id", tenant),
        ("x-actor", actor or f"{roles[0] if roles else 'nobody'}@{tenant}"),
        ("x-roles", ",".join(roles)),
        ("x-request-id", uuid.uuid4().hex),
    )


class Client:
    """Calls NegotiationService as one tenant with a given set of roles."""

    def __init__(
        self, channel: grpc.aio.Channel, tenant: str, roles: tuple[str, ...] = ("negotiator",)
    ) -> None:
        self.stub = negotiation_pb2_grpc.NegotiationServiceStub(channel)
        self.tenant = tenant
        self.roles = roles

    def as_roles(self, *roles: str) -> Client:
        other = Client.__new__(Client)
        other.stub, other.tenant, other.roles = self.stub, self.tenant, roles
        return other

    async def call(self, method: str, request: Any) -> Any:
        return await getattr(self.stub, method)(request, metadata=metadata(self.tenant, self.roles))
