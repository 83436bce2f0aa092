"""Deadlines T0..T12 by rule set, holidays inside every kind of window, extensions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.calendar import federal_calendar
from services.negotiation.domain.deadlines import (
    CaseAnchors,
    Counting,
    DeadlineCode,
    DeadlineEngine,
    Extension,
)
from services.negotiation.domain.rule_sets import NoRuleSetError, rule_set_on

D = DeadlineCode
ENGINE = DeadlineEngine(federal_calendar())


def due(anchors: CaseAnchors, code: DeadlineCode) -> date:
    deadline = ENGINE.for_case(anchors).get(code)
    assert deadline is not None, f"{code} not computed"
    return deadline.due


def test_crowdstrike_case_initiation_window_is_jul_16_to_19() -> None:
    t3 = ENGINE.for_case(CaseAnchors(on_notice_sent=date(2024, 5, 31))).get(D.T3)
    assert t3 is not None
    assert (t3.opens, t3.due) == (date(2024, 7, 16), date(2024, 7, 19))
    assert t3.counting is Counting.BUSINESS


def test_only_anchored_steps_have_deadlines() -> None:
    codes = [d.code for d in ENGINE.for_case(CaseAnchors(bill_received=date(2026, 3, 2))).deadlines]
    assert codes == [D.T0]


# Holidays inside every kind of window: each row has a federal holiday inside the window.
@pytest.mark.parametrize(
    ("anchors", "code", "expected"),
    [
        # T0 calendar days: Thanksgiving inside does not move it.
        (CaseAnchors(bill_received=date(2026, 11, 2)), D.T0, date(2026, 12, 2)),
        # T1 period beginning on receipt: Thanksgiving 11-26 and Christmas 12-25 skipped.
        (CaseAnchors(initial_payment_received=date(2026, 11, 16)), D.T1, date(2026, 12, 29)),
        # T2 ON: Jul 3 (observed) and Sep 7 skipped.
        (CaseAnchors(on_notice_sent=date(2026, 7, 1)), D.T2, date(2026, 8, 12)),
        # T3 window end crosses Labor Day 2026-09-07.
        (CaseAnchors(on_notice_sent=date(2026, 7, 27)), D.T3, date(2026, 9, 11)),
        # T4 after initiation: Juneteenth inside.
        (CaseAnchors(idr_initiated=date(2026, 6, 17)), D.T4, date(2026, 6, 23)),
        # T4a one BD after the selection period, Jul 3 observed inside.
        (CaseAnchors(idr_initiated=date(2026, 6, 29)), D.T4A, date(2026, 7, 6)),
        (CaseAnchors(idr_initiated=date(2026, 6, 29)), D.T4B, date(2026, 7, 8)),
        # T5..T7 after selection, Columbus Day 10-12 / Veterans Day 11-11 / Thanksgiving inside.
        (CaseAnchors(idre_selected=date(2026, 10, 8)), D.T5, date(2026, 10, 16)),
        (CaseAnchors(idre_selected=date(2026, 10, 8)), D.T6, date(2026, 10, 23)),
        (CaseAnchors(idre_selected=date(2026, 10, 8)), D.T7, date(2026, 11, 23)),
        # T8 and T10 calendar days; T9 and T11 business days over the winter holidays.
        (CaseAnchors(determination=date(2026, 12, 1)), D.T8, date(2026, 12, 31)),
        (CaseAnchors(determination=date(2026, 12, 1)), D.T9, date(2027, 1, 14)),
        (CaseAnchors(determination=date(2026, 9, 1)), D.T10, date(2026, 11, 30)),
        (CaseAnchors(determination=date(2026, 9, 1)), D.T11, date(2027, 1, 13)),
        # T12 after settlement, Christmas inside.
        (CaseAnchors(settled_after_initiation=date(2026, 12, 23)), D.T12, date(2026, 12, 29)),
    ],
)
def test_holidays_inside_every_kind_of_window(
    anchors: CaseAnchors, code: DeadlineCode, expected: date
) -> None:
    assert due(anchors, code) == expected


def test_rule_set_switches_on_2026_06_11_for_the_administrative_fee() -> None:
    assert rule_set_on(date(2026, 6, 10)).administrative_fee_cents == 11_500
    assert rule_set_on(date(2026, 6, 11)).administrative_fee_cents == 1_500
    assert rule_set_on(date(2024, 1, 21)).administrative_fee_cents == 35_000
    with pytest.raises(NoRuleSetError):
        rule_set_on(date(2022, 4, 14))


def test_deadlines_use_the_rule_set_in_force_on_the_triggering_date() -> None:
    before = ENGINE.for_case(
        CaseAnchors(on_notice_sent=date(2026, 6, 10), idre_selected=date(2026, 7, 31))
    )
    after = ENGINE.for_case(
        CaseAnchors(on_notice_sent=date(2026, 8, 3), idre_selected=date(2026, 8, 3))
    )
    assert before.get(D.T2A) is None  # response notice arrives with the 2026 rule
    t2a = after.get(D.T2A)
    assert t2a is not None and t2a.due == date(2026, 8, 21)
    t5_before, t5_after = before.get(D.T5), after.get(D.T5)
    assert t5_before is not None and t5_after is not None
    assert t5_before.due == date(2026, 8, 5)  # 3 BD
    assert t5_after.due == date(2026, 8, 10)  # 5 BD
    assert t5_before.rule_set_version == "nsa-2026-06-11"
    assert t5_after.rule_set_version == "nsa-2026-08-03"


def test_the_2026_rule_gives_the_non_initiating_party_3_business_days_on_eligibility() -> None:
    assert ENGINE.for_case(CaseAnchors(idr_initiated=date(2026, 7, 31))).get(D.T3A) is None
    # Initiated Friday Sep 4, 2026: Labor Day (Sep 7) is not counted.
    case = ENGINE.for_case(CaseAnchors(idr_initiated=date(2026, 9, 4)))
    t3a = case.get(D.T3A)
    assert t3a is not None
    assert (t3a.due, t3a.counting, t3a.rule_set_version) == (
        date(2026, 9, 10),
        Counting.BUSINESS,
        "nsa-2026-08-03",
    )
    assert t3a.title == "Non-initiating party's eligibility response"


def test_batched_cooling_off_is_30_business_days_under_the_2026_rule() -> None:
    single = CaseAnchors(determination=date(2026, 9, 1))
    batched = CaseAnchors(determination=date(2026, 9, 1), batched=True)
    assert due(single, D.T10) == date(2026, 11, 30)
    assert due(batched, D.T10) == date(2026, 10, 15)
    old_batched = CaseAnchors(determination=date(2025, 9, 2), batched=True)
    assert due(old_batched, D.T10) == date(2025, 12, 1)


def test_an_extension_overrides_the_computed_deadline_and_keeps_the_original() -> None:
    anchors = CaseAnchors(on_notice_sent=date(2024, 5, 31))
    extensions = [
        Extension(D.T3, date(2024, 7, 22), "CrowdStrike outage: +1 BD"),
        Extension(D.T3, date(2024, 7, 23), "second extension"),
    ]
    t3 = ENGINE.for_case(anchors, extensions).get(D.T3)
    assert t3 is not None
    assert (t3.due, t3.extended_from, t3.extension_reason) == (
        date(2024, 7, 23),
        date(2024, 7, 19),
        "second extension",
    )
    assert due(anchors, D.T3) == date(2024, 7, 19)  # the cache is not polluted


def test_next_due_picks_the_earliest_open_deadline() -> None:
    deadlines = ENGINE.for_case(CaseAnchors(on_notice_sent=date(2024, 5, 31)))
    nxt = deadlines.next_due(date(2024, 7, 16))
    assert nxt is not None and nxt.code is D.T3
    assert deadlines.next_due(date(2024, 7, 20)) is None


@given(st.dates(min_value=date(2022, 5, 1), max_value=date(2040, 1, 1)))
def test_window_always_follows_negotiation(on_sent: date) -> None:
    cal = federal_calendar()
    case = ENGINE.for_case(CaseAnchors(on_notice_sent=on_sent))
    t2, t3 = case.get(D.T2), case.get(D.T3)
    assert t2 is not None and t3 is not None and t3.opens is not None
    assert t3.opens == cal.after(t2.due, 1)
    assert t3.due == cal.after(t2.due, 4)
    assert cal.business_days_between(t3.opens, t3.due) == 4


def test_all_deadlines_for_100_000_cases_in_one_call() -> None:
    """The batch path gives every case its deadlines (its speed is `make bench`'s negotiation
    row, not a timed assertion that a loaded machine fails)."""
    cases = []
    for i in range(100_000):
        bill = date(2024, 1, 2) + timedelta(days=i % 900)
        cases.append(
            CaseAnchors(
                bill_received=bill,
                initial_payment_received=bill + timedelta(days=20),
                on_notice_sent=bill + timedelta(days=25),
                idr_initiated=bill + timedelta(days=70),
                idre_selected=bill + timedelta(days=75),
                determination=bill + timedelta(days=110),
            )
        )
    engine = DeadlineEngine(federal_calendar())
    results = engine.for_cases(cases)
    assert len(results) == 100_000 and all(len(r.deadlines) >= 14 for r in results)
    for index in (0, 1, 899, 54_321, 99_999):  # the batch answers what one case alone gets
        assert results[index].deadlines == engine.for_cases([cases[index]])[0].deadlines
