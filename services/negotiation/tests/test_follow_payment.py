"""An open case follows a payment the payer made after it opened (issue 22: an appeal overturn
on the claim): the already-paid amount and what is in dispute follow, and a case with nothing
left in dispute closes with the reason."""

from __future__ import annotations

import pytest

from services.common.errors import FailedPrecondition
from services.negotiation.tests.builders import event_names, negotiator, opened


def test_a_partial_payment_updates_the_case_and_what_is_in_dispute():
    case = opened()  # billed 250,000, cost sharing 5,000, paid 35,000
    assert case.amount_in_dispute_cents == 210_000
    case.follow_payment(negotiator(), paid_cents=65_000, source="appeal decision")
    assert event_names(case) == ["AlreadyPaidUpdated"]
    assert (case.already_paid_cents, case.amount_in_dispute_cents) == (65_000, 180_000)
    assert case.status == "open"
    # The disputed claim (an IDR dispute's facts) and an agreement use the new number.
    assert case.disputed_claim.already_paid_cents == 65_000


def test_paid_in_full_closes_the_case_with_the_reason_and_refuses_later_acts():
    case = opened()
    case.follow_payment(negotiator(), paid_cents=245_000, source="appeal decision")
    assert event_names(case) == ["AlreadyPaidUpdated", "NegotiationClosed"]
    assert case.status == "closed" and "no longer warranted" in case.closed_reason
    assert case.amount_in_dispute_cents == 0
    with pytest.raises(FailedPrecondition):
        case.send_open_negotiation_notice(negotiator(), sent_on=case.service_date,
                                          channel="portal", portal_reference="x")


def test_the_same_payment_again_or_a_closed_case_records_nothing():
    case = opened()
    context = negotiator()
    case.follow_payment(context, paid_cents=35_000, source="appeal decision")
    assert event_names(case) == []
    case.follow_payment(negotiator(), paid_cents=245_000, source="appeal decision")
    case.collect_events()
    case.follow_payment(negotiator(), paid_cents=250_000, source="appeal decision")
    assert event_names(case) == []
