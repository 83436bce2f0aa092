"""NegotiationService end to end: real PostgreSQL and NATS, gRPC server on port 0."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import nats
import pytest
import pytest_asyncio

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from oonledger.negotiation.v1 import events_pb2 as negotiation_events
from oonledger.negotiation.v1 import negotiation_pb2 as pb
from services.common.contracts import decode
from services.negotiation.application import negotiation_id_for
from services.negotiation.client import ALL_ROLES, Client
from services.negotiation.tests.claims_events import publish_claim_events, triaged_claim_events
from services.negotiation.tests.requests import open_request
from tests.support.plugin import channel_to, eventually, field_violations

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def client(runtime: Any) -> AsyncIterator[Client]:
    async with channel_to(runtime) as channel:
        yield Client(channel, f"tenant-{uuid.uuid4().hex[:8]}", ("negotiator",))


async def wait_for(probe: Callable[[], Awaitable[Any]]) -> Any:
    """`eventually` for async probes (polls with a deadline), typed loosely."""
    result: Any = await eventually(probe)  # type: ignore[arg-type]
    return result


def claim() -> str:
    return f"claim-{uuid.uuid4().hex[:10]}"


async def opened_with_notice(client: Client, **overrides: Any) -> str:
    response = await client.call("OpenNegotiation", open_request(claim(), **overrides))
    nid = response.negotiation.negotiation_id
    await client.call(
        "SendOpenNegotiationNotice",
        pb.SendOpenNegotiationNoticeRequest(
            negotiation_id=nid,
            sent_on="2026-06-02",
            channel=pb.CHANNEL_PORTAL,
            portal_reference="ON-1",
        ),
    )
    return nid


async def payer_offer(client: Client, nid: str, cents: int, offer_id: str) -> Any:
    return await client.call(
        "MakeOffer",
        pb.MakeOfferRequest(
            negotiation_id=nid,
            offer_id=offer_id,
            party=pb.PARTY_PAYER,
            amount_cents=cents,
            basis=pb.OfferBasis(qpa_cents=40_000, plan_language="plan pays QPA"),
            channel=pb.CHANNEL_EMAIL,
            made_on="2026-06-10",
        ),
    )


async def get(client: Client, nid: str) -> pb.Negotiation:
    response = await client.call("GetNegotiation", pb.GetNegotiationRequest(negotiation_id=nid))
    return response.negotiation


async def test_a_claim_is_negotiated_to_agreement_with_provider_approval(client: Client) -> None:
    nid = await opened_with_notice(client)
    await client.call(
        "MakeOffer",
        pb.MakeOfferRequest(
            negotiation_id=nid,
            offer_id="ours-1",
            party=pb.PARTY_PROVIDER,
            amount_cents=160_000,
            basis=pb.OfferBasis(qpa_cents=40_000, percent_of_qpa_bp=40_000),
            channel=pb.CHANNEL_PORTAL,
            notes="opening at 400 % of QPA",
            document_refs=["doc-1"],
            made_on="2026-06-05",
        ),
    )
    counter = await payer_offer(client, nid, 90_000, "theirs-1")
    assert counter.kind == "counter"
    await client.call(
        "ProposeDecision",
        pb.ProposeDecisionRequest(
            negotiation_id=nid,
            decision_id="d1",
            action=pb.DECISION_ACTION_ACCEPT,
            offer_id="theirs-1",
            rationale="225 % of QPA",
        ),
    )
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await client.call(
            "ApproveDecision", pb.ApproveDecisionRequest(negotiation_id=nid, decision_id="d1")
        )
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
    approver = client.as_roles("provider_approver")
    await approver.call(
        "ApproveDecision",
        pb.ApproveDecisionRequest(negotiation_id=nid, decision_id="d1", decided_on="2026-06-12"),
    )
    shown = await approver.call("GetNegotiation", pb.GetNegotiationRequest(negotiation_id=nid))
    assert [(d.status, d.rationale) for d in shown.negotiation.decisions] == [
        ("approved", "225 % of QPA")]
    assert shown.negotiation.offers[0].notes == "opening at 400 % of QPA"
    negotiation = await get(client, nid)
    assert negotiation.status == "agreed"
    assert negotiation.agreed_total_cents == 90_000
    assert [o.percent_of_qpa_bp for o in negotiation.offers] == [40_000, 22_500]


async def test_settlement_agreed_reaches_jetstream_for_the_settlement_service(
    client: Client, runtime: Any, infra_urls: Any
) -> None:
    nid = await opened_with_notice(client)
    await payer_offer(client, nid, 90_000, "p1")
    await client.call(
        "ProposeDecision",
        pb.ProposeDecisionRequest(
            negotiation_id=nid, decision_id="d1", action=pb.DECISION_ACTION_ACCEPT, offer_id="p1"
        ),
    )
    await client.as_roles("provider_approver").call(
        "ApproveDecision", pb.ApproveDecisionRequest(negotiation_id=nid, decision_id="d1")
    )
    nc = await nats.connect(infra_urls.nats_url)
    try:
        js = nc.jetstream()
        subject = (
            f"{runtime.settings.subject_prefix_for('negotiation')}.negotiation.SettlementAgreed"
        )

        async def published() -> Any:
            try:
                msg = await js.get_last_msg(runtime.settings.stream_for("negotiation"), subject)
            except Exception:
                return None
            envelope = EventEnvelope.FromString(msg.data)
            return envelope if envelope.aggregate_id == nid else None

        envelope = await wait_for(published)
    finally:
        await nc.close()
    assert envelope.tenant_id == client.tenant
    # The published language: settlement gets the contract message with negotiation's facts.
    assert envelope.payload_content_type == (
        "application/x-protobuf; messageType=oonledger.negotiation.v1.SettlementAgreed"
    )
    agreed = decode(envelope)
    assert isinstance(agreed, negotiation_events.SettlementAgreed)
    assert agreed.amount_owed_cents == 50_000
    assert agreed.rule_set_version and agreed.payment_due_on


async def test_bad_offers_get_field_violations_and_change_nothing(client: Client) -> None:
    nid = await opened_with_notice(client)
    before = (await get(client, nid)).version
    for cents in (0, -500):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await payer_offer(client, nid, cents, f"bad{cents}")
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(err.value) == {"amount_cents"}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.call(
            "MakeOffer",
            pb.MakeOfferRequest(
                negotiation_id=nid, party=pb.PARTY_PAYER, amount_cents=100, made_on="June 10th"
            ),
        )
    assert field_violations(err.value) == {"made_on"}
    # Amounts beyond the ceiling (here or in the basis): refused by the request reader; a share
    # of QPA no answer can carry (int32 basis points): refused by the domain before recording
    # (it was stored, and GetNegotiation then failed for good).
    for cents, qpa in ((2**63 - 1, 52_000), (45_000, 100_000_000_001), (100_000_000_000, 1)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.call("MakeOffer", pb.MakeOfferRequest(
                negotiation_id=nid, offer_id=f"huge{qpa}", party=pb.PARTY_PAYER,
                amount_cents=cents, basis=pb.OfferBasis(qpa_cents=qpa), channel=pb.CHANNEL_FAX,
                made_on="2026-06-10"))
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, err.value
        assert field_violations(err.value) in ({"amount_cents"}, {"basis.qpa_cents"})
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.call("GetNegotiation", pb.GetNegotiationRequest(negotiation_id="nope"))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (await get(client, nid)).version == before


async def test_a_retried_request_duplicates_nothing(client: Client) -> None:
    nid = await opened_with_notice(client)
    request = pb.MakeOfferRequest(
        request_id="retry-me",
        negotiation_id=nid,
        offer_id="o1",
        party=pb.PARTY_PAYER,
        amount_cents=45_000,
        channel=pb.CHANNEL_FAX,
        made_on="2026-06-10",
    )
    first = await client.call("MakeOffer", request)
    again = await client.call("MakeOffer", request)
    assert first.version == again.version
    assert len((await get(client, nid)).offers) == 1
    open_again = open_request(claim(), request_id="open-retry")
    a = await client.call("OpenNegotiation", open_again)
    b = await client.call("OpenNegotiation", open_again)
    assert a.negotiation.negotiation_id == b.negotiation.negotiation_id
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.call("OpenNegotiation", open_request(a.negotiation.claim_id))
    assert err.value.code() is grpc.StatusCode.ALREADY_EXISTS


async def test_another_tenant_can_neither_see_nor_change_a_case(
    client: Client, runtime: Any
) -> None:
    nid = await opened_with_notice(client)
    async with channel_to(runtime) as channel:
        intruder = Client(channel, f"tenant-{uuid.uuid4().hex[:8]}", ALL_ROLES)
        for method, request in (
            ("GetNegotiation", pb.GetNegotiationRequest(negotiation_id=nid)),
            (
                "MakeOffer",
                pb.MakeOfferRequest(
                    negotiation_id=nid,
                    party=pb.PARTY_PAYER,
                    amount_cents=1,
                    channel=pb.CHANNEL_FAX,
                    made_on="2026-06-10",
                ),
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await intruder.call(method, request)
            assert err.value.code() is grpc.StatusCode.NOT_FOUND
        await wait_for(lambda: _queue_has(client, nid))
        theirs = await intruder.call("ListWorkQueue", pb.ListWorkQueueRequest())
        assert nid not in [i.negotiation_id for i in theirs.items]
    assert len((await get(client, nid)).offers) == 0


async def _queue_has(client: Client, nid: str, code: str = "", status: str = "") -> bool:
    queue = await client.call("ListWorkQueue", pb.ListWorkQueueRequest(status=status))
    return any(
        i.negotiation_id == nid and (not code or i.next_deadline_code == code) for i in queue.items
    )


async def test_work_queue_orders_by_next_deadline(client: Client) -> None:
    late = (
        await client.call(
            "OpenNegotiation", open_request(claim(), initial_payment_received_on="2026-08-03")
        )
    ).negotiation.negotiation_id
    early = await opened_with_notice(client)
    await wait_for(lambda: _queue_has(client, early, "T3"))
    await wait_for(lambda: _queue_has(client, late, "T1"))
    queue = await client.call("ListWorkQueue", pb.ListWorkQueueRequest(assignee="neg@example.test"))
    ids = [i.negotiation_id for i in queue.items]
    assert ids.index(early) < ids.index(late)
    item = next(i for i in queue.items if i.negotiation_id == early)
    assert (item.status, item.next_deadline_on) == ("open", "2026-07-21")


async def _to_idr(client: Client, nid: str, initiated_on: str = "2026-07-17") -> None:
    await client.call(
        "ProposeDecision",
        pb.ProposeDecisionRequest(
            negotiation_id=nid, decision_id="idr", action=pb.DECISION_ACTION_IDR
        ),
    )
    await client.as_roles("provider_approver").call(
        "ApproveDecision", pb.ApproveDecisionRequest(negotiation_id=nid, decision_id="idr")
    )
    await client.call(
        "InitiateIdr",
        pb.InitiateIdrRequest(
            negotiation_id=nid,
            dispute_number=f"DISP-{nid[:8]}",
            initiated_on=initiated_on,
            initiating_party=pb.PARTY_PROVIDER,
        ),
    )


async def test_idr_through_determination_then_cooling_off_blocks_the_next_case(
    client: Client,
) -> None:
    nid = await opened_with_notice(client)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _to_idr(client, nid, initiated_on="2026-07-15")
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "too early" in (err.value.details() or "")
    await client.call(
        "InitiateIdr",
        pb.InitiateIdrRequest(
            negotiation_id=nid,
            dispute_number="DISP-A",
            initiated_on="2026-07-17",
            initiating_party=pb.PARTY_PROVIDER,
        ),
    )
    for method, request in (
        (
            "SelectIdre",
            pb.SelectIdreRequest(
                negotiation_id=nid,
                idre_id="idre-7",
                method=pb.SELECTION_METHOD_JOINT,
                selected_on="2026-07-22",
                idre_fee_cents=50_000,
            ),
        ),
        (
            "RecordIdrEligibility",
            pb.RecordIdrEligibilityRequest(
                negotiation_id=nid, eligible=True, decided_on="2026-07-29"
            ),
        ),
        (
            "SubmitIdrOffer",
            pb.SubmitIdrOfferRequest(
                negotiation_id=nid,
                party=pb.PARTY_PROVIDER,
                amount_cents=160_000,
                submitted_on="2026-08-03",
            ),
        ),
        (
            "SubmitIdrOffer",
            pb.SubmitIdrOfferRequest(
                negotiation_id=nid,
                party=pb.PARTY_PAYER,
                amount_cents=42_000,
                submitted_on="2026-08-04",
            ),
        ),
        (
            "RecordIdrDetermination",
            pb.RecordIdrDeterminationRequest(
                negotiation_id=nid, prevailing_party=pb.PARTY_PROVIDER, determined_on="2026-09-01"
            ),
        ),
    ):
        await client.call(method, request)
    done = await get(client, nid)
    assert done.status == "determined" and done.award_total_cents == 160_000
    assert done.idr.administrative_fee_cents == 1_500
    # The dispute's own events reach the case's work-queue row (found by its claim).
    await wait_for(lambda: _queue_has(client, nid, "T8", status="determined"))
    # Another case, same provider, same issuer, similar service, window inside cooling-off.
    other = await opened_with_notice(client)
    second = await client.call(
        "OpenNegotiation",
        open_request(claim(), initial_payment_received_on="2026-08-03", service_code="71250"),
    )
    sid = second.negotiation.negotiation_id
    await client.call(
        "SendOpenNegotiationNotice",
        pb.SendOpenNegotiationNoticeRequest(
            negotiation_id=sid, sent_on="2026-08-03", channel=pb.CHANNEL_PORTAL
        ),
    )
    window = next(d for d in (await get(client, sid)).deadlines if d.code == "T3")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _to_idr(client, sid, initiated_on=window.opens_on)
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "cooling-off from dispute DISP-A" in (err.value.details() or "")
    assert (await get(client, other)).status == "open"


async def test_batching_is_accepted_or_refused_by_rule(client: Client) -> None:
    lead = await opened_with_notice(client)
    same = await opened_with_notice(client, service_code="71250", service_on="2026-05-01")
    other_plan = await opened_with_notice(client, plan_id="plan-other")
    for nid in (lead, same, other_plan):
        await client.call(
            "ProposeDecision",
            pb.ProposeDecisionRequest(
                negotiation_id=nid, decision_id="idr", action=pb.DECISION_ACTION_IDR
            ),
        )
        await client.as_roles("provider_approver").call(
            "ApproveDecision", pb.ApproveDecisionRequest(negotiation_id=nid, decision_id="idr")
        )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.call(
            "InitiateIdr",
            pb.InitiateIdrRequest(
                negotiation_id=lead,
                dispute_number="BATCH-X",
                initiated_on="2026-07-17",
                initiating_party=pb.PARTY_PROVIDER,
                batch_negotiation_ids=[same, other_plan],
            ),
        )
    assert "batch refused (DOMAIN §1.6): same_plan" in (err.value.details() or "")
    assert (await get(client, same)).status == "open"  # nothing joined
    response = await client.call(
        "InitiateIdr",
        pb.InitiateIdrRequest(
            negotiation_id=lead,
            dispute_number="BATCH-1",
            initiated_on="2026-07-17",
            initiating_party=pb.PARTY_PROVIDER,
            batch_negotiation_ids=[same],
        ),
    )
    fees = [(n.idr.batched, n.idr.administrative_fee_cents) for n in response.negotiations]
    assert fees == [(True, 1_500), (True, 0)]  # the dispute's fee is carried once


async def test_auto_approval_and_offer_suggestion(client: Client) -> None:
    admin = client.as_roles("admin")
    await admin.call(
        "SetClientPolicy",
        pb.SetClientPolicyRequest(
            auto_approval_rules=[
                pb.AutoApprovalRule(rule_id="3x-qpa", min_basis_points_of_qpa=30_000)
            ],
            escalation_chain=[
                pb.EscalationLevel(role="negotiator", business_days_left=5),
                pb.EscalationLevel(role="manager", business_days_left=1),
            ],
        ),
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.call("SetClientPolicy", pb.SetClientPolicyRequest())
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    nid = await opened_with_notice(client)
    suggestion = await client.call("SuggestOffer", pb.SuggestOfferRequest(negotiation_id=nid))
    assert suggestion.benchmark_key == "radiology/*/*"
    assert suggestion.opening_offer_cents == 252_400  # p75 631 % of the 400.00 QPA
    assert suggestion.walk_away_floor_cents >= 40_000 and suggestion.evidence
    await payer_offer(client, nid, 130_000, "p1")
    await client.call(
        "ProposeDecision",
        pb.ProposeDecisionRequest(
            negotiation_id=nid, decision_id="d1", action=pb.DECISION_ACTION_ACCEPT, offer_id="p1"
        ),
    )
    negotiation = await get(client, nid)
    assert negotiation.status == "agreed"
    assert negotiation.decisions[0].status == "approved"


async def test_a_triaged_claim_from_the_claims_service_opens_a_negotiation(
    client: Client, runtime: Any, infra_urls: Any
) -> None:
    claim_id = str(uuid.uuid4())
    await publish_claim_events(
        infra_urls.nats_url,
        runtime.settings.subject_prefix_for("claims"),
        client.tenant,
        claim_id,
        triaged_claim_events(),
    )
    nid = str(negotiation_id_for(client.tenant, claim_id))

    async def opened() -> Any:
        try:
            return await get(client, nid)
        except grpc.aio.AioRpcError:
            return None

    negotiation = await wait_for(opened)
    assert (negotiation.claim_id, negotiation.qpa_cents, negotiation.route) == (
        claim_id,
        40_000,
        "federal_idr",
    )
    assert negotiation.already_paid_cents == 35_000


async def test_a_triage_delivered_before_its_adjudication_still_opens_the_negotiation(
    client: Client, runtime: Any, infra_urls: Any
) -> None:
    registered, adjudicated, triaged = triaged_claim_events()
    claim_id = str(uuid.uuid4())
    # Two replicas, or a retry, can hand the triage over before the adjudication it follows.
    await publish_claim_events(
        infra_urls.nats_url,
        runtime.settings.subject_prefix_for("claims"),
        client.tenant,
        claim_id,
        [registered, triaged, adjudicated],
    )
    nid = str(negotiation_id_for(client.tenant, claim_id))

    async def opened() -> Any:
        try:
            return await get(client, nid)
        except grpc.aio.AioRpcError:
            return None

    negotiation = await wait_for(opened)
    assert negotiation.qpa_cents == 40_000 and negotiation.already_paid_cents == 35_000


async def test_escalations_follow_the_clients_chain_as_a_deadline_nears(client: Client) -> None:
    fresh = await client.call(
        "OpenNegotiation", open_request(claim(), initial_payment_received_on="2026-10-01")
    )
    nid = fresh.negotiation.negotiation_id
    t1 = next(d for d in fresh.negotiation.deadlines if d.code == "T1")
    assert t1.due_on == "2026-11-13"  # 30 BD from Oct 1: Columbus and Veterans Day skipped
    await wait_for(lambda: _queue_has(client, nid, "T1"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.call(
            "EscalateDueDeadlines", pb.EscalateDueDeadlinesRequest(as_of="2026-11-04")
        )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    # The role table (services/common/auth.py) lets only admin run the sweep by hand.
    operator = client.as_roles("admin")
    sweep = pb.EscalateDueDeadlinesRequest(as_of="2026-11-06")  # 4 BD left: the negotiator
    first = await operator.call("EscalateDueDeadlines", sweep)
    again = await operator.call(
        "EscalateDueDeadlines", pb.EscalateDueDeadlinesRequest(as_of="2026-11-04")
    )
    assert (first.escalations_raised, again.escalations_raised) == (1, 0)
    later = await operator.call(
        "EscalateDueDeadlines", pb.EscalateDueDeadlinesRequest(as_of="2026-11-09")
    )
    assert later.escalations_raised == 1  # one business day left: the manager


async def test_a_window_crossing_executive_order_closures_shows_both_due_dates(
    client: Client,
) -> None:
    crossing = await client.call(
        "OpenNegotiation", open_request(claim(), initial_payment_received_on="2025-12-01")
    )
    t1 = next(d for d in crossing.negotiation.deadlines if d.code == "T1")
    # 30 business days from Dec 1 2025; Dec 24 and 26 (executive-order closures) count here
    # (NEGOTIATION_EXCLUDE_EO_CLOSURES=0); if the portal skips them, T1 is two days later.
    assert (t1.due_on, t1.alternate_due_on) == ("2026-01-13", "2026-01-15")
    plain = await client.call(
        "OpenNegotiation", open_request(claim(), initial_payment_received_on="2026-10-01")
    )
    assert all(d.alternate_due_on == "" for d in plain.negotiation.deadlines)


async def test_a_negotiator_takes_a_case_but_gives_it_to_nobody_else(client: Client) -> None:
    nid = (await client.call("OpenNegotiation", open_request(claim()))).negotiation.negotiation_id
    me = f"negotiator@{client.tenant}"
    taken = await client.call(
        "AssignNegotiation", pb.AssignNegotiationRequest(negotiation_id=nid, assignee=me))
    assert taken.negotiation.assignee == me
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.call("AssignNegotiation",
                          pb.AssignNegotiationRequest(negotiation_id=nid, assignee="someone-else"))
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    supervisor = client.as_roles("supervisor")
    given = await supervisor.call(
        "AssignNegotiation", pb.AssignNegotiationRequest(negotiation_id=nid, assignee="someone"))
    assert given.negotiation.assignee == "someone"
