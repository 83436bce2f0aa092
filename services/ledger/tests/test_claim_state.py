"""As-of state: folding the entries up to an instant, with money kept in integer cents."""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.ledger.domain.claim_state import fold_claim
from services.ledger.domain.entry import EventFacts
from services.ledger.tests.factories import BASE_TIME, facts, negotiated_claim
from services.ledger.tests.memory_log import MemoryLog

TENANT, CLAIM = "tenant-a", "claim-1"


def logged_claim() -> list:
    log = MemoryLog()
    return log.append(negotiated_claim(TENANT, CLAIM))


def test_the_full_history_folds_to_the_negotiated_outcome() -> None:
    entries = logged_claim()
    state = fold_claim(CLAIM, entries, BASE_TIME + timedelta(days=1))
    assert state.status == "agreed"
    assert state.billed_amount_cents == 480000 and state.qpa_cents == 90000
    assert state.initial_payment_cents == 61000
    assert [(o.party, o.amount_cents) for o in state.offers] == [
        ("provider", 360000),
        ("payer", 150000),
    ]
    assert state.agreed and state.agreed_amount_cents == 240000
    assert state.agreed_via == "open negotiation"
    assert [p.amount_cents for p in state.payments] == [120000, -20000]
    assert state.paid_total_cents == 100000
    assert state.fees_total_cents == 30000
    assert state.deadlines["payment_due"].due_date == "2026-12-17"
    assert [e.facts.event_type for e in state.unfolded] == ["UnheardOfEventHappened"]
    assert state.events_applied == len(entries) - 1


def test_as_of_an_instant_only_counts_what_had_happened() -> None:
    entries = logged_claim()
    state = fold_claim(CLAIM, entries, BASE_TIME + timedelta(minutes=5, seconds=59))
    assert not state.agreed and len(state.offers) == 2 and not state.payments
    assert state.last_event_at == BASE_TIME + timedelta(minutes=5)


@given(cut=st.integers(0, 12))
def test_as_of_equals_folding_the_replayed_prefix(cut: int) -> None:
    entries = logged_claim()
    moment = BASE_TIME + timedelta(minutes=cut, seconds=1)
    prefix = [e for e in entries if e.facts.occurred_at <= moment]
    assert fold_claim(CLAIM, entries, moment) == fold_claim(CLAIM, prefix, moment)
    assert fold_claim(CLAIM, entries, moment).events_applied + len(
        fold_claim(CLAIM, entries, moment).unfolded
    ) == len(prefix)


@given(
    movements=st.lists(
        st.tuples(
            st.sampled_from(
                ["PaymentPosted", "PaymentReversed", "RecoupmentPosted", "InterestPosted"]
            ),
            st.integers(0, 10**11),
        ),
        max_size=30,
    )
)
def test_paid_total_is_the_signed_sum_of_principal_movements(
    movements: list[tuple[str, int]],
) -> None:
    log = MemoryLog()
    entries = log.append(
        facts(
            TENANT,
            CLAIM,
            kind,
            notification_id=i + 1,
            service="settlement",
            payload={"amount_cents": amount, "payment_id": f"p{i}"},
        )
        for i, (kind, amount) in enumerate(movements)
    )
    state = fold_claim(CLAIM, entries, BASE_TIME + timedelta(days=365))
    sign = {"PaymentPosted": 1, "PaymentReversed": -1, "RecoupmentPosted": -1}
    assert state.paid_total_cents == sum(sign.get(k, 0) * a for k, a in movements)
    assert all(isinstance(p.amount_cents, int) for p in state.payments)


def test_an_unreadable_payload_is_listed_not_guessed() -> None:
    log = MemoryLog()
    broken = facts(TENANT, CLAIM, "PaymentPosted", service="settlement", payload={"amount": "1"})
    float_money = facts(
        TENANT,
        CLAIM,
        "OfferMade",
        notification_id=2,
        payload={"amount_cents": 10.5, "party": "payer"},
    )
    entries = log.append([broken, float_money])
    state = fold_claim(CLAIM, entries, BASE_TIME + timedelta(days=1))
    assert [e.facts.event_id for e in state.unfolded] == [broken.event_id, float_money.event_id]
    assert state.paid_total_cents == 0 and state.offers == []
    assert json.loads(entries[0].facts.payload) == {"amount": "1"}


def _stated(notification_id: int, act: str, act_at: str, t3: tuple[str, str]) -> EventFacts:
    status, act_on = t3
    line = {"code": "T3", "title": "Initiate federal IDR", "status": status,
            "counting": "business", "due_on": "2026-11-23", "alternate_due_on": "",
            "opens_on": "2026-11-18", "act_on": act_on, "day_number": 31 if act_on else 0,
            "days_late": 0, "rule_set_version": "nsa-2026-06-11", "recorded_here": True,
            "note": ""}
    return facts(TENANT, CLAIM, "ComplianceReportStated", notification_id=notification_id,
                 payload={"claim_id": CLAIM, "negotiation_id": "n-1",
                          "source_event_type": act, "source_event_id": f"e-{act}",
                          "source_occurred_at": act_at,
                          "report": {"negotiation_id": "n-1", "as_of": act_at[:10],
                                     "status": "open", "rule_set_version": "nsa-2026-06-11",
                                     "calendar": "us-federal-5usc6103a-observed",
                                     "holidays": ["2026-11-11"], "lines": [line],
                                     "batch_window": None, "cooling_off": []}})


def test_the_compliance_report_stated_for_the_latest_act_is_the_one_shown() -> None:
    """Negotiation computes the report; the fold keeps the one stated for the latest act at or
    before the instant, even when a lagging consumer appended an earlier act's report later."""
    log = MemoryLog()
    entries = log.append([
        _stated(1, "OpenNegotiationNoticeSent", "2026-10-05T14:00:00+00:00", ("pending", "")),
        _stated(3, "IdrInitiated", "2026-11-18T15:00:00+00:00", ("timely", "2026-11-18")),
        _stated(4, "IdreSelected", "2026-11-18T14:30:00+00:00", ("pending", "")),
    ])
    early = fold_claim(CLAIM, entries, BASE_TIME + timedelta(minutes=2))
    assert early.compliance is not None
    assert early.compliance.view.source_event_type == "OpenNegotiationNoticeSent"
    late = fold_claim(CLAIM, entries, BASE_TIME + timedelta(days=1))
    assert late.compliance is not None and late.compliance.view.source_event_type == "IdrInitiated"
    (t3,) = late.compliance.view.lines
    assert (t3.status, t3.act_on, t3.day_number, t3.due_on) == (
        "timely", "2026-11-18", 31, "2026-11-23")
    assert late.compliance.view.holidays == ("2026-11-11",) and not late.unfolded
