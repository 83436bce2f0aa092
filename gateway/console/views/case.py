"""The case page: claim facts, benchmarks and the suggested offer with its evidence, the offers
drawn against the QPA, the deadline ladder (GetComplianceReport), documents, and the forms to
make an offer, record a payer response and propose a decision."""

from __future__ import annotations

import asyncio
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from gateway.console import web
from gateway.console.app import Page
from gateway.console.cases import NEGOTIATION, claim_of, eastern_today
from gateway.console.charts import Point, offers_chart
from gateway.console.client import ServiceClient, new_request_id
from gateway.http_server import Response
from gateway.statuses import CallFailure
from oonledger.negotiation.v1 import negotiation_pb2 as npb

if TYPE_CHECKING:
    from gateway.console.app import Console

CASE_ROLES = ("negotiator", "admin", "supervisor", "manager", "provider_approver")
WORK_ROLES = ("negotiator", "admin")
PARTIES = {"provider": npb.PARTY_PROVIDER, "payer": npb.PARTY_PAYER}
CHANNELS = {"portal": npb.CHANNEL_PORTAL, "email": npb.CHANNEL_EMAIL, "fax": npb.CHANNEL_FAX,
            "mail": npb.CHANNEL_MAIL, "phone": npb.CHANNEL_PHONE}
ACTIONS = {"accept": npb.DECISION_ACTION_ACCEPT, "reject": npb.DECISION_ACTION_REJECT,
           "counter": npb.DECISION_ACTION_COUNTER, "idr": npb.DECISION_ACTION_IDR}


def parse_dollars(text: str) -> int | None:
    """"1,234.56" or "$1234.5" -> cents; None unless a positive amount with at most 2 decimals."""
    cleaned = text.strip().replace(",", "").removeprefix("$")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        return None
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def percent_bp(text: str) -> int | None:
    """'250' or '250.5' (percent) as basis points; '' is 0 (not cited); None when unreadable."""
    text = text.strip().rstrip("%").strip()
    if not text:
        return 0
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or value <= 0 or value > 100_000:
        return None
    return int((value * 100).to_integral_value(ROUND_HALF_UP))


def party_name(party: int) -> str:
    return {npb.PARTY_PROVIDER: "provider", npb.PARTY_PAYER: "payer"}.get(party, "?")


def action_name(action: int) -> str:
    return next((name for name, value in ACTIONS.items() if value == action), "?")


async def _optional(call: Any) -> tuple[Any, str]:
    """A panel's data, or why it is missing (the page still shows the rest)."""
    try:
        return await call, ""
    except CallFailure as refused:
        return None, f"{refused.code.name}: {refused.message}"


async def load_case(client: ServiceClient, negotiation_id: str) -> npb.Negotiation:
    reply = await client.call(f"{NEGOTIATION}/GetNegotiation",
                              npb.GetNegotiationRequest(negotiation_id=negotiation_id),
                              npb.NegotiationResponse)
    return reply.negotiation


def register(console: Console) -> None:
    router = console.router

    @router.get("/console/cases/{negotiation_id}", CASE_ROLES)
    async def case_view(page: Page) -> Response:
        return await case_page(page)

    async def case_page(page: Page, status: int = 200, error: str = "") -> Response:
        client = page.client
        nid = page.params["negotiation_id"]
        case = await load_case(client, nid)
        today = eastern_today(page.now)
        claim, (suggestion, suggestion_missing), (report, report_missing) = await asyncio.gather(
            claim_of(client, case.claim_id),
            _optional(client.call(f"{NEGOTIATION}/SuggestOffer",
                                  npb.SuggestOfferRequest(negotiation_id=nid),
                                  npb.SuggestOfferResponse)),
            _optional(client.call(f"{NEGOTIATION}/GetComplianceReport",
                                  npb.GetComplianceReportRequest(negotiation_id=nid,
                                                                 as_of=today.isoformat()),
                                  npb.GetComplianceReportResponse)))
        points = [Point(o.made_on or "?", party_name(o.party), o.amount_cents)
                  for o in case.offers]
        return page.render(
            "case.html", status, title=f"Case {nid[:8]}", case=case, claim=claim,
            suggestion=suggestion, suggestion_missing=suggestion_missing,
            report=report.report if report is not None else None,
            report_missing=report_missing, chart=offers_chart(points, case.qpa_cents,
                                                              case.billed_cents),
            party_name=party_name, action_name=action_name, channels=list(CHANNELS),
            actions=list(ACTIONS), today=today.isoformat(), error=error,
            flash=page.query.get("done", ""),
            may_work=bool(set(WORK_ROLES) & page.user.roles),
            payer_offers=[o for o in case.offers if o.party == npb.PARTY_PAYER],
            medicare_cited=[o for o in case.offers if o.medicare_multiple_bp],
            proposed=[d for d in case.decisions if d.status == "proposed"])

    async def act(page: Page, method: str, request: Any, done: str) -> Response:
        request_id = page.form.get("request_id") or new_request_id()
        request.request_id = request_id
        try:
            await page.client.call(f"{NEGOTIATION}/{method}", request, _REPLIES[method],
                                   request_id=request_id)
        except CallFailure as refused:
            return await case_page(page, refused.http_status,
                                   f"{refused.code.name}: {refused.message}")
        return page.redirect(web.with_query(f"/console/cases/{page.params['negotiation_id']}",
                                            done=done))

    @router.post("/console/cases/{negotiation_id}/offer", WORK_ROLES)
    async def make_offer(page: Page) -> Response:
        f = page.form
        cents = parse_dollars(f.get("amount", ""))
        party = PARTIES.get(f.get("party", ""))
        medicare_bp = percent_bp(f.get("medicare_percent", ""))
        if cents is None or party is None or medicare_bp is None:
            problem = ("amount: a positive dollar amount (e.g. 1250.00)" if cents is None
                       else "party: provider or payer" if party is None
                       else "medicare_percent: a percentage (e.g. 250)")
            return await case_page(page, 400, problem)
        case = await load_case(page.client, page.params["negotiation_id"])
        # Numbered when the form was drawn, so a double submit is the same request (one offer).
        offer_id = f"{party_name(party)}-{_number(f, len(case.offers) + 1)}"
        return await act(page, "MakeOffer", npb.MakeOfferRequest(
            negotiation_id=case.negotiation_id, offer_id=offer_id, party=party,
            amount_cents=cents, basis=npb.OfferBasis(qpa_cents=case.qpa_cents,
                                                     medicare_multiple_bp=medicare_bp),
            channel=CHANNELS.get(f.get("channel", ""), npb.CHANNEL_PORTAL),
            notes=f.get("notes", ""), made_on=f.get("made_on", "")),
            f"Offer {offer_id} of {web_money(cents)} recorded.")

    @router.post("/console/cases/{negotiation_id}/notice", WORK_ROLES)
    async def notice(page: Page) -> Response:
        f = page.form
        return await act(page, "SendOpenNegotiationNotice", npb.SendOpenNegotiationNoticeRequest(
            negotiation_id=page.params["negotiation_id"], sent_on=f.get("sent_on", ""),
            channel=CHANNELS.get(f.get("channel", ""), npb.CHANNEL_PORTAL),
            portal_reference=f.get("portal_reference", "")),
            "Open-negotiation notice recorded; the 30 business days run.")

    @router.post("/console/cases/{negotiation_id}/payer-response", WORK_ROLES)
    async def payer_response(page: Page) -> Response:
        f = page.form
        return await act(page, "RecordPayerResponse", npb.RecordPayerResponseRequest(
            negotiation_id=page.params["negotiation_id"], received_on=f.get("received_on", ""),
            channel=CHANNELS.get(f.get("channel", ""), npb.CHANNEL_PORTAL),
            summary=f.get("summary", "")), "Payer response recorded.")

    @router.post("/console/cases/{negotiation_id}/decision", WORK_ROLES)
    async def propose(page: Page) -> Response:
        f = page.form
        action = ACTIONS.get(f.get("action", ""))
        counter = parse_dollars(f["counter"]) if f.get("counter", "").strip() else 0
        if action is None or counter is None:
            return await case_page(page, 400, "action: accept, reject, counter or idr"
                                   if action is None else "counter: a positive dollar amount")
        case = await load_case(page.client, page.params["negotiation_id"])
        decision_id = f"decision-{_number(f, len(case.decisions) + 1)}"
        return await act(page, "ProposeDecision", npb.ProposeDecisionRequest(
            negotiation_id=case.negotiation_id, decision_id=decision_id, action=action,
            offer_id=f.get("offer_id", ""), counter_amount_cents=counter,
            rationale=f.get("rationale", ""), decided_on=f.get("decided_on", "")),
            f"Decision {decision_id} proposed; it waits for the provider's approver.")


def _number(form: dict[str, str], otherwise: int) -> int:
    text = form.get("number", "")
    return int(text) if text.isdigit() and 0 < len(text) < 6 else otherwise


def web_money(cents: int) -> str:
    from gateway.console.app import money

    return money(cents)


_REPLIES: dict[str, Any] = {
    "SendOpenNegotiationNotice": npb.NegotiationResponse,
    "MakeOffer": npb.MakeOfferResponse,
    "RecordPayerResponse": npb.NegotiationResponse,
    "ProposeDecision": npb.NegotiationResponse,
}
