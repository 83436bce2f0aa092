"""The provider approver's page: decisions waiting for the provider's yes or no, with the
numbers that matter; approve, or reject with a reason.

No service lists pending decisions, so the page reads the tenant's work queue and each open
case (GetNegotiation), at most `QUEUE_LIMIT` cases (docs/console.md, known limits).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.console import web
from gateway.console.app import Page
from gateway.console.cases import NEGOTIATION, OPEN_STAGES, QUEUE_LIMIT, claim_of, eastern_today
from gateway.console.client import ServiceClient, new_request_id
from gateway.console.views.case import action_name, load_case, party_name
from gateway.http_server import Response
from gateway.statuses import CallFailure
from oonledger.negotiation.v1 import negotiation_pb2 as npb

if TYPE_CHECKING:
    from gateway.console.app import Console

APPROVER_ROLES = ("provider_approver",)


@dataclass(frozen=True)
class Pending:
    case: npb.Negotiation
    decision: npb.Decision
    offer: npb.Offer | None
    client_id: str
    patient_control_number: str


async def pending_decisions(client: ServiceClient) -> list[Pending]:
    reply = await client.call(f"{NEGOTIATION}/ListWorkQueue",
                              npb.ListWorkQueueRequest(page_size=QUEUE_LIMIT),
                              npb.ListWorkQueueResponse)
    gate = asyncio.Semaphore(8)

    async def of(item: npb.WorkItem) -> list[Pending]:
        if item.status not in OPEN_STAGES:
            return []
        async with gate:
            try:
                case = await load_case(client, item.negotiation_id)
            except CallFailure:
                return []
            waiting = [d for d in case.decisions if d.status == "proposed"]
            if not waiting:
                return []
            claim = await claim_of(client, case.claim_id)
        offers = {o.offer_id: o for o in case.offers}
        return [Pending(case, d, offers.get(d.offer_id),
                        claim.input.client_id if claim else "",
                        claim.input.patient_control_number if claim else "")
                for d in waiting]

    found = await asyncio.gather(*(of(item) for item in reply.items))
    return [p for group in found for p in group]


def register(console: Console) -> None:
    router = console.router
    console.add_nav("Approvals", "/console/approvals", APPROVER_ROLES)

    async def listing(page: Page, status: int = 200, error: str = "") -> Response:
        pending = await pending_decisions(page.client)
        return page.render("approvals.html", status, title="Approvals", pending=pending,
                           action_name=action_name, party_name=party_name, error=error,
                           today=eastern_today(page.now).isoformat(),
                           flash=page.query.get("done", ""))

    @router.get("/console/approvals", APPROVER_ROLES)
    async def approvals(page: Page) -> Response:
        return await listing(page)

    @router.post("/console/approvals/{negotiation_id}/{decision_id}/approve", APPROVER_ROLES)
    async def approve(page: Page) -> Response:
        request_id = page.form.get("request_id") or new_request_id()
        try:
            await page.client.call(f"{NEGOTIATION}/ApproveDecision", npb.ApproveDecisionRequest(
                request_id=request_id, negotiation_id=page.params["negotiation_id"],
                decision_id=page.params["decision_id"],
                decided_on=page.form.get("decided_on", "")), npb.NegotiationResponse,
                request_id=request_id)
        except CallFailure as refused:
            return await listing(page, refused.http_status,
                                 f"{refused.code.name}: {refused.message}")
        return page.redirect(web.with_query("/console/approvals",
                                            done=f"Approved {page.params['decision_id']}."))

    @router.post("/console/approvals/{negotiation_id}/{decision_id}/reject", APPROVER_ROLES)
    async def reject(page: Page) -> Response:
        reason = page.form.get("reason", "").strip()
        if not reason:
            return await listing(page, 400, "reason: say why the decision is rejected")
        request_id = page.form.get("request_id") or new_request_id()
        try:
            await page.client.call(f"{NEGOTIATION}/RejectDecision", npb.RejectDecisionRequest(
                request_id=request_id, negotiation_id=page.params["negotiation_id"],
                decision_id=page.params["decision_id"], reason=reason),
                npb.NegotiationResponse, request_id=request_id)
        except CallFailure as refused:
            return await listing(page, refused.http_status,
                                 f"{refused.code.name}: {refused.message}")
        return page.redirect(web.with_query("/console/approvals",
                                            done=f"Rejected {page.params['decision_id']}."))
