"""Issue 22 items 2 and 4 through the claims service's gRPC API: the work queue follows the
denial's action (one item kind per action, its due date and the rule that set it) and appeals go
up the ladder in order, an overturn's payment recorded on the claim."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import grpc
import pytest

from oonledger.claims.v1 import claims_pb2 as pb
from services.claims.domain.appeals import add_months
from services.claims.tests.service_calls import md, register, tenant
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

RECEIVED = "2026-10-30"


def denied(carc: str, rarc: tuple[str, ...] = ()) -> pb.Adjudication:
    return pb.Adjudication(received_date=RECEIVED, billed_cents=249_000, denied=True,
                           carc_codes=[carc], rarc_codes=list(rarc),
                           payer_claim_control_number="ICN-" + uuid.uuid4().hex[:8])


async def adjudicated(stub, t: str, adjudication: pb.Adjudication) -> str:
    claim = await register(stub, t)
    await stub.RecordAdjudication(pb.RecordAdjudicationRequest(
        request_id=uuid.uuid4().hex, claim_id=claim.claim_id, adjudication=adjudication),
        metadata=md(t))
    return claim.claim_id


async def queue_item(stub, t: str, claim_id: str, kind: int,
                     detail: str = "") -> pb.WorkItem:
    async def probe() -> pb.WorkItem | None:
        items = (await stub.ClaimsWorkQueue(pb.ClaimsWorkQueueRequest(), metadata=md(t))).items
        return next((i for i in items if i.claim_id == claim_id and i.kind == kind
                     and detail in i.detail), None)

    return await eventually(probe)


async def test_claims_denied_with_carc_16_18_45_197_show_different_actions(stub):
    t = tenant()
    expected = {
        "16": (pb.WORK_ITEM_KIND_RESUBMIT_CORRECTED, "2027-01-28", "corrected claim"),
        "18": (pb.WORK_ITEM_KIND_CLOSE_DUPLICATE, "2026-11-29", "duplicate"),
        "45": (pb.WORK_ITEM_KIND_NEGOTIATE, "2026-11-13", "hand to negotiation"),
        "197": (pb.WORK_ITEM_KIND_ATTACH_DOCUMENTS, "2026-12-29", "documentation"),
        "119": (pb.WORK_ITEM_KIND_WRITE_OFF, "2026-11-29", "write-off"),
    }
    claims = {carc: await adjudicated(stub, t, denied(carc)) for carc in expected}
    for carc, (kind, due, rule) in expected.items():
        item = await queue_item(stub, t, claims[carc], kind)
        assert item.due_date == due, carc
        assert rule in item.due_rule and item.rule_set_version == "denials/2026.12"
        assert item.detail.startswith(f"CARC {carc}: ")
    items = (await stub.ClaimsWorkQueue(pb.ClaimsWorkQueueRequest(), metadata=md(t))).items
    assert len({i.kind for i in items}) == len(expected)  # one item per claim, each its action
    got = await stub.GetClaim(pb.GetClaimRequest(claim_id=claims["18"]), metadata=md(t))
    assert got.claim.denial_remedies[0].remedy == pb.REMEDY_CLOSE_DUPLICATE


async def file(stub, t: str, claim_id: str, level: int, adverse: str = "") -> pb.Appeal:
    reply = await stub.FileAppeal(pb.FileAppealRequest(
        request_id=uuid.uuid4().hex, claim_id=claim_id, level=level, grounds="records attached",
        channel=pb.APPEAL_CHANNEL_PORTAL, adverse_determination_date=adverse), metadata=md(t))
    return reply.appeal


async def decide(stub, t: str, claim_id: str, appeal_id: str, outcome: int,
                 paid: int = 0, expected: int = 0) -> pb.RecordAppealDecisionResponse:
    return await stub.RecordAppealDecision(pb.RecordAppealDecisionRequest(
        request_id=uuid.uuid4().hex, claim_id=claim_id, appeal_id=appeal_id, outcome=outcome,
        decision_date=date.today().isoformat(), additional_paid_cents=paid,
        expected_additional_cents=expected), metadata=md(t))


async def refused(call) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    return err.value.details()


async def test_appeals_climb_the_ladder_and_each_upheld_level_opens_the_next_deadline(stub):
    t = tenant()
    claim_id = await adjudicated(stub, t, denied("29"))  # timely filing: appeal
    today = date.today()
    # Levels cannot be skipped, even with an adverse determination date stated.
    for level in (pb.APPEAL_LEVEL_SECOND_INTERNAL, pb.APPEAL_LEVEL_EXTERNAL_REVIEW):
        why = await refused(file(stub, t, claim_id, level, adverse=RECEIVED))
        assert "upheld" in why and "29 CFR 2560.503-1" in why and "ladder" in why
    first = await file(stub, t, claim_id, pb.APPEAL_LEVEL_FIRST_INTERNAL)
    await decide(stub, t, claim_id, first.appeal_id, pb.APPEAL_OUTCOME_UPHELD)
    second_due = await queue_item(stub, t, claim_id, pb.WORK_ITEM_KIND_APPEAL_DUE,
                                  "second_internal")
    assert second_due.due_date == (today + timedelta(days=180)).isoformat()
    assert "180 calendar days" in second_due.due_rule
    assert "external_review" in await refused(
        file(stub, t, claim_id, pb.APPEAL_LEVEL_EXTERNAL_REVIEW))
    assert "already filed" in await refused(
        file(stub, t, claim_id, pb.APPEAL_LEVEL_FIRST_INTERNAL))
    second = await file(stub, t, claim_id, pb.APPEAL_LEVEL_SECOND_INTERNAL)
    await decide(stub, t, claim_id, second.appeal_id, pb.APPEAL_OUTCOME_UPHELD)
    external_due = await queue_item(stub, t, claim_id, pb.WORK_ITEM_KIND_APPEAL_DUE,
                                    "external_review")
    assert external_due.due_date == add_months(today, 4).isoformat()
    external = await file(stub, t, claim_id, pb.APPEAL_LEVEL_EXTERNAL_REVIEW)
    await decide(stub, t, claim_id, external.appeal_id, pb.APPEAL_OUTCOME_UPHELD)
    write_off = await queue_item(stub, t, claim_id, pb.WORK_ITEM_KIND_WRITE_OFF)
    assert "appeals exhausted" in write_off.detail
    assert write_off.due_date == (today + timedelta(days=30)).isoformat()


async def test_an_overturn_records_the_additional_payment_on_the_claim(stub):
    t = tenant()
    claim_id = await adjudicated(stub, t, denied("50"))
    first = await file(stub, t, claim_id, pb.APPEAL_LEVEL_FIRST_INTERNAL)
    await decide(stub, t, claim_id, first.appeal_id, pb.APPEAL_OUTCOME_UPHELD)
    second = await file(stub, t, claim_id, pb.APPEAL_LEVEL_SECOND_INTERNAL)
    decided = await decide(stub, t, claim_id, second.appeal_id, pb.APPEAL_OUTCOME_OVERTURNED,
                           paid=120_000)
    assert decided.claim.paid_cents == 120_000
    assert decided.claim.status == pb.CLAIM_STATUS_APPEAL_OVERTURNED

    async def listed() -> pb.ClaimSummary | None:
        page = await stub.ListClaims(pb.ListClaimsRequest(), metadata=md(t))
        row = next(c for c in page.claims if c.claim_id == claim_id)
        return row if row.paid_cents == 120_000 else None

    assert await eventually(listed)
    # An overturn the payer has not paid yet is recorded as expected.
    other = await adjudicated(stub, t, denied("50"))
    appeal = await file(stub, t, other, pb.APPEAL_LEVEL_FIRST_INTERNAL)
    owed = await decide(stub, t, other, appeal.appeal_id, pb.APPEAL_OUTCOME_OVERTURNED,
                        expected=90_000)
    assert (owed.claim.paid_cents, owed.claim.expected_additional_cents) == (0, 90_000)
    assert owed.appeal.expected_additional_cents == 90_000
    # Never more than billed.
    third = await adjudicated(stub, t, denied("50"))
    appeal = await file(stub, t, third, pb.APPEAL_LEVEL_FIRST_INTERNAL)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await decide(stub, t, third, appeal.appeal_id, pb.APPEAL_OUTCOME_OVERTURNED,
                     paid=249_001)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
