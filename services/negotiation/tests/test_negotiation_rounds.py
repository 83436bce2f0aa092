"""Given events, when a negotiation command runs, then events or an error (pure domain)."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.negotiation.domain import Negotiation, ProposedOffer
from services.negotiation.domain.approval_rules import AutoApprovalRule
from services.negotiation.domain.rule_sets import rule_set_on
from services.negotiation.tests.builders import (
    ENGINE,
    approver,
    ctx,
    event_names,
    negotiator,
    offer,
    open_fields,
    open_negotiation,
    opened,
    pending,
    with_notice,
)


@pytest.mark.parametrize(
    ("field", "value"),
    [("billed_cents", 0), ("billed_cents", -5), ("qpa_cents", 123.5), ("qpa_cents", True)],
)
def test_opening_rejects_bad_money_with_field_violations(field: str, value: object) -> None:
    with pytest.raises(InvalidArgument) as err:
        open_negotiation(negotiator(), **open_fields(**{field: value}))
    assert [v.field for v in err.value.violations] == [field]


def test_opening_rejects_unknown_route_and_future_dates() -> None:
    with pytest.raises(InvalidArgument) as err:
        open_negotiation(
            negotiator(),
            **open_fields(route="moon", initial_payment_received_on=date(2027, 1, 1)),
        )
    assert {v.field for v in err.value.violations} == {"route", "initial_payment_received_on"}


def test_notice_then_offers_and_counter_offers_are_their_own_events() -> None:
    n = with_notice()
    offer(n, "provider", 160_000, "o1")
    offer(n, "payer", 48_000, "o2")
    assert event_names(n) == ["OfferMade", "CounterOfferMade"]
    assert n.offers[0].percent_of_qpa_bp == 40_000  # 400 % of QPA
    assert n.offers[1].kind == "counter"


def test_offer_before_the_notice_is_refused() -> None:
    n = opened()
    with pytest.raises(FailedPrecondition, match="open-negotiation notice"):
        offer(n, "provider", 100_000)
    assert event_names(n) == []


@pytest.mark.parametrize("cents", [0, -100, 99.5, 1.0])
def test_offers_with_zero_negative_or_fractional_cents_change_nothing(cents: object) -> None:
    n = with_notice()
    with pytest.raises(InvalidArgument) as err:
        offer(n, "provider", cents)  # type: ignore[arg-type]
    assert err.value.violations[0].field == "amount_cents"
    assert event_names(n) == [] and n.offers == []


def test_unknown_basis_keys_and_channels_are_field_violations() -> None:
    n = with_notice()
    with pytest.raises(InvalidArgument) as err:
        n.make_offer(
            negotiator(),
            ProposedOffer(
                offer_id="x",
                party="provider",
                amount_cents=100,
                basis={"vibes": 1},
                channel="pigeon",
                notes="",
                document_refs=(),
                made_on=date(2026, 6, 10),
            ),
        )
    assert {v.field for v in err.value.violations} == {"basis", "channel"}


def test_a_retried_command_records_nothing_new() -> None:
    n = with_notice()
    retry = negotiator(request_id="same-request")
    offer(n, "provider", 160_000, "o1", context=retry)
    offer(n, "provider", 160_000, "o1", context=retry)
    assert event_names(n) == ["OfferMade"]


def test_provider_reply_to_a_payer_offer_needs_a_decision() -> None:
    n = with_notice()
    offer(n, "payer", 45_000, "p1")
    with pytest.raises(FailedPrecondition, match="decision point"):
        offer(n, "provider", 150_000)


def test_decisions_are_gated_by_role() -> None:
    n = with_notice()
    offer(n, "payer", 90_000, "p1")
    with pytest.raises(PermissionDenied):
        n.propose_decision(
            approver(),
            decision_id="d1",
            action="accept",
            offer_id="p1",
            counter_amount_cents=0,
            rationale="",
            engine=ENGINE,
        )
    n.propose_decision(
        negotiator(),
        decision_id="d1",
        action="accept",
        offer_id="p1",
        counter_amount_cents=0,
        rationale="fair",
        engine=ENGINE,
    )
    with pytest.raises(PermissionDenied):
        n.approve_decision(negotiator(), decision_id="d1", engine=ENGINE)
    with pytest.raises(PermissionDenied):
        n.approve_decision(ctx("supervisor"), decision_id="d1", engine=ENGINE)
    assert event_names(n) == ["OfferMade", "DecisionProposed"]
    n.approve_decision(approver(), decision_id="d1", engine=ENGINE, decided_on=date(2026, 6, 12))
    events = pending(n)
    assert [type(e).__name__ for e in events] == ["DecisionApproved", "SettlementAgreed"]
    agreed = events[1]
    assert agreed.agreed_total_cents == 90_000
    assert agreed.amount_owed_cents == 90_000 - 5_000 - 35_000
    # T8 under the rule set in force on the agreement day, named so settlement need not guess.
    rule_set = rule_set_on(date(2026, 6, 12))
    assert agreed.rule_set_version == rule_set.version
    assert agreed.payment_due_on == rule_set.payment_due_on(date(2026, 6, 12)) == date(2026, 7, 12)
    assert events[0].approved_by == "provider_approver@example.test"
    assert events[0].auto_approval_rule_id == ""


def test_an_agreement_recorded_before_the_rule_set_travelled_is_upcast() -> None:
    state = {"agreed_on": date(2026, 6, 12)}
    Negotiation.SettlementAgreed.upcast_v1_v2(state)
    assert state["rule_set_version"] == rule_set_on(date(2026, 6, 12)).version
    old = {"agreed_on": "2023-01-10"}  # however the stored date was decoded
    Negotiation.SettlementAgreed.upcast_v1_v2(old)
    assert old["rule_set_version"] == rule_set_on(date(2023, 1, 10)).version


def test_an_auto_approval_rule_decides_and_is_recorded() -> None:
    n = with_notice()
    offer(n, "payer", 130_000, "p1")  # 325 % of QPA
    n.collect_events()
    rules = [
        AutoApprovalRule("80pct-billed", min_basis_points_of_billed=8_000),
        AutoApprovalRule("3x-qpa", min_basis_points_of_qpa=30_000),
    ]
    n.propose_decision(
        negotiator(),
        decision_id="d1",
        action="accept",
        offer_id="p1",
        counter_amount_cents=0,
        rationale="",
        auto_rules=rules,
        engine=ENGINE,
    )
    events = pending(n)
    assert [type(e).__name__ for e in events] == [
        "DecisionProposed",
        "DecisionApproved",
        "SettlementAgreed",
    ]
    assert events[1].auto_approval_rule_id == "3x-qpa"
    assert events[1].approved_by == "auto-approval"


def test_no_rule_matches_so_a_person_must_decide() -> None:
    n = with_notice()
    offer(n, "payer", 50_000, "p1")
    n.propose_decision(
        negotiator(),
        decision_id="d1",
        action="accept",
        offer_id="p1",
        counter_amount_cents=0,
        rationale="",
        auto_rules=[AutoApprovalRule("3x-qpa", min_basis_points_of_qpa=30_000)],
        engine=ENGINE,
    )
    assert n.decisions["d1"].status == "proposed"


def test_an_approved_counter_becomes_the_providers_counter_offer() -> None:
    n = with_notice()
    offer(n, "payer", 45_000, "p1")
    n.propose_decision(
        negotiator(),
        decision_id="d1",
        action="counter",
        offer_id="p1",
        counter_amount_cents=120_000,
        rationale="",
        engine=ENGINE,
    )
    n.collect_events()
    n.approve_decision(approver(), decision_id="d1", engine=ENGINE)
    events = pending(n)
    assert [type(e).__name__ for e in events] == ["DecisionApproved", "CounterOfferMade"]
    assert events[1].amount_cents == 120_000 and events[1].in_reply_to == "p1"


def test_a_rejected_decision_changes_nothing_else_and_cannot_be_decided_twice() -> None:
    n = with_notice()
    offer(n, "payer", 45_000, "p1")
    n.propose_decision(
        negotiator(),
        decision_id="d1",
        action="accept",
        offer_id="p1",
        counter_amount_cents=0,
        rationale="",
        engine=ENGINE,
    )
    n.reject_decision(approver(), decision_id="d1", reason="too low")
    with pytest.raises(FailedPrecondition, match="already rejected"):
        n.approve_decision(approver(), decision_id="d1", engine=ENGINE)
    assert n.status == "open"


def test_offers_on_a_closed_negotiation_are_refused() -> None:
    n = with_notice()
    offer(n, "payer", 90_000, "p1")
    n.propose_decision(
        negotiator(),
        decision_id="d1",
        action="accept",
        offer_id="p1",
        counter_amount_cents=0,
        rationale="",
        engine=ENGINE,
    )
    n.approve_decision(approver(), decision_id="d1", engine=ENGINE)
    n.collect_events()
    with pytest.raises(FailedPrecondition, match="agreed"):
        offer(n, "payer", 95_000)
    assert event_names(n) == []


def test_a_command_of_another_tenant_cannot_touch_the_aggregate() -> None:
    n = with_notice()
    with pytest.raises(PermissionError):
        offer(n, "provider", 100_000, context=ctx("negotiator", tenant="tenant-b"))


def test_escalation_follows_the_chain_once_per_level() -> None:
    n = opened(initial_payment_received_on=date(2026, 6, 1))
    t1 = n.deadlines(ENGINE).get("T1")  # type: ignore[arg-type]
    assert t1 is not None and t1.due == date(2026, 7, 14)
    chain = [("negotiator", 5), ("supervisor", 3), ("manager", 1)]
    assert not n.escalate_if_due(negotiator(), as_of=date(2026, 6, 30), chain=chain, engine=ENGINE)
    assert n.escalate_if_due(negotiator(), as_of=date(2026, 7, 7), chain=chain, engine=ENGINE)
    assert not n.escalate_if_due(negotiator(), as_of=date(2026, 7, 7), chain=chain, engine=ENGINE)
    assert n.escalate_if_due(negotiator(), as_of=date(2026, 7, 13), chain=chain, engine=ENGINE)
    events = pending(n)
    assert [(e.level, e.escalated_to, e.business_days_left) for e in events] == [
        (1, "negotiator", 5),
        (3, "manager", 1),
    ]


def test_an_extension_event_overrides_the_computed_deadline() -> None:
    n = with_notice(sent_on=date(2026, 6, 2))
    before = n.deadlines(ENGINE).get("T3")  # type: ignore[arg-type]
    assert before is not None
    n.extend_deadline(
        negotiator(),
        deadline_code="T3",
        new_due_on=date(2026, 7, 28),
        reason="portal outage",
        reference="CMS notice",
        engine=ENGINE,
    )
    after = n.deadlines(ENGINE).get("T3")  # type: ignore[arg-type]
    assert after is not None and after.due == date(2026, 7, 28)
    assert after.extended_from == before.due
    with pytest.raises(FailedPrecondition, match="past"):
        n.extend_deadline(
            negotiator(),
            deadline_code="T3",
            new_due_on=date(2026, 7, 1),
            reason="x",
            reference="",
            engine=ENGINE,
        )


def test_the_cache_copy_is_independent_of_the_original() -> None:
    import copy

    n = with_notice()
    offer(n, "payer", 90_000, "p1")
    n.propose_decision(
        negotiator(),
        decision_id="d1",
        action="counter",
        offer_id="p1",
        counter_amount_cents=120_000,
        rationale="",
        engine=ENGINE,
    )
    n.collect_events()
    clone = copy.deepcopy(n)
    clone.approve_decision(approver(), decision_id="d1", engine=ENGINE)
    assert [type(e).__name__ for e in clone.collect_events()] == [
        "DecisionApproved",
        "CounterOfferMade",
    ]
    assert n.decisions["d1"].status == "proposed"
    assert len(n.offers) == 1 and len(clone.offers) == 2
    assert n.version == clone.version - 2
