"""IDR money per party (DOMAIN.md §1.8): fees each party paid, got back and forfeited, recorded
with date and source; refunds follow the outcome from what was actually paid."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.errors import FailedPrecondition
from services.negotiation.tests.builders import ENGINE, approver, negotiator, offer, pending
from services.negotiation.tests.test_federal_idr import in_idr

PAID_ON = date(2026, 8, 3)


def record(n, party: str, kind: str, movement: str, cents: int, on: date = PAID_ON,
           source: str = "portal_receipt") -> None:
    assert n.dispute is not None
    n.dispute.record_fee(
        negotiator(), claim=n.negotiation.disputed_claim, party=party, fee_kind=kind,
        movement=movement, amount_cents=cents, occurred_on=on, source=source,
        source_reference=f"{party}-{kind}-{movement}")


def both_paid(idre_fee: int = 50_000):
    n = in_idr(idre_fee_cents=idre_fee)
    for party in ("provider", "payer"):
        record(n, party, "administrative", "paid", 1_500, source="invoice")
        record(n, party, "idre", "paid", idre_fee)
    return n


def settle(n) -> None:
    n.submit_idr_offer(negotiator(), party="provider", amount_cents=160_000,
                       submitted_on=date(2026, 8, 3))
    offer(n, "payer", 110_000, "late-offer", made_on=date(2026, 8, 10))
    n.propose_decision(negotiator(), decision_id="settle", action="accept",
                       offer_id="late-offer", counter_amount_cents=0, rationale="",
                       engine=ENGINE)
    n.approve_decision(approver(), decision_id="settle", engine=ENGINE,
                       decided_on=date(2026, 8, 12))


def test_settlement_after_both_paid_returns_half_of_each_partys_idre_fee() -> None:
    n = both_paid(50_001)
    settle(n)
    agreed = pending(n.negotiation)[-1]
    assert type(agreed).__name__ == "SettlementAgreed"
    # From the recorded facts: what the provider paid, half of its IDRE fee back.
    assert (agreed.administrative_fee_cents, agreed.idre_fee_paid_cents,
            agreed.idre_fee_refund_cents) == (1_500, 50_001, 25_001)
    claim = n.negotiation.disputed_claim
    for party in ("provider", "payer"):
        fees = n.dispute.party_fees(party, claim)
        assert (fees.idre_refund_entitled_cents, fees.net_cost_cents) == (25_001, 26_500)
        record(n, party, "idre", "refunded", 25_001, on=date(2026, 9, 1))
        record(n, party, "idre", "forfeited", 25_000, on=date(2026, 9, 1))
        fees = n.dispute.party_fees(party, claim)
        assert (fees.idre_refunded_cents, fees.refund_outstanding_cents) == (25_001, 0)
    with pytest.raises(FailedPrecondition, match=r"§1\.8.*owed 0 cents"):
        record(n, "payer", "idre", "refunded", 1, on=date(2026, 9, 2))


def test_the_loser_pays_and_the_winner_gets_its_idre_fee_back() -> None:
    n = both_paid()
    n.submit_idr_offer(negotiator(), party="provider", amount_cents=160_000,
                       submitted_on=PAID_ON)
    n.submit_idr_offer(negotiator(), party="payer", amount_cents=42_000, submitted_on=PAID_ON)
    n.record_determination(negotiator(), prevailing_party="payer",
                           determined_on=date(2026, 9, 1), engine=ENGINE)
    determined = next(e for e in pending(n) if type(e).__name__ == "IdrDetermined")
    assert (determined.idre_fee_paid_cents, determined.idre_fee_refund_cents) == (50_000, 0)
    claim = n.negotiation.disputed_claim
    assert n.dispute.party_fees("payer", claim).idre_refund_entitled_cents == 50_000
    assert n.dispute.party_fees("provider", claim).net_cost_cents == 51_500
    with pytest.raises(FailedPrecondition, match="owed 0 cents"):
        record(n, "provider", "idre", "refunded", 50_000, on=date(2026, 9, 2))
    record(n, "provider", "idre", "forfeited", 50_000, on=date(2026, 9, 2))


def test_bad_fee_movements_are_refused_citing_the_rule_and_nothing_is_stored() -> None:
    n = in_idr(idre_fee_cents=50_000)
    assert n.dispute is not None
    with pytest.raises(FailedPrecondition, match=r"§1\.8.*more than the published fee of 50000"):
        record(n, "payer", "idre", "paid", 50_001)
    with pytest.raises(FailedPrecondition, match=r"§1\.8.*more than the published fee of 1500"):
        record(n, "provider", "administrative", "paid", 11_500)
    with pytest.raises(FailedPrecondition, match=r"§1\.8.*paid no idre fee"):
        record(n, "provider", "idre", "refunded", 100)
    record(n, "provider", "administrative", "paid", 1_500)
    settle(n)
    with pytest.raises(FailedPrecondition, match="non-refundable"):
        record(n, "provider", "administrative", "refunded", 1_500, on=date(2026, 9, 1))
    with pytest.raises(FailedPrecondition, match="dispute has ended"):
        record(n, "payer", "idre", "paid", 50_000, on=date(2026, 9, 1))
    recorded = [e for e in n.dispute.pending_events if type(e).__name__ == "IdrFeeRecorded"]
    assert [getattr(e, "movement") for e in recorded] == ["paid"]  # noqa: B009
    assert [e.movement for e in n.dispute.fee_ledger.entries] == ["paid"]
