"""Issue 22 items 2, 4 and 5 through the gateway: the work queue follows each denial's action,
appeals go level by level, an upheld level starts the next level's deadline in the queue (a
timely-filing denial included), an overturn changes what was paid and an open negotiation follows
it (or closes with a reason when nothing is left to dispute), and the clean-claim tables cite
their version."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import grpc
import pytest

from oonledger.claims.v1 import claims_pb2 as pb
from oonledger.negotiation.v1 import negotiation_pb2 as npb
from services.claims.adapters import mapping
from services.claims.tests.factories import emergency_claim
from tests.e2e.journey import Vendor, rid
from tests.e2e.test_denial_work_queue import adjudicate, triage
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

PAID_BELOW_QPA = dict(allowed_cents=60_000, paid_cents=45_000, patient_responsibility_cents=15_000,
                      carc_codes=["45"], qpa_cents=52_000, qpa_disclosed=True)


async def queue(vendor: Vendor, claim_id: str) -> list[pb.WorkItem]:
    reply = await vendor.claims.ClaimsWorkQueue(
        pb.ClaimsWorkQueueRequest(), metadata=vendor.md("negotiator"), timeout=15)
    return [i for i in reply.items if i.claim_id == claim_id]


async def file(vendor: Vendor, claim_id: str, level: int) -> pb.Appeal:
    return (await vendor.claims.FileAppeal(pb.FileAppealRequest(
        request_id=rid(), claim_id=claim_id, level=level, grounds="the service was covered",
        channel=pb.APPEAL_CHANNEL_PORTAL), metadata=vendor.md("negotiator"), timeout=15)).appeal


async def decide(vendor: Vendor, claim_id: str, appeal: pb.Appeal, outcome: int,
                 paid: int = 0) -> pb.Claim:
    return (await vendor.claims.RecordAppealDecision(pb.RecordAppealDecisionRequest(
        request_id=rid(), claim_id=claim_id, appeal_id=appeal.appeal_id, outcome=outcome,
        decision_date=appeal.filed_date, additional_paid_cents=paid),
        metadata=vendor.md("negotiator"), timeout=15)).claim


async def negotiation(vendor: Vendor, nid: str) -> npb.Negotiation:
    return (await vendor.negotiation.GetNegotiation(
        npb.GetNegotiationRequest(negotiation_id=nid), metadata=vendor.md("negotiator"),
        timeout=15)).negotiation


async def test_the_work_queue_follows_each_denials_action(stack, channel):
    stack.require("claims")
    vendor = await Vendor.enrol(stack, channel)
    expected = {"16": pb.WORK_ITEM_KIND_RESUBMIT_CORRECTED, "18": pb.WORK_ITEM_KIND_CLOSE_DUPLICATE,
                "45": pb.WORK_ITEM_KIND_NEGOTIATE, "197": pb.WORK_ITEM_KIND_ATTACH_DOCUMENTS,
                "50": pb.WORK_ITEM_KIND_APPEAL_DUE}
    claims = dict(zip(expected, await vendor.import_claims(len(expected)), strict=True))
    for carc, (claim_id, _) in claims.items():
        await adjudicate(vendor, claim_id, denied=True, carc_codes=[carc])
    for carc, (claim_id, _) in claims.items():
        async def item(claim_id: str = claim_id) -> pb.WorkItem | None:
            return next(iter(await queue(vendor, claim_id)), None)

        got = await eventually(item, timeout=60)
        assert got.kind == expected[carc], (carc, got)
        assert got.due_date and got.due_rule and got.rule_set_version == "denials/2026.12"
        assert carc in got.detail


async def test_appeals_go_level_by_level_and_an_upheld_level_starts_the_next_deadline(
        stack, channel):
    stack.require("claims")
    vendor = await Vendor.enrol(stack, channel)
    [(claim_id, _)] = await vendor.import_claims(1)
    await adjudicate(vendor, claim_id, denied=True, carc_codes=["29"])  # timely filing
    for skipped in (pb.APPEAL_LEVEL_SECOND_INTERNAL, pb.APPEAL_LEVEL_EXTERNAL_REVIEW):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await file(vendor, claim_id, skipped)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "appeals/2026.12" in (refused.value.details() or "")
    first = await file(vendor, claim_id, pb.APPEAL_LEVEL_FIRST_INTERNAL)
    decided = await decide(vendor, claim_id, first, pb.APPEAL_OUTCOME_UPHELD)
    due = (date.fromisoformat(first.filed_date) + timedelta(days=180)).isoformat()

    async def second_level_due() -> pb.WorkItem | None:
        return next((i for i in await queue(vendor, claim_id)
                     if i.kind == pb.WORK_ITEM_KIND_APPEAL_DUE and i.due_date == due), None)

    item = await eventually(second_level_due, timeout=60)  # not dropped from the queue
    assert "second_internal" in item.detail or "second" in item.due_rule
    assert decided.paid_cents == 0
    # Level 2 overturns with +$1,200: paid, no longer denied.
    second = await file(vendor, claim_id, pb.APPEAL_LEVEL_SECOND_INTERNAL)
    paid = await decide(vendor, claim_id, second, pb.APPEAL_OUTCOME_OVERTURNED, paid=120_000)
    assert paid.paid_cents == 120_000 and paid.status == pb.CLAIM_STATUS_APPEAL_OVERTURNED


async def test_an_overturn_reaches_the_open_negotiation_or_closes_it(stack, channel):
    stack.require("claims", "negotiation")
    vendor = await Vendor.enrol(stack, channel)
    (partly, _), (fully, _) = await vendor.import_claims(2)
    nids = {}
    for claim_id in (partly, fully):
        await adjudicate(vendor, claim_id, **PAID_BELOW_QPA)
        assert (await triage(vendor, claim_id)).worth_negotiating
        nids[claim_id] = await vendor.negotiation_of(claim_id)
        case = await negotiation(vendor, nids[claim_id])
        assert (case.already_paid_cents, case.amount_in_dispute_cents) == (45_000, 189_000)
    # A partial overturn of +$300: the case continues with what was paid.
    await decide(vendor, partly, await file(vendor, partly, pb.APPEAL_LEVEL_FIRST_INTERNAL),
                 pb.APPEAL_OUTCOME_PARTIALLY_OVERTURNED, paid=30_000)

    async def followed() -> npb.Negotiation | None:
        case = await negotiation(vendor, nids[partly])
        return case if case.already_paid_cents == 75_000 else None

    case = await eventually(followed, timeout=60)
    assert case.amount_in_dispute_cents == 159_000 and case.status == "open"
    # A full overturn pays what was billed: nothing is left to negotiate, the case closes.
    await decide(vendor, fully, await file(vendor, fully, pb.APPEAL_LEVEL_FIRST_INTERNAL),
                 pb.APPEAL_OUTCOME_OVERTURNED, paid=189_000)

    async def closed() -> npb.Negotiation | None:
        case = await negotiation(vendor, nids[fully])
        return case if case.status == "closed" else None

    case = await eventually(closed, timeout=60)
    assert case.already_paid_cents == 234_000 and case.amount_in_dispute_cents == 0
    assert "appeal" in case.closed_reason and "paid" in case.closed_reason


async def test_clean_claim_tables_give_findings_with_their_version(stack, channel):
    stack.require("claims")
    vendor = await Vendor.enrol(stack, channel)
    data = emergency_claim(patient_control_number=f"MOD{rid()[:10].upper()}")
    # The E/M without modifier 25 on the day of a minor procedure (12002, global 010).
    data = replace(data, lines=(replace(data.lines[0], modifiers=()), *data.lines[1:]))
    claim = (await vendor.claims.RegisterClaim(pb.RegisterClaimRequest(
        request_id=rid(), claim=mapping.claim_input(data)), metadata=vendor.md("negotiator"),
        timeout=15)).claim
    report = (await vendor.claims.CheckCleanClaim(pb.CheckCleanClaimRequest(
        request_id=rid(), claim_id=claim.claim_id), metadata=vendor.md("negotiator"),
        timeout=15)).report
    by_rule = {f.rule_id: f for f in report.findings}
    assert by_rule["CC19-MODIFIER-25"].blocking
    assert by_rule["CC19-MODIFIER-25"].rule_version == "required-modifiers/2026.12"
    # Old service dates: the self-funded plan's limit has passed, with the table's version.
    old = replace(data, lines=tuple(replace(line, service_date=date(2025, 1, 6))
                                    for line in emergency_claim().lines),
                  patient_control_number=f"TF{rid()[:10].upper()}")
    claim = (await vendor.claims.RegisterClaim(pb.RegisterClaimRequest(
        request_id=rid(), claim=mapping.claim_input(old)), metadata=vendor.md("negotiator"),
        timeout=15)).claim
    report = (await vendor.claims.CheckCleanClaim(pb.CheckCleanClaimRequest(
        request_id=rid(), claim_id=claim.claim_id), metadata=vendor.md("negotiator"),
        timeout=15)).report
    (late,) = [f for f in report.findings if f.rule_id == "CC18-TIMELY-FILING"]
    assert late.blocking and late.rule_version.startswith("timely-filing/")
    assert "self_funded_erisa" in late.message
