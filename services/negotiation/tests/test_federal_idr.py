"""Federal IDR on the aggregate: the window, routing, cooling-off, IDRE, offers, fees, outcomes."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.errors import FailedPrecondition, InvalidArgument
from services.negotiation.domain.cooling_off import CoolingOffPeriod
from services.negotiation.domain.deadlines import DeadlineCode
from services.negotiation.tests.builders import (
    ENGINE,
    Case,
    approver,
    negotiator,
    offer,
    pending,
    with_notice,
)

# ON sent Tue 2026-06-02 -> ON day 30 is Wed 2026-07-15 (Juneteenth and Jul 3 skipped),
# so the initiation window is Thu 2026-07-16 .. Tue 2026-07-21.
ON_SENT = date(2026, 6, 2)
WINDOW = (date(2026, 7, 16), date(2026, 7, 21))


def idr_approved(**overrides: object) -> Case:
    n = Case(with_notice(sent_on=ON_SENT, **overrides))
    n.propose_decision(
        negotiator(),
        decision_id="go-idr",
        action="idr",
        offer_id="",
        counter_amount_cents=0,
        rationale="payer stuck at QPA",
        engine=ENGINE,
    )
    n.approve_decision(approver(), decision_id="go-idr", engine=ENGINE)
    n.collect_events()
    return n


def initiate(n: Case, on: date, periods: list[CoolingOffPeriod] | None = None) -> None:
    n.initiate_idr(
        negotiator(),
        dispute_number="DISP-1",
        initiated_on=on,
        initiating_party="provider",
        engine=ENGINE,
        cooling_off=periods or [],
    )


def _select(n: Case, fee: int) -> None:
    n.select_idre(
        negotiator(),
        idre_id="idre-7",
        method="joint",
        selected_on=date(2026, 7, 22),
        idre_fee_cents=fee,
        engine=ENGINE,
    )


def in_idr(initiated_on: date = date(2026, 7, 17), idre_fee_cents: int = 50_000) -> Case:
    n = idr_approved()
    initiate(n, initiated_on)
    _select(n, idre_fee_cents)
    n.record_eligibility(negotiator(), eligible=True, decided_on=date(2026, 7, 29), reason="")
    n.collect_events()
    return n


def test_window_is_business_days_31_to_34_of_open_negotiation() -> None:
    t3 = idr_approved().deadlines(ENGINE).get(DeadlineCode.T3)
    assert t3 is not None and (t3.opens, t3.due) == WINDOW


@pytest.mark.parametrize(
    ("on", "reason"),
    [(date(2026, 7, 15), "too early"), (date(2026, 7, 22), "too late")],
)
def test_initiation_outside_the_window_is_refused_with_the_reason(on: date, reason: str) -> None:
    n = idr_approved()
    with pytest.raises(FailedPrecondition, match=reason):
        initiate(n, on)
    assert pending(n) == [] and n.status == "open"


@pytest.mark.parametrize("on", [WINDOW[0], WINDOW[1]])
def test_initiation_inside_the_window_is_accepted(on: date) -> None:
    n = idr_approved()
    initiate(n, on)
    (event,) = pending(n)
    assert type(event).__name__ == "IdrInitiated"
    assert event.rule_set_version == "nsa-2026-06-11"
    assert event.administrative_fee_cents == 1_500


def test_the_admin_fee_era_follows_the_initiation_date() -> None:
    n = Case(with_notice(sent_on=date(2026, 4, 20), initial_payment_received_on=date(2026, 4, 1)))
    n.propose_decision(
        negotiator(),
        decision_id="d",
        action="idr",
        offer_id="",
        counter_amount_cents=0,
        rationale="",
        engine=ENGINE,
    )
    n.approve_decision(approver(), decision_id="d", engine=ENGINE)
    window = n.deadlines(ENGINE).get(DeadlineCode.T3)
    assert window is not None and window.opens is not None
    assert window.opens <= date(2026, 6, 4)  # a date before the 2026-06-11 switch
    initiate(n, window.opens)
    assert pending(n)[-1].administrative_fee_cents == 11_500


def test_a_claim_routed_to_the_state_process_cannot_go_to_federal_idr() -> None:
    n = idr_approved(route="state_process")
    with pytest.raises(FailedPrecondition, match="not eligible for federal IDR"):
        initiate(n, WINDOW[0])


def test_the_provider_must_approve_going_to_idr() -> None:
    n = Case(with_notice(sent_on=ON_SENT))
    with pytest.raises(FailedPrecondition, match="not approved"):
        initiate(n, WINDOW[0])


def _period(
    n: Case, starts: date, ends: date, family: str = "radiology"
) -> CoolingOffPeriod:
    mine, theirs = n.party_keys("provider")
    return CoolingOffPeriod(mine, theirs, family, starts, ends, "DISP-0")


def test_cooling_off_against_the_same_party_for_a_similar_service_blocks_initiation() -> None:
    n = idr_approved()
    blocking = _period(n, date(2026, 6, 1), date(2026, 8, 29))
    with pytest.raises(FailedPrecondition, match="cooling-off from dispute DISP-0"):
        initiate(n, WINDOW[0], [blocking])


def test_cooling_off_for_another_service_or_party_does_not_block() -> None:
    n = idr_approved()
    other_service = _period(n, date(2026, 6, 1), date(2026, 8, 29), family="anesthesia")
    mine, _ = n.party_keys("provider")
    other_party = CoolingOffPeriod(
        mine, "issuer:other", "radiology", date(2026, 6, 1), date(2026, 8, 29), "DISP-9"
    )
    initiate(n, WINDOW[0], [other_service, other_party])
    assert n.status == "in_idr"


def test_items_blocked_by_cooling_off_may_be_filed_within_30_bd_after_it_ends() -> None:
    n = idr_approved()
    period = _period(n, date(2026, 6, 1), date(2026, 8, 29))
    with pytest.raises(FailedPrecondition, match="too late"):
        initiate(n, date(2026, 10, 20), [period])  # 30 BD from 08-30 end on 10-13
    initiate(n, date(2026, 9, 15), [period])
    assert n.status == "in_idr"


def test_idre_fee_must_be_in_the_eras_range_and_default_pick_waits_for_t4() -> None:
    n = idr_approved()
    initiate(n, date(2026, 7, 17))
    with pytest.raises(InvalidArgument, match="between 20000 and 84000"):
        n.select_idre(
            negotiator(),
            idre_id="i",
            method="joint",
            selected_on=date(2026, 7, 20),
            idre_fee_cents=99_000,
            engine=ENGINE,
        )
    with pytest.raises(FailedPrecondition, match="only after"):
        n.select_idre(
            negotiator(),
            idre_id="i",
            method="default",
            selected_on=date(2026, 7, 22),
            idre_fee_cents=50_000,
            engine=ENGINE,
        )


def test_win_loser_pays_and_the_clients_fee_comes_back() -> None:
    n = in_idr()
    n.submit_idr_offer(
        negotiator(), party="provider", amount_cents=160_000, submitted_on=date(2026, 8, 3)
    )
    n.submit_idr_offer(
        negotiator(), party="payer", amount_cents=42_000, submitted_on=date(2026, 8, 4)
    )
    n.record_determination(
        negotiator(), prevailing_party="provider", determined_on=date(2026, 9, 1), engine=ENGINE
    )
    events = pending(n)
    determined = next(e for e in events if type(e).__name__ == "IdrDetermined")
    assert determined.award_total_cents == 160_000  # a submitted offer, never a midpoint
    assert determined.amount_owed_cents == 160_000 - 5_000 - 35_000
    assert determined.payment_due_on == date(2026, 10, 1)
    assert determined.default_determination is False
    assert (
        determined.administrative_fee_cents,
        determined.idre_fee_paid_cents,
        determined.idre_fee_refund_cents,
    ) == (1_500, 50_000, 50_000)
    assert determined.fee_refund_due_on == date(2026, 10, 15)
    cooling = events[-1]
    assert type(cooling).__name__ == "CoolingOffStarted"
    assert (cooling.starts_on, cooling.ends_on) == (date(2026, 9, 2), date(2026, 11, 30))


def test_loss_nothing_comes_back_and_the_plan_may_owe_nothing_more() -> None:
    n = in_idr()
    n.submit_idr_offer(
        negotiator(), party="provider", amount_cents=160_000, submitted_on=date(2026, 8, 3)
    )
    n.submit_idr_offer(
        negotiator(), party="payer", amount_cents=38_000, submitted_on=date(2026, 8, 4)
    )
    n.record_determination(
        negotiator(), prevailing_party="payer", determined_on=date(2026, 9, 1), engine=ENGINE
    )
    determined = next(e for e in pending(n) if type(e).__name__ == "IdrDetermined")
    assert determined.award_total_cents == 38_000
    assert determined.amount_owed_cents == -2_000  # the provider refunds the overpayment
    assert (determined.idre_fee_paid_cents, determined.idre_fee_refund_cents) == (50_000, 0)
    assert determined.fee_refund_due_on is None


def test_default_determination_when_the_other_side_does_not_submit() -> None:
    n = in_idr()
    n.submit_idr_offer(
        negotiator(), party="provider", amount_cents=160_000, submitted_on=date(2026, 8, 3)
    )
    with pytest.raises(FailedPrecondition, match="submitted no offer"):
        n.record_determination(
            negotiator(), prevailing_party="payer", determined_on=date(2026, 9, 1), engine=ENGINE
        )
    n.record_determination(
        negotiator(), prevailing_party="provider", determined_on=date(2026, 9, 1), engine=ENGINE
    )
    determined = next(e for e in pending(n) if type(e).__name__ == "IdrDetermined")
    assert determined.default_determination is True


def test_settlement_during_idr_returns_half_the_idre_fee() -> None:
    n = in_idr(idre_fee_cents=50_001)
    n.submit_idr_offer(
        negotiator(), party="provider", amount_cents=160_000, submitted_on=date(2026, 8, 3)
    )
    offer(n, "payer", 110_000, "late-offer", made_on=date(2026, 8, 10))
    n.propose_decision(
        negotiator(),
        decision_id="settle",
        action="accept",
        offer_id="late-offer",
        counter_amount_cents=0,
        rationale="",
        engine=ENGINE,
    )
    n.approve_decision(
        approver(), decision_id="settle", engine=ENGINE, decided_on=date(2026, 8, 12)
    )
    agreed = pending(n.negotiation)[-1]  # the negotiation records the agreement
    assert type(agreed).__name__ == "SettlementAgreed"
    assert agreed.during_idr is True and agreed.dispute_number == "DISP-1"
    assert (agreed.idre_fee_paid_cents, agreed.idre_fee_refund_cents) == (50_001, 25_001)
    assert agreed.administrative_fee_cents == 1_500
    assert agreed.report_due_on == date(2026, 8, 17)
    with pytest.raises(FailedPrecondition):
        n.record_determination(
            negotiator(), prevailing_party="provider", determined_on=date(2026, 9, 1), engine=ENGINE
        )


def test_an_ineligible_dispute_keeps_the_admin_fee_and_closes() -> None:
    n = idr_approved()
    initiate(n, date(2026, 7, 17))
    n.select_idre(
        negotiator(),
        idre_id="idre-7",
        method="objection",
        selected_on=date(2026, 7, 22),
        idre_fee_cents=50_000,
        engine=ENGINE,
    )
    n.record_eligibility(
        negotiator(),
        eligible=False,
        decided_on=date(2026, 7, 29),
        reason="specified state law applies",
    )
    closed = pending(n)[-1]
    assert type(closed).__name__ == "IdrClosed" and closed.outcome == "ineligible"
    assert closed.administrative_fee_cents == 1_500 and closed.idre_fee_refund_cents == 0
    assert n.status == "closed"


def test_offers_and_determination_need_the_right_stage() -> None:
    n = idr_approved()
    initiate(n, date(2026, 7, 17))
    with pytest.raises(FailedPrecondition, match="none selected"):
        n.submit_idr_offer(
            negotiator(), party="provider", amount_cents=1, submitted_on=date(2026, 7, 20)
        )
    with pytest.raises(FailedPrecondition, match="not found the dispute eligible"):
        n.record_determination(
            negotiator(), prevailing_party="provider", determined_on=date(2026, 9, 1), engine=ENGINE
        )


def _batched_in_idr(items: int) -> Case:
    n = idr_approved()
    n.initiate_idr(
        negotiator(),
        dispute_number="DISP-B",
        initiated_on=date(2026, 7, 17),
        initiating_party="provider",
        engine=ENGINE,
        cooling_off=[],
        batch_negotiation_ids=[f"n-{i}" for i in range(items)],
    )
    return n


def test_a_batch_beyond_25_line_items_may_carry_the_idres_block_surcharge() -> None:
    # 30 items: the batched range ($268 to $1,173) plus one block of $75 to $250.
    with pytest.raises(InvalidArgument, match=r"batched \(30 line items\).*34300 and 142300"):
        _select(_batched_in_idr(30), 142_301)
    surcharged = _batched_in_idr(30)
    _select(surcharged, 142_300)
    assert surcharged.dispute is not None and surcharged.dispute.idre is not None
    assert surcharged.dispute.idre.idre_fee_cents == 142_300
    # 25 items are still one block: the surcharge is refused.
    with pytest.raises(InvalidArgument, match="26800 and 117300"):
        _select(_batched_in_idr(25), 117_301)
