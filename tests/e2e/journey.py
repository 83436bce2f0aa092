"""Steps of a vendor's journey, each a call through the gateway with the role that does it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import grpc

from gateway.tests.conftest import HttpReply, http_request
from gateway.tests.samples import emergency_claim
from oonledger.claims.v1 import claims_pb2, claims_pb2_grpc
from oonledger.fees.v1 import fees_pb2, fees_pb2_grpc
from oonledger.ledger.v1 import ledger_pb2_grpc
from oonledger.negotiation.v1 import negotiation_pb2 as npb
from oonledger.negotiation.v1 import negotiation_pb2_grpc
from oonledger.settlement.v1 import settlement_pb2, settlement_pb2_grpc
from services.x12.writer_835 import ClaimSpec, RemittanceSpec, build_835
from tests.e2e.conftest import Stack
from tests.support.plugin import eventually

CLIENT = "client-ed-group"


def rid() -> str:
    return uuid.uuid4().hex


@dataclass
class Vendor:
    """One tenant's partner keys: a negotiator, the provider's approver, finance, an auditor."""

    stack: Stack
    channel: grpc.aio.Channel
    tenant: str
    keys: dict[str, str]

    @classmethod
    async def enrol(cls, stack: Stack, channel: grpc.aio.Channel) -> Vendor:
        tenant = f"vendor-{uuid.uuid4().hex[:8]}"
        keys = {role: await stack.partner(tenant, role)
                for role in ("negotiator", "provider_approver", "finance", "auditor")}
        return cls(stack, channel, tenant, keys)

    def md(self, role: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.keys[role]}"),)

    @property
    def claims(self) -> Any:
        return claims_pb2_grpc.ClaimsServiceStub(self.channel)

    @property
    def negotiation(self) -> Any:
        return negotiation_pb2_grpc.NegotiationServiceStub(self.channel)

    @property
    def settlement(self) -> Any:
        return settlement_pb2_grpc.SettlementServiceStub(self.channel)

    @property
    def fees(self) -> Any:
        return fees_pb2_grpc.FeesServiceStub(self.channel)

    @property
    def audit(self) -> Any:
        return ledger_pb2_grpc.AuditServiceStub(self.channel)

    async def json(self, role: str, route: str, body: dict[str, Any],
                   timeout_ms: int = 0) -> HttpReply:
        headers = {"Authorization": f"Bearer {self.keys[role]}",
                   "Content-Type": "application/json"}
        if timeout_ms:
            headers["X-Timeout-Ms"] = str(timeout_ms)
        return await http_request(
            self.stack.http_port, "POST", route, json.dumps(body).encode(), headers)

    # -- steps ---------------------------------------------------------------------------

    async def publish_fee_schedule(self, rate_bps: int = 2500) -> None:
        await self.fees.PublishFeeSchedule(fees_pb2.PublishFeeScheduleRequest(
            request_id=rid(), client_id=CLIENT, effective_from="2026-01-01",
            terms=fees_pb2.FeeTerms(default_tiers=[fees_pb2.Tier(floor_cents=0,
                                                                 rate_bps=rate_bps)])),
            metadata=self.md("finance"), timeout=15)

    async def import_claims(self, count: int, service_date: str = "2026-10-03"
                            ) -> list[tuple[str, str]]:
        """Bulk intake as JSON (a practice-management system's nightly batch): (id, PCN)."""
        pcns = [f"PCN{uuid.uuid4().hex[:12].upper()}" for _ in range(count)]
        items = [{"claim": _json(emergency_claim(CLIENT, pcn, service_date))} for pcn in pcns]
        # A batch of thousands takes longer than the default deadline on a loaded machine.
        reply = await self.json("negotiator", "/v1/claims/ImportClaims",
                                {"requestId": rid(), "items": items}, timeout_ms=300_000)
        assert reply.status == 200, reply.body[:500]
        results = reply.json()["results"]
        assert [r.get("errors", []) for r in results] == [[]] * count, results[:3]
        return [(r["claimId"], pcn) for r, pcn in zip(results, pcns, strict=True)]

    async def adjudicate_and_triage(self, claim_id: str, received: str = "2026-10-30"
                                    ) -> claims_pb2.Triage:
        await self.claims.RecordAdjudication(claims_pb2.RecordAdjudicationRequest(
            request_id=rid(), claim_id=claim_id, adjudication=claims_pb2.Adjudication(
                received_date=received, billed_cents=249_000, allowed_cents=60_000,
                paid_cents=45_000, patient_responsibility_cents=15_000, qpa_cents=52_000,
                qpa_disclosed=True, carc_codes=["45"], payer_claim_control_number=rid()[:12])),
            metadata=self.md("negotiator"), timeout=15)
        reply = await self.claims.TriageClaim(
            claims_pb2.TriageClaimRequest(request_id=rid(), claim_id=claim_id),
            metadata=self.md("negotiator"), timeout=15)
        return reply.triage

    async def negotiation_of(self, claim_id: str) -> str:
        """The negotiation the triage opened (found on the work queue, eventually)."""
        async def opened() -> str | None:
            reply = await self.negotiation.ListWorkQueue(
                npb.ListWorkQueueRequest(page_size=500), metadata=self.md("negotiator"),
                timeout=15)
            return next((i.negotiation_id for i in reply.items if i.claim_id == claim_id), None)

        return await eventually(opened, timeout=90)  # type: ignore[arg-type]

    async def offer(self, nid: str, party: int, cents: int, offer_id: str, on: str,
                    role: str = "negotiator") -> npb.MakeOfferResponse:
        return await self.negotiation.MakeOffer(npb.MakeOfferRequest(
            request_id=rid(), negotiation_id=nid, offer_id=offer_id, party=party,
            amount_cents=cents, basis=npb.OfferBasis(qpa_cents=52_000),
            channel=npb.CHANNEL_PORTAL, made_on=on), metadata=self.md(role), timeout=15)

    async def negotiate_to_counter(self, nid: str) -> npb.MakeOfferResponse:
        """Open negotiation (notice sent 2026-11-02), our $1,800 offer ("ours-1"), then the
        payer's $1,200 ("theirs-1", what `agree` accepts): the payer's reply."""
        await self.negotiation.SendOpenNegotiationNotice(npb.SendOpenNegotiationNoticeRequest(
            request_id=rid(), negotiation_id=nid, sent_on="2026-11-02",
            channel=npb.CHANNEL_PORTAL, portal_reference="ON-1"),
            metadata=self.md("negotiator"), timeout=15)
        await self.offer(nid, npb.PARTY_PROVIDER, 180_000, "ours-1", "2026-11-03")
        return await self.offer(nid, npb.PARTY_PAYER, 120_000, "theirs-1", "2026-11-06")

    async def agree(self, nid: str, payer_offer_id: str) -> npb.Negotiation:
        await self.negotiation.ProposeDecision(npb.ProposeDecisionRequest(
            request_id=rid(), negotiation_id=nid, decision_id="accept-1",
            action=npb.DECISION_ACTION_ACCEPT, offer_id=payer_offer_id,
            rationale="within the client's range", decided_on="2026-11-10"),
            metadata=self.md("negotiator"), timeout=15)
        await self.negotiation.ApproveDecision(npb.ApproveDecisionRequest(
            request_id=rid(), negotiation_id=nid, decision_id="accept-1",
            decided_on="2026-11-10"), metadata=self.md("provider_approver"), timeout=15)
        reply = await self.negotiation.GetNegotiation(
            npb.GetNegotiationRequest(negotiation_id=nid), metadata=self.md("negotiator"),
            timeout=15)
        return reply.negotiation

    async def settlement_of(self, claim_id: str, timeout: float = 30) -> settlement_pb2.Settlement:
        async def opened() -> settlement_pb2.Settlement | None:
            try:
                reply = await self.settlement.GetSettlement(
                    settlement_pb2.GetSettlementRequest(claim_id=claim_id),
                    metadata=self.md("finance"), timeout=15)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return None
                raise
            return reply.settlement

        return await eventually(opened, timeout=timeout)  # type: ignore[arg-type]


    async def remit_835(self, pcn: str, paid_cents: int, on: date,
                        service_date: date = date(2026, 10, 3)) -> tuple[Any, ClaimSpec]:
        """The payer's 835 paying `paid_cents` on the claim, imported by finance."""
        claim = ClaimSpec(
            patient_control_number=pcn, charge_cents=249_000, paid_cents=paid_cents,
            service_date=service_date, payer_claim_control_number=rid()[:12])
        x12 = build_835(RemittanceSpec(trace_number=rid()[:15], payment_date=on,
                                       claims=(claim,)))
        reply = await self.settlement.ImportRemittance(settlement_pb2.ImportRemittanceRequest(
            request_id=rid(), content=x12.encode(), file_name=f"{pcn}.835"),
            metadata=self.md("finance"), timeout=30)
        return reply, claim

    async def idr_determined(self, claim_id: str, prevailing: int, provider_cents: int,
                             payer_cents: int, notice_on: str) -> npb.Negotiation:
        """Open negotiation fails; the provider approves going to IDR; initiation on the first
        day the NSA window allows (read from the case's own deadlines, as a partner would),
        then the IDRE, eligibility, both offers and the determination on that same day."""
        nid = await self.negotiation_of(claim_id)
        await self._negotiate("SendOpenNegotiationNotice", npb.SendOpenNegotiationNoticeRequest(
            negotiation_id=nid, sent_on=notice_on, channel=npb.CHANNEL_PORTAL))
        await self._negotiate("MakeOffer", npb.MakeOfferRequest(
            negotiation_id=nid, offer_id="ours-1", party=npb.PARTY_PROVIDER,
            amount_cents=provider_cents, channel=npb.CHANNEL_PORTAL, made_on=notice_on))
        case = (await self.negotiation.GetNegotiation(
            npb.GetNegotiationRequest(negotiation_id=nid), metadata=self.md("negotiator"),
            timeout=15)).negotiation
        day = next(d.opens_on for d in case.deadlines if d.code == "T3")
        steps: list[tuple[str, Any]] = [
            ("ProposeDecision", npb.ProposeDecisionRequest(
                negotiation_id=nid, decision_id="go-idr", action=npb.DECISION_ACTION_IDR,
                rationale="payer would not move", decided_on=day)),
            ("ApproveDecision", npb.ApproveDecisionRequest(
                negotiation_id=nid, decision_id="go-idr", decided_on=day)),
            ("InitiateIdr", npb.InitiateIdrRequest(
                negotiation_id=nid, dispute_number=f"DISP-{nid[:8]}", initiated_on=day,
                initiating_party=npb.PARTY_PROVIDER)),
            ("SelectIdre", npb.SelectIdreRequest(
                negotiation_id=nid, idre_id="idre-7", method=npb.SELECTION_METHOD_JOINT,
                selected_on=day, idre_fee_cents=50_000)),
            ("RecordIdrEligibility", npb.RecordIdrEligibilityRequest(
                negotiation_id=nid, eligible=True, decided_on=day)),
            ("SubmitIdrOffer", npb.SubmitIdrOfferRequest(
                negotiation_id=nid, party=npb.PARTY_PROVIDER, amount_cents=provider_cents,
                submitted_on=day)),
            ("SubmitIdrOffer", npb.SubmitIdrOfferRequest(
                negotiation_id=nid, party=npb.PARTY_PAYER, amount_cents=payer_cents,
                submitted_on=day)),
            ("RecordIdrDetermination", npb.RecordIdrDeterminationRequest(
                negotiation_id=nid, prevailing_party=prevailing, determined_on=day)),
        ]
        for method, request in steps:
            role = "provider_approver" if method == "ApproveDecision" else "negotiator"
            await self._negotiate(method, request, role)
        reply = await self.negotiation.GetNegotiation(
            npb.GetNegotiationRequest(negotiation_id=nid), metadata=self.md("negotiator"),
            timeout=15)
        return reply.negotiation

    async def _negotiate(self, method: str, request: Any, role: str = "negotiator") -> Any:
        request.request_id = rid()
        return await getattr(self.negotiation, method)(request, metadata=self.md(role),
                                                       timeout=15)

    async def fee_account(self, claim_id: str, billed_cents: int) -> fees_pb2.FeeAccount:
        async def assessed() -> fees_pb2.FeeAccount | None:
            try:
                reply = await self.fees.GetFeeAccount(
                    fees_pb2.GetFeeAccountRequest(claim_id=claim_id),
                    metadata=self.md("finance"), timeout=15)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return None
                raise
            account = reply.account
            return account if account.fee_billed_cents == billed_cents else None

        return await eventually(assessed, timeout=30)  # type: ignore[arg-type]

    async def fee_lines_listed(self, claim_id: str) -> list[fees_pb2.FeeLine]:
        """The claim's fee lines once the fees read model (what CloseInvoicePeriod invoices)
        holds them: it follows the fee account by a few milliseconds, more under load."""

        async def listed() -> list[fees_pb2.FeeLine]:
            reply = await self.fees.ListFeeLines(
                fees_pb2.ListFeeLinesRequest(client_id=CLIENT, claim_ids=[claim_id]),
                metadata=self.md("finance"), timeout=15)
            return list(reply.lines)

        return await eventually(listed, timeout=30)  # type: ignore[arg-type]

    async def post_payment(self, request: settlement_pb2.PostPaymentRequest) -> Any:
        """PostPayment as a partner calls it: ABORTED (the settlement moved under the command,
        e.g. a fee posting) is retried with the same request id, as the API documents."""
        for attempt in range(5):
            try:
                return await self.settlement.PostPayment(
                    request, metadata=self.md("finance"), timeout=15)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.ABORTED or attempt == 4:
                    raise
        raise AssertionError("unreachable")

    async def audit_replay_json(self, claim_id: str) -> list[dict[str, Any]]:
        """The auditor's replay over JSON: NDJSON chunks, flattened to entries."""
        reply = await self.json("auditor", "/v1/audit/ReplayClaim", {"claimId": claim_id})
        assert reply.status == 200, reply.body[:300]
        assert reply.headers["content-type"] == "application/x-ndjson"
        return [entry for line in reply.body.splitlines()
                for entry in json.loads(line).get("entries", [])]


def _json(message: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    return json_format.MessageToDict(message)
