"""`make run` demo: negotiate one triaged claim to agreement, take another through federal IDR.

Both functions take a gRPC channel to the negotiation service and a claim id the claims service
has registered, adjudicated and triaged; the negotiation service opened the case when it saw the
triage (see subscriptions.py). Facts are dated from the claim's own clock (the initial payment
date and the NSA deadlines), so an IDR walk-through needs a claim adjudicated a few months ago.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import grpc

from oonledger.negotiation.v1 import negotiation_pb2 as pb
from services.common.context import eastern_date
from services.common.money import format_usd
from services.negotiation.application import negotiation_id_for
from services.negotiation.client import Client

Print = Callable[[str], None]
# The negotiation service opens the case when it has consumed the claim's triage; right after
# the demo's 2,000-claim bulk import it may still be working through those claims' events.
WAIT_SECONDS = 120.0


PROGRESS_EVERY = 10.0


async def wait_for_negotiation(client: Client, claim_id: str,
                               out: Print | None = None) -> pb.Negotiation:
    """The case opened by the claims-event reaction (polls with a deadline, saying so every
    PROGRESS_EVERY seconds, so a long wait is never silent)."""
    nid = str(negotiation_id_for(client.tenant, claim_id))
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + WAIT_SECONDS
    next_progress = started + PROGRESS_EVERY
    while True:
        try:
            response = await client.call(
                "GetNegotiation", pb.GetNegotiationRequest(negotiation_id=nid)
            )
            return response.negotiation
        except grpc.aio.AioRpcError as err:
            if err.code() is not grpc.StatusCode.NOT_FOUND or loop.time() > deadline:
                raise
        if out is not None and loop.time() >= next_progress:
            next_progress += PROGRESS_EVERY
            out(f"  waiting for the negotiation service to open claim {claim_id}'s case "
                f"({loop.time() - started:.0f} s; it is still consuming earlier claims' events)")
        await asyncio.sleep(0.2)  # polling interval, bounded by the deadline


def _deadline(n: pb.Negotiation, code: str) -> pb.Deadline:
    return next(d for d in n.deadlines if d.code == code)


def _pct(bp: int) -> str:
    return f"{bp / 100:.0f}% of QPA"


async def _start(client: Client, claim_id: str, out: Print) -> tuple[pb.Negotiation, str]:
    n = await wait_for_negotiation(client, claim_id, out)
    nid = n.negotiation_id
    out(f"  claim {claim_id}: negotiation {nid} opened from triage (route {n.route})")
    out(
        f"    billed {format_usd(n.billed_cents)}, QPA {format_usd(n.qpa_cents)}, "
        f"paid {format_usd(n.already_paid_cents)}, patient share "
        f"{format_usd(n.patient_cost_sharing_cents)}"
    )
    sent_on = _deadline(n, "T1").anchor_on  # notice sent the day the payment arrived
    n = (
        await client.call(
            "SendOpenNegotiationNotice",
            pb.SendOpenNegotiationNoticeRequest(
                negotiation_id=nid,
                sent_on=sent_on,
                channel=pb.CHANNEL_PORTAL,
                portal_reference=f"ON-{nid[:8]}",
            ),
        )
    ).negotiation
    t3 = _deadline(n, "T3")
    out(
        f"  {sent_on}  open-negotiation notice sent (portal); ON ends "
        f"{_deadline(n, 'T2').due_on}, IDR window {t3.opens_on}..{t3.due_on}"
    )
    return n, sent_on


async def _opening_offer(client: Client, n: pb.Negotiation, on: str, out: Print) -> int:
    s = await client.call("SuggestOffer", pb.SuggestOfferRequest(negotiation_id=n.negotiation_id))
    out(
        f"  {on}  benchmark {s.benchmark_key}: open at {format_usd(s.opening_offer_cents)} "
        f"({_pct(s.opening_percent_of_qpa_bp)}), walk away below "
        f"{format_usd(s.walk_away_floor_cents)} ({_pct(s.floor_percent_of_qpa_bp)})"
    )
    for line in s.evidence:
        out(f"              evidence: {line}")
    await client.call(
        "MakeOffer",
        pb.MakeOfferRequest(
            negotiation_id=n.negotiation_id,
            offer_id="opening",
            party=pb.PARTY_PROVIDER,
            amount_cents=s.opening_offer_cents,
            channel=pb.CHANNEL_PORTAL,
            made_on=on,
            basis=pb.OfferBasis(
                qpa_cents=n.qpa_cents,
                percent_of_qpa_bp=s.opening_percent_of_qpa_bp,
                law_cited="42 U.S.C. 300gg-111(c)",
            ),
            notes="opening offer from the IDR benchmark table",
        ),
    )
    out(f"  {on}  provider offer {format_usd(s.opening_offer_cents)}")
    return s.walk_away_floor_cents


async def negotiate_to_agreement(
    negotiation_channel: grpc.aio.Channel, tenant: str, claim_id: str, out: Print = print
) -> pb.Negotiation:
    """Offer, payer counter-offers, the negotiator proposes to accept, the provider approves."""
    negotiator = Client(negotiation_channel, tenant, ("negotiator",))
    approver = negotiator.as_roles("provider_approver")
    out("== negotiation to agreement ==")
    n, on = await _start(negotiator, claim_id, out)
    floor = await _opening_offer(negotiator, n, on, out)
    payer_amount = max(floor, n.qpa_cents)
    await negotiator.call(
        "MakeOffer",
        pb.MakeOfferRequest(
            negotiation_id=n.negotiation_id,
            offer_id="payer-1",
            party=pb.PARTY_PAYER,
            amount_cents=payer_amount,
            channel=pb.CHANNEL_EMAIL,
            made_on=on,
            basis=pb.OfferBasis(qpa_cents=n.qpa_cents, plan_language="plan pays the QPA"),
        ),
    )
    out(f"  {on}  payer counter-offer {format_usd(payer_amount)}")
    await negotiator.call(
        "ProposeDecision",
        pb.ProposeDecisionRequest(
            negotiation_id=n.negotiation_id,
            decision_id="accept-1",
            action=pb.DECISION_ACTION_ACCEPT,
            offer_id="payer-1",
            rationale="at or above the walk-away floor",
        ),
    )
    out(f"  {on}  negotiator proposes ACCEPT (waiting for the provider)")
    n = (
        await approver.call(
            "ApproveDecision",
            pb.ApproveDecisionRequest(
                negotiation_id=n.negotiation_id, decision_id="accept-1", decided_on=on
            ),
        )
    ).negotiation
    owed = n.agreed_total_cents - n.patient_cost_sharing_cents - n.already_paid_cents
    out(
        f"  {on}  provider_approver approves -> SettlementAgreed: total "
        f"{format_usd(n.agreed_total_cents)}, payer still owes {format_usd(owed)}"
    )
    return n


async def take_through_idr(
    negotiation_channel: grpc.aio.Channel, tenant: str, claim_id: str, out: Print = print
) -> pb.Negotiation:
    """Talks fail, the provider approves IDR, and the IDRE picks the provider's offer."""
    negotiator = Client(negotiation_channel, tenant, ("negotiator",))
    approver = negotiator.as_roles("provider_approver")
    out("== federal IDR ==")
    n, on = await _start(negotiator, claim_id, out)
    await _opening_offer(negotiator, n, on, out)
    nid = n.negotiation_id
    await negotiator.call(
        "MakeOffer",
        pb.MakeOfferRequest(
            negotiation_id=nid,
            offer_id="payer-1",
            party=pb.PARTY_PAYER,
            amount_cents=n.qpa_cents,
            channel=pb.CHANNEL_EMAIL,
            made_on=on,
        ),
    )
    out(f"  {on}  payer counter-offer {format_usd(n.qpa_cents)} (the QPA)")
    await negotiator.call(
        "ProposeDecision",
        pb.ProposeDecisionRequest(
            negotiation_id=nid,
            decision_id="go-idr",
            action=pb.DECISION_ACTION_IDR,
            rationale="payer will not move off the QPA",
        ),
    )
    await approver.call(
        "ApproveDecision", pb.ApproveDecisionRequest(negotiation_id=nid, decision_id="go-idr")
    )
    out("              provider_approver approves going to federal IDR")
    t3 = _deadline(n, "T3")
    today = eastern_date(datetime.now(UTC)).isoformat()
    if t3.opens_on > today:
        out(f"  IDR window opens {t3.opens_on}, after today: the walk-through stops here")
        return n
    n = (
        await negotiator.call(
            "InitiateIdr",
            pb.InitiateIdrRequest(
                negotiation_id=nid,
                dispute_number=f"DISP-{nid[:8]}",
                initiated_on=t3.opens_on,
                initiating_party=pb.PARTY_PROVIDER,
            ),
        )
    ).negotiations[0]
    out(
        f"  {t3.opens_on}  IDR initiated ({n.idr.rule_set_version}); admin fee "
        f"{format_usd(n.idr.administrative_fee_cents)}"
    )
    selected_on = _deadline(n, "T4").due_on
    n = (
        await negotiator.call(
            "SelectIdre",
            pb.SelectIdreRequest(
                negotiation_id=nid,
                idre_id="idre-demo",
                method=pb.SELECTION_METHOD_JOINT,
                selected_on=selected_on,
                idre_fee_cents=50_000,
            ),
        )
    ).negotiation
    out(f"  {selected_on}  IDRE selected jointly, IDRE fee {format_usd(50_000)} per party")
    eligible_on = _deadline(n, "T5").due_on
    await negotiator.call(
        "RecordIdrEligibility",
        pb.RecordIdrEligibilityRequest(negotiation_id=nid, eligible=True, decided_on=eligible_on),
    )
    out(f"  {eligible_on}  IDRE finds the dispute eligible")
    provider_offer = n.offers[0].amount_cents
    for party, amount in ((pb.PARTY_PROVIDER, provider_offer), (pb.PARTY_PAYER, n.qpa_cents)):
        await negotiator.call(
            "SubmitIdrOffer",
            pb.SubmitIdrOfferRequest(
                negotiation_id=nid, party=party, amount_cents=amount, submitted_on=eligible_on
            ),
        )
    out(
        f"  {eligible_on}  offers submitted: provider {format_usd(provider_offer)}, "
        f"payer {format_usd(n.qpa_cents)}"
    )
    determined_on = min(_deadline(n, "T7").due_on, today)
    n = (
        await negotiator.call(
            "RecordIdrDetermination",
            pb.RecordIdrDeterminationRequest(
                negotiation_id=nid, prevailing_party=pb.PARTY_PROVIDER, determined_on=determined_on
            ),
        )
    ).negotiation
    owed = n.award_total_cents - n.patient_cost_sharing_cents - n.already_paid_cents
    out(
        f"  {determined_on}  IdrDetermined: provider offer chosen, award "
        f"{format_usd(n.award_total_cents)}, payer owes {format_usd(owed)} by "
        f"{_deadline(n, 'T8').due_on}; IDRE fee refunded by {_deadline(n, 'T9').due_on}; "
        f"cooling-off until {_deadline(n, 'T10').due_on}"
    )
    return n
