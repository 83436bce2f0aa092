"""The work queue: open cases sorted by the next deadline, coloured by risk, filtered by
client, payer, stage and assignee; a negotiator takes a case (assigns it to themself)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.console import web
from gateway.console.app import Page
from gateway.console.cases import (
    NEGOTIATION,
    RISK_LABELS,
    QueueFilter,
    eastern_today,
    queue,
)
from gateway.console.client import new_request_id
from gateway.http_server import Response
from oonledger.negotiation.v1 import negotiation_pb2 as npb

if TYPE_CHECKING:
    from gateway.console.app import Console

QUEUE_ROLES = ("negotiator", "admin", "supervisor", "manager")
STAGES = ("open", "in_idr", "agreed", "determined", "closed")


def register(console: Console) -> None:
    router = console.router
    console.add_nav("Work queue", "/console/queue", QUEUE_ROLES)

    @router.get("/console/queue", QUEUE_ROLES)
    async def work_queue(page: Page) -> Response:
        q = page.query
        wanted = QueueFilter(client=q.get("client", ""), payer=q.get("payer", ""),
                             stage=q.get("stage", "") if q.get("stage", "") in STAGES else "",
                             assignee=q.get("assignee", ""))
        today = eastern_today(page.now)
        rows, everything = await queue(page.client, wanted, today)
        counts = {level: sum(1 for r in rows if r.risk == level) for level in RISK_LABELS}
        return page.render(
            "queue.html", title="Work queue", rows=rows, wanted=wanted, today=today,
            risk_labels=RISK_LABELS, counts=counts, stages=STAGES,
            clients=sorted({r.client_id for r in everything if r.client_id}),
            payers=sorted({r.payer for r in everything if r.payer}),
            assignees=sorted({r.item.assignee for r in everything if r.item.assignee}),
            flash=q.get("done", ""))

    @router.post("/console/queue/{negotiation_id}/take", QUEUE_ROLES)
    async def take(page: Page) -> Response:
        request_id = page.form.get("request_id") or new_request_id()
        await page.client.call(
            f"{NEGOTIATION}/AssignNegotiation",
            npb.AssignNegotiationRequest(request_id=request_id,
                                         negotiation_id=page.params["negotiation_id"],
                                         assignee=page.user.actor),
            npb.NegotiationResponse, request_id=request_id)
        back = page.form.get("back", "")
        target = back if back.startswith("/console/") else "/console/queue"
        return page.redirect(web.with_query(target.split("?")[0], done="Case assigned to you."))
