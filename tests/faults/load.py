"""A steady, bounded load through the gateway, as a careful partner sends it: each request has
its own request id and is retried with that same id until it is acknowledged (answered OK).

One journey per claim: register, adjudicate, triage; the negotiation the triage opened is
worked to an agreement (notice, our offer, the payer's counter, decision, approval); the payer's
835 pays the settlement. What was acknowledged is recorded, step by step, for the assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import grpc

from gateway.tests.samples import emergency_claim
from oonledger.claims.v1 import claims_pb2, claims_pb2_grpc
from oonledger.fees.v1 import fees_pb2, fees_pb2_grpc
from oonledger.negotiation.v1 import negotiation_pb2 as npb
from oonledger.negotiation.v1 import negotiation_pb2_grpc
from oonledger.operations.v1 import operations_pb2_grpc
from oonledger.settlement.v1 import settlement_pb2, settlement_pb2_grpc
from services.x12.writer_835 import ClaimSpec, RemittanceSpec, build_835
from tests.faults.system import System

CLIENT = "client-ed-group"
PAYER_OFFER = 120_000  # the agreement: $1,200 - $150 cost sharing - $450 paid = $600 owed
OWED = 60_000
FEE = 15_000  # 25 % of the $600 recovered above the initial payment
# Answers a partner retries with the same request id (the API's documented transient codes).
TRANSIENT = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                       grpc.StatusCode.ABORTED, grpc.StatusCode.RESOURCE_EXHAUSTED})
CALL_TIMEOUT = 10.0
RETRY_PAUSE = 0.5
# A step not acknowledged within this long fails the run (the longest outage is 60 s).
ACK_DEADLINE = 240.0


@dataclass
class Acknowledged:
    """Which steps the system acknowledged, per claim id."""

    registered: dict[str, str] = field(default_factory=dict)  # claim id -> PCN
    triaged: set[str] = field(default_factory=set)
    negotiations: dict[str, str] = field(default_factory=dict)  # claim id -> negotiation id
    agreed: set[str] = field(default_factory=set)
    paid: set[str] = field(default_factory=set)


class JourneyFailed(AssertionError):
    """A step was not acknowledged before its deadline (or answered a permanent error)."""


class Load:
    def __init__(self, system: System, rate: float, concurrency: int) -> None:
        self.system = system
        self.rate = rate
        self.concurrency = concurrency
        self.acknowledged = Acknowledged()
        self.retried: Counter[str] = Counter()  # "Method CODE" -> answers retried
        # Non-transient answers to a request that later succeeded with the same id: an
        # infrastructure fault surfacing as a code clients do not retry (issue 21, item 4).
        self.misreported: Counter[str] = Counter()
        self.failures: list[str] = []
        self.started = 0  # journeys started (numbered from 1)
        self.paid_numbers: set[int] = set()  # the journeys that reached their payment
        self.reimported = 0  # 835 imports answered ALREADY_IMPORTED on a retry
        self._channel = grpc.aio.insecure_channel(system.gateway_address)
        self._stop = asyncio.Event()
        self._journeys: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._runner: asyncio.Task[None] | None = None

    # -- stubs -------------------------------------------------------------------------

    @property
    def claims(self) -> Any:
        return claims_pb2_grpc.ClaimsServiceStub(self._channel)

    @property
    def negotiation(self) -> Any:
        return negotiation_pb2_grpc.NegotiationServiceStub(self._channel)

    @property
    def settlement(self) -> Any:
        return settlement_pb2_grpc.SettlementServiceStub(self._channel)

    @property
    def fees(self) -> Any:
        return fees_pb2_grpc.FeesServiceStub(self._channel)

    @property
    def operator(self) -> Any:
        return operations_pb2_grpc.OperatorServiceStub(self._channel)

    def md(self, role: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.system.keys[role]}"),)

    # -- calls ---------------------------------------------------------------------------

    async def call(self, stub: Any, method: str, request: Any, role: str,
                   absent_is_none: bool = False) -> Any:
        """Call until answered OK (same request, same request id): the reply. With
        `absent_is_none`, NOT_FOUND answers None (a read of something not there yet)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ACK_DEADLINE
        permanent: list[str] = []
        while True:
            try:
                reply = await getattr(stub, method)(request, metadata=self.md(role),
                                                    timeout=CALL_TIMEOUT)
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                if absent_is_none and code == grpc.StatusCode.NOT_FOUND:
                    return None
                self.retried[f"{method} {code.name}"] += 1
                if code not in TRANSIENT:
                    permanent.append(f"{code.name}: {exc.details()}")
                    if len(permanent) >= 20:  # not a fault that passes: a real refusal
                        raise JourneyFailed(f"{method} refused: {permanent[-3:]}") from exc
                if loop.time() > deadline:
                    raise JourneyFailed(
                        f"{method} not acknowledged in {ACK_DEADLINE:.0f} s: {code.name} "
                        f"{exc.details()}") from exc
            else:
                for answer in permanent:  # refused, then accepted: it was a passing fault
                    self.misreported[f"{method} {answer[:160]}"] += 1
                return reply
            await asyncio.sleep(RETRY_PAUSE)  # retry pacing, bounded by the deadline

    async def poll(self, probe: Any, what: str) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ACK_DEADLINE
        while (found := await probe()) is None:
            if loop.time() > deadline:
                raise JourneyFailed(f"{what}: not there within {ACK_DEADLINE:.0f} s")
            await asyncio.sleep(RETRY_PAUSE)  # polling interval, bounded by the deadline
        return found

    # -- the load ------------------------------------------------------------------------

    async def publish_fee_schedule(self) -> None:
        await self.call(self.fees, "PublishFeeSchedule", fees_pb2.PublishFeeScheduleRequest(
            request_id=f"{self.system.tenant}-fees", client_id=CLIENT,
            effective_from="2026-01-01", terms=fees_pb2.FeeTerms(
                default_tiers=[fees_pb2.Tier(floor_cents=0, rate_bps=2500)])), "finance")

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="fault-load")

    async def _run(self) -> None:
        number = 0
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            await self._slots.acquire()  # at most `concurrency` journeys in flight
            if self._stop.is_set():
                self._slots.release()
                break
            number += 1
            task = asyncio.create_task(self._journey(number), name=f"journey-{number}")
            self._journeys.add(task)
            task.add_done_callback(self._journeys.discard)
            self.started = number
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < 0:
                next_at = time.monotonic()  # behind (an outage): do not burst to catch up
            else:
                # asyncio.timeout, not wait_for (docs/decisions.md §10); the pace, not a test wait.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._stop.wait()

    async def stop_and_finish(self, timeout: float) -> None:
        """No new journeys; every journey in flight is finished (acknowledged) or failed."""
        self._stop.set()
        if self._runner is not None:
            await self._runner
        pending = set(self._journeys)
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                task.cancel()
                self.failures.append(f"{task.get_name()}: still running after {timeout} s")

    async def close(self) -> None:
        await self._channel.close()

    def completed(self, started_after: int = 0) -> int:
        """Journeys paid (of those started after journey number `started_after`)."""
        return sum(1 for number in self.paid_numbers if number > started_after)

    async def _journey(self, number: int) -> None:
        try:
            await self._claim_to_payment(number)
        except JourneyFailed as failure:
            self.failures.append(f"journey {number}: {failure}")
        except Exception as error:
            self.failures.append(f"journey {number}: {error!r}")
        finally:
            self._slots.release()

    async def _claim_to_payment(self, number: int) -> None:
        key = f"{self.system.tenant}-{number}"
        pcn = f"PCN{self.system.tenant[-8:].upper()}{number:05d}"
        ack = self.acknowledged
        registered = await self.call(self.claims, "RegisterClaim", claims_pb2.RegisterClaimRequest(
            request_id=f"{key}-register", claim=emergency_claim(CLIENT, pcn, "2026-10-03")),
            "negotiator")
        claim_id = registered.claim.claim_id
        ack.registered[claim_id] = pcn
        await self.call(self.claims, "RecordAdjudication", claims_pb2.RecordAdjudicationRequest(
            request_id=f"{key}-adjudicate", claim_id=claim_id, adjudication=claims_pb2.Adjudication(
                received_date="2026-10-30", billed_cents=249_000, allowed_cents=60_000,
                paid_cents=45_000, patient_responsibility_cents=15_000, qpa_cents=52_000,
                qpa_disclosed=True, carc_codes=["45"],
                payer_claim_control_number=f"ICN{number:07d}")), "negotiator")
        await self.call(self.claims, "TriageClaim", claims_pb2.TriageClaimRequest(
            request_id=f"{key}-triage", claim_id=claim_id), "negotiator")
        ack.triaged.add(claim_id)

        nid = await self.poll(lambda: self._negotiation_of(claim_id), f"{claim_id} negotiation")
        ack.negotiations[claim_id] = nid
        steps: list[tuple[str, Any, str]] = [
            ("SendOpenNegotiationNotice", npb.SendOpenNegotiationNoticeRequest(
                negotiation_id=nid, sent_on="2026-11-02", channel=npb.CHANNEL_PORTAL,
                portal_reference="ON-1"), "negotiator"),
            ("MakeOffer", npb.MakeOfferRequest(
                negotiation_id=nid, offer_id="ours-1", party=npb.PARTY_PROVIDER,
                amount_cents=180_000, basis=npb.OfferBasis(qpa_cents=52_000),
                channel=npb.CHANNEL_PORTAL, made_on="2026-11-03"), "negotiator"),
            ("MakeOffer", npb.MakeOfferRequest(
                negotiation_id=nid, offer_id="theirs-1", party=npb.PARTY_PAYER,
                amount_cents=PAYER_OFFER, basis=npb.OfferBasis(qpa_cents=52_000),
                channel=npb.CHANNEL_PORTAL, made_on="2026-11-06"), "negotiator"),
            ("ProposeDecision", npb.ProposeDecisionRequest(
                negotiation_id=nid, decision_id="accept-1", action=npb.DECISION_ACTION_ACCEPT,
                offer_id="theirs-1", rationale="within the client's range",
                decided_on="2026-11-10"), "negotiator"),
            ("ApproveDecision", npb.ApproveDecisionRequest(
                negotiation_id=nid, decision_id="accept-1", decided_on="2026-11-10"),
                "provider_approver"),
        ]
        for index, (method, request, role) in enumerate(steps):
            request.request_id = f"{key}-negotiate-{index}"
            await self.call(self.negotiation, method, request, role)
        ack.agreed.add(claim_id)

        await self.poll(lambda: self._settlement(claim_id), f"{claim_id} settlement")
        x12 = build_835(RemittanceSpec(trace_number=f"TRN{number:09d}",
                                       payment_date=date(2026, 11, 20), claims=(ClaimSpec(
            patient_control_number=pcn, charge_cents=249_000, paid_cents=OWED,
            service_date=date(2026, 10, 3), payer_claim_control_number=f"ICN{number:07d}"),)))
        imported = await self.call(self.settlement, "ImportRemittance",
                                   settlement_pb2.ImportRemittanceRequest(
                                       request_id=f"{key}-835", content=x12.encode(),
                                       file_name=f"{pcn}.835"), "finance")
        if imported.status == settlement_pb2.IMPORT_STATUS_ALREADY_IMPORTED:
            # Imports are idempotent by content: an attempt whose answer was lost (UNAVAILABLE,
            # a deadline) had posted this file (this journey's own trace number), and the retry
            # is told so, with the same remittance. The settlement check counts its payments.
            self.reimported += 1
        elif imported.status != settlement_pb2.IMPORT_STATUS_POSTED:
            raise JourneyFailed(f"{claim_id}: the 835 was not posted: {imported}")
        if [r.matched_count for r in imported.remittances] != [1]:
            raise JourneyFailed(f"{claim_id}: the 835 did not match the claim: {imported}")
        ack.paid.add(claim_id)
        self.paid_numbers.add(number)

    async def _negotiation_of(self, claim_id: str) -> str | None:
        reply = await self.call(self.negotiation, "ListWorkQueue",
                                npb.ListWorkQueueRequest(page_size=1000), "negotiator")
        return next((i.negotiation_id for i in reply.items if i.claim_id == claim_id), None)

    async def _settlement(self, claim_id: str) -> settlement_pb2.Settlement | None:
        reply = await self.call(self.settlement, "GetSettlement",
                                settlement_pb2.GetSettlementRequest(claim_id=claim_id), "finance",
                                absent_is_none=True)
        return None if reply is None else reply.settlement
