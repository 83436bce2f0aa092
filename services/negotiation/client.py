"""A small typed client over the negotiation stub for service tests and the demo."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
from oonledger.negotiation.v1 import negotiation_pb2 as pb
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


def open_request(claim_id: str, **overrides: Any) -> pb.OpenNegotiationRequest:
    fields: dict[str, Any] = dict(
        request_id=uuid.uuid4().hex,
        claim_id=claim_id,
        provider_npi="1234567893",
        provider_tin="12-3456789",
        payer_id="payer-acme",
        plan_id="plan-acme-ppo",
        plan_funding="fully_insured",
        service_code="70450",
        service_on="2026-04-20",
        billed_cents=250_000,
        qpa_cents=40_000,
        patient_cost_sharing_cents=5_000,
        already_paid_cents=35_000,
        bill_received_on="2026-05-01",
        initial_payment_received_on="2026-06-01",
        route="federal_idr",
        assignee="neg@example.test",
    )
    fields.update(overrides)
    return pb.OpenNegotiationRequest(**fields)
