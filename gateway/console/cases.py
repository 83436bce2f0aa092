"""What the negotiator's pages read: the work queue with each case's claim facts, and the risk
of a deadline. Every read is a call through `ServiceClient` (the services' own answers)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.console.client import ServiceClient
from gateway.statuses import CallFailure
from oonledger.claims.v1 import claims_pb2
from oonledger.negotiation.v1 import negotiation_pb2 as npb

NEGOTIATION = "oonledger.negotiation.v1.NegotiationService"
CLAIMS = "oonledger.claims.v1.ClaimsService"
EASTERN = ZoneInfo("America/New_York")  # NSA deadlines are counted in US Eastern days
OPEN_STAGES = ("open", "in_idr")
QUEUE_LIMIT = 500
_PARALLEL_READS = 8


def eastern_today(now: datetime) -> date:
    return now.astimezone(EASTERN).date()


def risk(due_on: str, today: date) -> str:
    """overdue / today / week / later / none: the colour of a row."""
    if not due_on:
        return "none"
    due = date.fromisoformat(due_on)
    if due < today:
        return "overdue"
    if due == today:
        return "today"
    if due <= today + timedelta(days=7):
        return "week"
    return "later"


RISK_LABELS = {"overdue": "Overdue", "today": "Due today", "week": "Due this week",
               "later": "Later", "none": "No deadline"}


@dataclass(frozen=True)
class QueueRow:
    item: npb.WorkItem
    client_id: str
    payer: str
    patient_control_number: str
    billed_cents: int
    risk: str


@dataclass(frozen=True)
class QueueFilter:
    client: str = ""
    payer: str = ""
    stage: str = ""
    assignee: str = ""

    def keeps(self, row: QueueRow) -> bool:
        stages = (self.stage,) if self.stage else OPEN_STAGES
        return (row.item.status in stages
                and (not self.client or row.client_id == self.client)
                and (not self.payer or row.payer == self.payer)
                and (not self.assignee or row.item.assignee == self.assignee))


async def claim_of(client: ServiceClient, claim_id: str) -> claims_pb2.Claim | None:
    try:
        reply = await client.call(f"{CLAIMS}/GetClaim",
                                  claims_pb2.GetClaimRequest(claim_id=claim_id),
                                  claims_pb2.GetClaimResponse)
    except CallFailure:
        return None  # shown as unknown facts; the case itself still lists
    return reply.claim


async def queue(client: ServiceClient, wanted: QueueFilter, today: date
                ) -> tuple[list[QueueRow], list[QueueRow]]:
    """(rows kept by the filter sorted by next deadline, every open row for the filter menus)."""
    reply = await client.call(
        f"{NEGOTIATION}/ListWorkQueue",
        npb.ListWorkQueueRequest(page_size=QUEUE_LIMIT, status=wanted.stage),
        npb.ListWorkQueueResponse)
    gate = asyncio.Semaphore(_PARALLEL_READS)

    async def row(item: npb.WorkItem) -> QueueRow:
        async with gate:
            claim = await claim_of(client, item.claim_id)
        facts = claim.input if claim is not None else claims_pb2.ClaimInput()
        return QueueRow(item, facts.client_id, facts.payer.name or facts.payer.payer_id,
                        facts.patient_control_number,
                        claim.total_billed_cents if claim is not None else 0,
                        risk(item.next_deadline_on, today))

    rows = await asyncio.gather(*(row(item) for item in reply.items))
    everything = [r for r in rows if QueueFilter(stage=wanted.stage).keeps(r)]
    kept = [r for r in everything if wanted.keeps(r)]
    kept.sort(key=lambda r: (r.item.next_deadline_on or "9999-12-31", r.item.negotiation_id))
    return kept, everything
