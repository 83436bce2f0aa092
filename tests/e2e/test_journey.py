"""A vendor's journey through the gateway only: bulk import → triage → negotiation with
provider approval → agreement → 835 payment → fee → invoice → the auditor replays and
verifies the claim."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from oonledger.fees.v1 import fees_pb2
from oonledger.ledger.v1 import ledger_pb2
from oonledger.settlement.v1 import settlement_pb2
from tests.e2e.compliance_views import ledger_with_fees
from tests.e2e.journey import CLIENT, Vendor, rid
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def agreed_claim(vendor: Vendor, bulk: int = 25) -> tuple[str, str, str]:
    """Import a batch, work its first claim to an agreement of $1,200 and wait until settlement
    has opened it: (claim, PCN, negotiation)."""
    imported = await vendor.import_claims(bulk)
    claim_id, pcn = imported[0]
    triage = await vendor.adjudicate_and_triage(claim_id)
    assert triage.nsa_protected and triage.worth_negotiating, triage
    nid = await vendor.negotiation_of(claim_id)
    counter = await vendor.negotiate_to_counter(nid)
    assert counter.kind == "counter"
    agreed = await vendor.agree(nid, "theirs-1")
    assert agreed.status == "agreed" and agreed.agreed_total_cents == 120_000
    # Settlement opens from negotiation's event a moment later; an 835 imported before that
    # goes, as it should, to the exceptions queue (no settlement open for the claim).
    await vendor.settlement_of(claim_id, timeout=120)
    return claim_id, pcn, nid


async def test_import_to_agreement_payment_fee_invoice_and_audit(stack, channel):
    stack.require("claims", "negotiation", "settlement", "fees", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    await vendor.publish_fee_schedule(rate_bps=2500)
    claim_id, pcn, _ = await agreed_claim(vendor)

    # Settlement opened from the agreement: $1,200 total - $150 cost sharing - $450 paid.
    settlement = await vendor.settlement_of(claim_id)
    assert settlement.amount_owed_cents == 60_000 and settlement.source == "agreement"

    # The payer's 835 pays the balance; the claim is paid in full.
    imported, _ = await vendor.remit_835(pcn, 60_000, date(2026, 11, 20))
    assert imported.status == settlement_pb2.IMPORT_STATUS_POSTED, imported

    async def paid() -> bool:
        current = await vendor.settlement_of(claim_id)
        return current.status == settlement_pb2.SETTLEMENT_STATUS_PAID

    await eventually(paid, timeout=30)  # type: ignore[arg-type]

    # Fees: 25 % of what was recovered above the initial payment ($600) = $150, once.
    account = await vendor.fee_account(claim_id, billed_cents=15_000)
    assert account.recovered_cents == 60_000
    await vendor.fee_lines_listed(claim_id)
    # A period can be closed once it has ended: November so far (up to yesterday).
    period_end = (date.today() - timedelta(days=1)).isoformat()
    invoice = (await vendor.fees.CloseInvoicePeriod(fees_pb2.CloseInvoicePeriodRequest(
        request_id=rid(), client_id=CLIENT, period_start="2026-11-01",
        period_end=period_end), metadata=vendor.md("finance"), timeout=15)).invoice
    assert invoice.total_cents == 15_000
    assert [line.claim_id for line in invoice.lines] == [claim_id]

    # The auditor replays the claim (NDJSON over HTTP) and verifies its chain (gRPC).
    async def replayed() -> list[dict] | None:
        entries = await vendor.audit_replay_json(claim_id)
        services = {e["service"] for e in entries}
        wanted = {"claims", "negotiation", "settlement", "fees"}
        return entries if wanted <= services else None

    entries = await eventually(replayed, timeout=30)  # type: ignore[arg-type]
    assert [int(e["chainSeq"]) for e in entries] == list(range(1, len(entries) + 1))
    assert {e["tenantId"] for e in entries} == {vendor.tenant}
    verified = await vendor.audit.VerifyClaim(ledger_pb2.VerifyClaimRequest(claim_id=claim_id),
                                              metadata=vendor.md("auditor"), timeout=15)
    assert verified.ok and verified.entries_checked >= len(entries)

    # The auditor's as-of view folds the contract messages the ledger kept byte for byte: the
    # agreement with negotiation's due date, the payment and the fee, nothing left unread.
    state = await ledger_with_fees(vendor, claim_id)
    assert list(state.unfolded_events) == []
    assert state.agreed_amount_cents == 120_000
    assert [p.amount_cents for p in state.payments if p.event_type == "PaymentPosted"] == [60_000]
    assert [f.amount_cents for f in state.fees] == [15_000]
    assert "payment_due" in {d.name for d in state.deadlines}
