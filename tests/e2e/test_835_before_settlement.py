"""Through the gateway only: the payer's 835 arrives while the claim is still in negotiation
(no settlement open), so its payment is queued; once the agreement opens the settlement, the
payment posts by itself, fees bills exactly one fee on it, and the ledger has every event."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from oonledger.operations.v1 import operations_pb2 as ops_pb
from oonledger.operations.v1.operations_pb2_grpc import OperatorServiceStub
from oonledger.settlement.v1 import settlement_pb2
from tests.e2e.compliance_views import ledger_with_fees
from tests.e2e.journey import Vendor
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

NO_SETTLEMENT = "no settlement is open for the matched claim"


async def exceptions(vendor: Vendor, claim_id: str) -> list[settlement_pb2.PaymentException]:
    reply = await vendor.settlement.ListExceptions(
        settlement_pb2.ListExceptionsRequest(page_size=500, include_resolved=True),
        metadata=vendor.md("finance"), timeout=15)
    # The claim's CLP exception (its SVC, matched to no 837 line once posted, is queued apart
    # as a service-line item, as the import's posting would queue it).
    return [e for e in reply.exceptions if e.candidate_claim_id == claim_id
            and e.kind == settlement_pb2.EXCEPTION_KIND_CLAIM]


async def remitted_before_settlement(vendor: Vendor, claim_id: str,
                                     pcn: str) -> settlement_pb2.PaymentException:
    """The 835 paying $600 on the claim, queued for want of a settlement. Settlement learns the
    claim from the claims stream: an 835 that came first matched no claim (an exception naming
    none, left in the queue), and the payer's next file is sent."""
    for _ in range(60):
        imported, _ = await vendor.remit_835(pcn, 60_000, date(2026, 11, 9))
        assert imported.status == settlement_pb2.IMPORT_STATUS_POSTED, imported
        assert imported.remittances[0].exception_count == 1, imported  # never posted

        async def queued(rid_: str = imported.remittances[0].remittance_id
                         ) -> settlement_pb2.PaymentException | None:
            reply = await vendor.settlement.ListExceptions(
                settlement_pb2.ListExceptionsRequest(page_size=500),
                metadata=vendor.md("finance"), timeout=15)
            return next((e for e in reply.exceptions
                         if e.remittance_id == rid_), None)

        item = await eventually(queued, timeout=30)  # type: ignore[arg-type]
        if item.candidate_claim_id == claim_id:
            return item
        await asyncio.sleep(0.5)
    raise AssertionError(f"settlement never learnt the claim of {pcn}")


async def test_an_835_before_the_settlement_posts_once_it_opens_and_bills_one_fee(
        stack, channel):
    stack.require("claims", "negotiation", "settlement", "fees", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    await vendor.publish_fee_schedule(rate_bps=2500)
    (claim_id, pcn), *_ = await vendor.import_claims(2)
    await vendor.adjudicate_and_triage(claim_id)  # paid $450 of $1,200 to come, $150 patient
    nid = await vendor.negotiation_of(claim_id)
    await vendor.negotiate_to_counter(nid)

    # The payer pays the balance it is about to agree to before the agreement is recorded.
    item = await remitted_before_settlement(vendor, claim_id, pcn)
    assert (item.reason, item.paid_cents, item.resolved) == (NO_SETTLEMENT, 60_000, False)

    agreed = await vendor.agree(nid, "theirs-1")
    assert agreed.status == "agreed" and agreed.agreed_total_cents == 120_000

    async def paid() -> settlement_pb2.Settlement | None:
        current = await vendor.settlement_of(claim_id, timeout=120)
        return current if current.status == settlement_pb2.SETTLEMENT_STATUS_PAID else None

    settlement = await eventually(paid, timeout=60)  # type: ignore[arg-type]
    posted = [p for p in settlement.payments if p.remittance_id]
    assert [(p.amount_cents, p.reversed) for p in posted] == [(60_000, False)]
    assert settlement.outstanding_cents == 0
    # Its SVC went through rule 5 as the import's would (one SVC for the whole claim: no line).
    assert [line.outcome for line in posted[0].lines] == [
        settlement_pb2.LINE_MATCH_OUTCOME_UNMATCHED]

    async def resolved() -> settlement_pb2.PaymentException | None:
        (found,) = await exceptions(vendor, claim_id)
        return found if found.resolved else None

    item = await eventually(resolved, timeout=30)  # type: ignore[arg-type]
    assert (item.resolved_claim_id, item.resolution_cause) == (claim_id, "settlement_opened")

    # Fees: 25 % of the $600 recovered above the initial payment = $150, billed once.
    account = await vendor.fee_account(claim_id, billed_cents=15_000)
    assert account.recovered_cents == 60_000
    await asyncio.sleep(1.0)  # a second posting or fee would show by now
    again = await vendor.fee_account(claim_id, billed_cents=15_000)
    assert [line.amount_cents for line in again.lines] == [15_000]
    assert [p.amount_cents for p in (await vendor.settlement_of(claim_id)).payments
            if p.remittance_id] == [60_000]

    # The ledger: the claim's chain holds the waitlist, the opening, the payment and the fee
    # posting, and the auditor's fold reads every one of them.
    wanted = {"ClaimPaymentWaitlisted", "SettlementOpened", "PaymentPosted", "FeePosted",
              "FeeAssessed"}

    async def replayed() -> list[dict] | None:
        entries = await vendor.audit_replay_json(claim_id)
        return entries if wanted <= {e["eventType"] for e in entries} else None

    entries = await eventually(replayed, timeout=30)  # type: ignore[arg-type]
    assert sum(e["eventType"] == "PaymentPosted" for e in entries) == 1
    assert sum(e["eventType"] == "FeeAssessed" for e in entries) == 1

    state = await ledger_with_fees(vendor, claim_id)
    assert list(state.unfolded_events) == []
    assert [p.amount_cents for p in state.payments if p.event_type == "PaymentPosted"] == [60_000]
    assert [f.amount_cents for f in state.fees] == [15_000]

    # Reconciliation for the tenant: every event settlement recorded reached the ledger, one
    # payment, its fee, no gap.
    admin = (("authorization", f"Bearer {await stack.partner(vendor.tenant, 'admin')}"),)

    async def reconciled() -> ops_pb.ReconciliationReport | None:
        report = await OperatorServiceStub(channel).Reconcile(
            ops_pb.ReconcileRequest(), metadata=admin, timeout=60)
        by_service = {counts.service: counts for counts in report.services}
        appended = {item.service: item.appended for item in by_service["ledger"].ledger}
        done = (report.healthy and not report.gaps
                and appended.get("settlement") == by_service["settlement"].recorded)
        return report if done else None

    report = await eventually(reconciled, timeout=90)  # type: ignore[arg-type]
    by_service = {counts.service: counts for counts in report.services}
    assert by_service["ledger"].payments.payments == 1
