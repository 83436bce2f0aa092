"""One claim's life through every service, driven over gRPC as the gateway would call them:
register → adjudicate → triage (claims) → negotiation opens by itself → notice, payer offer,
accept, provider approval (negotiation) → settlement opens by itself → payment posted
(settlement) → fee assessed by itself (fees) → every event on the claim's audit chain (ledger).

Calls go round-robin over a service's replicas. A call that fails because its replica died
(UNAVAILABLE, DEADLINE_EXCEEDED) or lost a race (ABORTED) is retried with the SAME request id
on the next replica — what a partner's client does — so a retry can never do the work twice.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

import grpc

from oonledger.claims.v1 import claims_pb2 as claims
from oonledger.claims.v1.claims_pb2_grpc import ClaimsServiceStub
from oonledger.fees.v1 import fees_pb2 as fees
from oonledger.fees.v1.fees_pb2_grpc import FeesServiceStub
from oonledger.ledger.v1 import ledger_pb2 as ledger
from oonledger.ledger.v1.ledger_pb2_grpc import AuditServiceStub
from oonledger.negotiation.v1 import negotiation_pb2 as negotiation
from oonledger.negotiation.v1.negotiation_pb2_grpc import NegotiationServiceStub
from oonledger.settlement.v1 import settlement_pb2 as settlement
from oonledger.settlement.v1.settlement_pb2_grpc import SettlementServiceStub
from services.negotiation.application import negotiation_id_for
from tests.support.plugin import signed_channel

T = TypeVar("T")
RETRY_WITH_SAME_ID = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
}
ROLES = ("negotiator", "provider_approver", "auditor", "finance", "admin", "supervisor")
CLIENT_ID = "metro-ed-group"
PAYER_OFFER_CENTS = 90_000
PAID_CENTS = 48_800
PATIENT_SHARE_CENTS = 12_200


class Replicas:
    """Channels to every replica of one service; each call starts at the next one."""

    def __init__(self, service: str, addresses: Sequence[str],
                 stub: Callable[[grpc.aio.Channel], Any]) -> None:
        # Signed as the gateway signs: the services refuse an unsigned call.
        self.channels = [signed_channel(address, service) for address in addresses]
        self.stubs = [stub(channel) for channel in self.channels]
        self._next = itertools.cycle(range(len(self.stubs)))

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()

    async def call(
        self,
        method: str,
        request: Any,
        metadata: Sequence[tuple[str, str]],
        within: float = 60.0,
        also_retry: frozenset[grpc.StatusCode] = frozenset(),
    ) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            stub = self.stubs[next(self._next)]
            try:
                return await getattr(stub, method)(request, metadata=metadata, timeout=5)
            except grpc.aio.AioRpcError as error:
                retry = error.code() in RETRY_WITH_SAME_ID or error.code() in also_retry
                if not retry or loop.time() > deadline:
                    raise
            await asyncio.sleep(0.1)  # back off before the next replica; bounded by deadline


@dataclass
class Cluster:
    claims: Replicas
    negotiation: Replicas
    settlement: Replicas
    fees: Replicas
    ledger: Replicas

    @classmethod
    def connect(cls, addresses: dict[str, Sequence[str]]) -> Cluster:
        return cls(
            claims=Replicas("claims", addresses["claims"], ClaimsServiceStub),
            negotiation=Replicas("negotiation", addresses["negotiation"], NegotiationServiceStub),
            settlement=Replicas("settlement", addresses["settlement"], SettlementServiceStub),
            fees=Replicas("fees", addresses["fees"], FeesServiceStub),
            ledger=Replicas("ledger", addresses["ledger"], AuditServiceStub),
        )

    async def close(self) -> None:
        for replicas in (self.claims, self.negotiation, self.settlement, self.fees, self.ledger):
            await replicas.close()


def metadata(
    tenant: str, request_id: str, actor: str = "negotiator@vendor"
) -> list[tuple[str, str]]:
    return [
        ("x-tenant-id", tenant),
        ("x-actor", actor),
        ("x-roles", ",".join(ROLES)),
        ("x-request-id", request_id),
    ]


def claim_input(patient_control_number: str, today: date) -> claims.ClaimInput:
    service_date = (today - timedelta(days=40)).isoformat()
    return claims.ClaimInput(
        client_id=CLIENT_ID,
        claim_type=claims.CLAIM_TYPE_PROFESSIONAL,
        patient_control_number=patient_control_number,
        provider=claims.Provider(
            name="Metro Emergency Physicians",
            npi="1234567893",
            tin="12-3456789",
            address=claims.Address(
                line1="1200 Market St", city="Philadelphia", state="PA", postal_code="19107"
            ),
        ),
        patient=claims.Patient(
            first_name="Jane", last_name="Roe", birth_date="1980-04-02", member_id="W123456789"
        ),
        payer=claims.Payer(payer_id="87726", name="Example Health Plan"),
        plan=claims.Plan(
            name="Acme Corp Employee Plan",
            funding=claims.PLAN_FUNDING_SELF_FUNDED_ERISA,
            situs_state="PA",
        ),
        facility=claims.Facility(
            name="Mercy General",
            npi="1245319599",
            network_status=claims.NETWORK_STATUS_IN_NETWORK,
            state="PA",
        ),
        emergency=True,
        diagnosis_codes=["S0990XA", "R519"],
        lines=[
            claims.ServiceLine(
                procedure_code="99285",
                modifiers=["25"],
                units=1,
                billed_cents=185_000,
                place_of_service="23",
                diagnosis_pointers=[1, 2],
                service_date=service_date,
            ),
            claims.ServiceLine(
                procedure_code="12002",
                units=1,
                billed_cents=64_000,
                place_of_service="23",
                diagnosis_pointers=[1],
                service_date=service_date,
            ),
        ],
    )


async def until_found(fetch: Callable[[], Awaitable[T]], within: float = 90.0) -> T:
    """A read that another service's reaction makes possible: NOT_FOUND until it happened."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            return await fetch()
        except grpc.aio.AioRpcError as error:
            if error.code() is not grpc.StatusCode.NOT_FOUND or loop.time() > deadline:
                raise
        await asyncio.sleep(0.2)  # the reaction has not happened yet; bounded by deadline


async def publish_fee_schedule(cluster: Cluster, tenant: str) -> None:
    request = fees.PublishFeeScheduleRequest(
        request_id=f"{tenant}-schedule",
        client_id=CLIENT_ID,
        effective_from="2026-01-01",
        terms=fees.FeeTerms(default_tiers=[fees.Tier(floor_cents=0, rate_bps=2500)]),
    )
    await cluster.fees.call("PublishFeeSchedule", request, metadata(tenant, request.request_id))


async def run_claim(cluster: Cluster, tenant: str, key: str, today: date) -> str:
    """Take one claim from registration to an assessed fee; returns the claim id."""

    def md(step: str, actor: str = "negotiator@vendor") -> list[tuple[str, str]]:
        return metadata(tenant, f"{key}-{step}", actor)

    registered = await cluster.claims.call(
        "RegisterClaim",
        claims.RegisterClaimRequest(request_id=f"{key}-register", claim=claim_input(key, today)),
        md("register"),
    )
    claim_id = registered.claim.claim_id
    await cluster.claims.call(
        "RecordAdjudication",
        claims.RecordAdjudicationRequest(
            request_id=f"{key}-adjudicate",
            claim_id=claim_id,
            adjudication=claims.Adjudication(
                received_date=(today - timedelta(days=12)).isoformat(),
                billed_cents=249_000,
                allowed_cents=61_000,
                paid_cents=PAID_CENTS,
                patient_responsibility_cents=PATIENT_SHARE_CENTS,
                qpa_cents=61_000,
                qpa_disclosed=True,
                carc_codes=["45", "2"],
                rarc_codes=["N830"],
                payer_claim_control_number=f"EHP-{key}",
            ),
        ),
        md("adjudicate"),
    )
    await cluster.claims.call(
        "TriageClaim",
        claims.TriageClaimRequest(request_id=f"{key}-triage", claim_id=claim_id),
        md("triage"),
    )

    negotiation_id = str(negotiation_id_for(tenant, claim_id))
    await until_found(
        lambda: cluster.negotiation.call(
            "GetNegotiation",
            negotiation.GetNegotiationRequest(negotiation_id=negotiation_id),
            md("get-negotiation"),
        )
    )
    steps: list[tuple[str, Any, str]] = [
        (
            "SendOpenNegotiationNotice",
            negotiation.SendOpenNegotiationNoticeRequest(
                request_id=f"{key}-notice",
                negotiation_id=negotiation_id,
                sent_on=(today - timedelta(days=10)).isoformat(),
                channel=negotiation.CHANNEL_PORTAL,
                portal_reference=f"ON-{key}",
            ),
            "negotiator@vendor",
        ),
        (
            "MakeOffer",
            negotiation.MakeOfferRequest(
                request_id=f"{key}-payer-offer",
                negotiation_id=negotiation_id,
                offer_id="payer-1",
                party=negotiation.PARTY_PAYER,
                amount_cents=PAYER_OFFER_CENTS,
                basis=negotiation.OfferBasis(qpa_cents=61_000, plan_language="plan pays QPA+"),
                channel=negotiation.CHANNEL_EMAIL,
                made_on=(today - timedelta(days=5)).isoformat(),
            ),
            "negotiator@vendor",
        ),
        (
            "ProposeDecision",
            negotiation.ProposeDecisionRequest(
                request_id=f"{key}-propose",
                negotiation_id=negotiation_id,
                decision_id="accept-1",
                action=negotiation.DECISION_ACTION_ACCEPT,
                offer_id="payer-1",
                rationale="above 145 % of QPA",
            ),
            "negotiator@vendor",
        ),
        (
            "ApproveDecision",
            negotiation.ApproveDecisionRequest(
                request_id=f"{key}-approve",
                negotiation_id=negotiation_id,
                decision_id="accept-1",
                decided_on=(today - timedelta(days=3)).isoformat(),
            ),
            "approver@provider",
        ),
    ]
    for method, request, actor in steps:
        await cluster.negotiation.call(method, request, metadata(tenant, request.request_id, actor))

    opened = await until_found(
        lambda: cluster.settlement.call(
            "GetSettlement", settlement.GetSettlementRequest(claim_id=claim_id), md("settlement")
        )
    )
    await cluster.settlement.call(
        "PostPayment",
        settlement.PostPaymentRequest(
            request_id=f"{key}-pay",
            claim_id=claim_id,
            amount_cents=opened.settlement.amount_owed_cents,
            method=settlement.PAYMENT_METHOD_EFT,
            reference=f"EFT-{key}",
            paid_on=today.isoformat(),
        ),
        md("pay"),
    )
    return str(claim_id)


async def verify_claim(cluster: Cluster, tenant: str, claim_id: str) -> ledger.VerifyClaimResponse:
    reply: ledger.VerifyClaimResponse = await cluster.ledger.call(
        "VerifyClaim",
        ledger.VerifyClaimRequest(claim_id=claim_id),
        metadata(tenant, f"verify-{claim_id}", "auditor@vendor"),
    )
    return reply
