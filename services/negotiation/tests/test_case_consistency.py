"""A case is a negotiation and its federal IDR dispute, two aggregates: a settlement and a
determination decided at the same time on the same case must not both be recorded."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import pytest

from oonledger.negotiation.v1 import negotiation_pb2 as pb
from services.negotiation.client import Client
from services.negotiation.tests.test_service import get, opened_with_notice

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def in_idr_with_a_late_payer_offer_to_accept(client: Client) -> str:
    nid = await opened_with_notice(client)
    await client.call("ProposeDecision", pb.ProposeDecisionRequest(
        negotiation_id=nid, decision_id="idr", action=pb.DECISION_ACTION_IDR))
    await client.as_roles("provider_approver").call(
        "ApproveDecision", pb.ApproveDecisionRequest(negotiation_id=nid, decision_id="idr"))
    for method, request in (
        ("InitiateIdr", pb.InitiateIdrRequest(
            negotiation_id=nid, dispute_number=f"DISP-{nid[:8]}", initiated_on="2026-07-17",
            initiating_party=pb.PARTY_PROVIDER)),
        ("SelectIdre", pb.SelectIdreRequest(
            negotiation_id=nid, idre_id="idre-7", method=pb.SELECTION_METHOD_JOINT,
            selected_on="2026-07-22", idre_fee_cents=50_000)),
        ("RecordIdrEligibility", pb.RecordIdrEligibilityRequest(
            negotiation_id=nid, eligible=True, decided_on="2026-07-29")),
        ("SubmitIdrOffer", pb.SubmitIdrOfferRequest(
            negotiation_id=nid, party=pb.PARTY_PROVIDER, amount_cents=160_000,
            submitted_on="2026-08-03")),
        ("SubmitIdrOffer", pb.SubmitIdrOfferRequest(
            negotiation_id=nid, party=pb.PARTY_PAYER, amount_cents=42_000,
            submitted_on="2026-08-04")),
        ("MakeOffer", pb.MakeOfferRequest(
            negotiation_id=nid, offer_id="late-offer", party=pb.PARTY_PAYER,
            amount_cents=110_000, basis=pb.OfferBasis(qpa_cents=40_000),
            channel=pb.CHANNEL_EMAIL, made_on="2026-08-10")),
        ("ProposeDecision", pb.ProposeDecisionRequest(
            negotiation_id=nid, decision_id="settle", action=pb.DECISION_ACTION_ACCEPT,
            offer_id="late-offer")),
    ):
        await client.call(method, request)
    return nid


@contextmanager
def both_decided_before_either_saves(app: Any, *use_cases: str) -> Iterator[None]:
    """The named use cases load the case, then wait for each other before saving: the two
    commands decide on the same versions of the case's aggregates, as concurrent callers can."""
    barrier = threading.Barrier(len(use_cases), timeout=60)
    racing = threading.local()
    save_all = app.save_all

    def saving(*aggregates: Any) -> None:
        if getattr(racing, "on", False):
            racing.on = False
            barrier.wait()
        save_all(*aggregates)

    def racer(use_case: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            racing.on = True
            try:
                return use_case(*args)
            finally:
                racing.on = False
        return run

    app.save_all = saving
    for name in use_cases:
        setattr(app, name, racer(getattr(app, name)))
    try:
        yield
    finally:
        for name in ("save_all", *use_cases):
            delattr(app, name)  # the class's methods again


async def test_a_settlement_and_a_determination_at_once_are_not_both_recorded(
    runtime: Any, client: Client,
) -> None:
    nid = await in_idr_with_a_late_payer_offer_to_accept(client)
    with both_decided_before_either_saves(runtime.parts.app, "approve_decision",
                                          "record_determination"):
        outcomes = await asyncio.gather(
            client.as_roles("provider_approver").call("ApproveDecision", pb.ApproveDecisionRequest(
                negotiation_id=nid, decision_id="settle", decided_on="2026-08-12")),
            client.call("RecordIdrDetermination", pb.RecordIdrDeterminationRequest(
                negotiation_id=nid, prevailing_party=pb.PARTY_PROVIDER,
                determined_on="2026-08-12")),
            return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failures) == 1, outcomes
    (failure,) = failures
    assert isinstance(failure, grpc.aio.AioRpcError)
    assert failure.code() is grpc.StatusCode.ABORTED, failure.details()
    case = await get(client, nid)
    settled = isinstance(outcomes[1], BaseException)
    if settled:
        assert case.status == "agreed" and case.award_total_cents == 0
    else:
        assert case.status == "determined" and case.award_total_cents == 160_000
    # The loser retried now is refused for the case's new state, not recorded as well.
    with pytest.raises(grpc.aio.AioRpcError) as again:
        if settled:
            await client.call("RecordIdrDetermination", pb.RecordIdrDeterminationRequest(
                negotiation_id=nid, prevailing_party=pb.PARTY_PROVIDER,
                determined_on="2026-08-12"))
        else:
            await client.as_roles("provider_approver").call(
                "ApproveDecision", pb.ApproveDecisionRequest(
                    negotiation_id=nid, decision_id="settle", decided_on="2026-08-12"))
    assert again.value.code() is grpc.StatusCode.FAILED_PRECONDITION
