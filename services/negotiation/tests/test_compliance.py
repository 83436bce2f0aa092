"""The compliance report (domain/compliance.py), worked to the day from DOMAIN.md §1.3-§1.7.

Hand counts (2026 federal holidays: Oct 12, Nov 11, Nov 26, Dec 25; 2027: Jan 1, Jan 18):
initial payment Thu 2026-10-01 is business day 1 of T1, so T1 ends Fri 2026-11-13; a notice
sent Mon 2026-10-05 starts open negotiation (BD 1), which ends Tue 2026-11-17 (BD 30), so IDR
may be initiated Wed 2026-11-18 .. Mon 2026-11-23 (BD 31-34).
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.calendar import federal_calendar
from services.negotiation.domain.case_acts import CaseActs, acts_of
from services.negotiation.domain.compliance import (
    ComplianceLine,
    ComplianceReport,
    ComplianceStatus,
    compliance_report,
)
from services.negotiation.domain.cooling_off import CoolingOffPeriod
from services.negotiation.domain.deadlines import DeadlineCode, DeadlineEngine
from services.negotiation.tests.builders import ENGINE, negotiator
from services.negotiation.tests.test_federal_idr import idr_approved, initiate

ALTERNATE = DeadlineEngine(federal_calendar(exclude_eo_closures=True))
AS_OF = date(2026, 12, 4)
S = ComplianceStatus
D = DeadlineCode


def report(acts: CaseActs, as_of: date = AS_OF, **kw: object) -> ComplianceReport:
    return compliance_report(
        negotiation_id="n-1",
        claim_id="claim-1",
        status="open",
        acts=acts,
        engine=ENGINE,
        alternate_engine=ALTERNATE,
        as_of=as_of,
        **kw,  # type: ignore[arg-type]
    )


def line(r: ComplianceReport, code: DeadlineCode) -> ComplianceLine:
    return next(x for x in r.lines if x.code == code)


def row(r: ComplianceReport, code: DeadlineCode) -> tuple[object, ...]:
    x = line(r, code)
    return (x.status, x.due_on, x.act_on, x.day_number, x.days_late)


def test_every_deadline_has_a_line_in_table_order() -> None:
    r = report(CaseActs(date(2026, 9, 15), None, date(2026, 10, 1)))
    assert [x.code for x in r.lines] == list(DeadlineCode)
    assert r.calendar == "us-federal-5usc6103a-observed"
    assert r.rule_set_version == "nsa-2026-08-03"


def test_settled_in_open_negotiation_on_time() -> None:
    # Bill received Mon 2026-10-05 -> T0 due Wed 2026-11-04; paid (received) Fri 2026-10-30,
    # calendar day 25. The notice on Mon 2026-11-02 is BD 2 of T1 (Oct 30 = BD 1), whose BD 30
    # is Mon 2026-12-14; agreement Tue 2026-11-10 is BD 7 of open negotiation (ends Dec 15).
    acts = CaseActs(
        date(2026, 10, 3),
        date(2026, 10, 5),
        date(2026, 10, 30),
        on_notice_sent_on=date(2026, 11, 2),
        agreed_on=date(2026, 11, 10),
    )
    r = report(acts)
    assert row(r, D.T0) == (S.TIMELY, date(2026, 11, 4), date(2026, 10, 30), 25, 0)
    assert row(r, D.T1) == (S.TIMELY, date(2026, 12, 14), date(2026, 11, 2), 2, 0)
    assert row(r, D.T2) == (S.TIMELY, date(2026, 12, 15), date(2026, 11, 10), 7, 0)
    t3 = line(r, D.T3)
    assert (t3.status, t3.opens_on, t3.due_on) == (
        S.NOT_APPLICABLE, date(2026, 12, 16), date(2026, 12, 21))
    assert {x.status for x in r.lines[5:]} == {S.NOT_APPLICABLE}
    # Batch window: 30 BD after the service date Sat 2026-10-03 (Columbus Day skipped).
    assert r.batch_window is not None
    assert r.batch_window.window_ends_on == date(2026, 11, 17)
    assert r.batch_window.within_window and not r.batch_window.batched
    assert r.holidays == (date(2026, 11, 11), date(2026, 11, 26))


def test_late_open_negotiation_notice() -> None:
    # T1 ends Fri 2026-11-13 (BD 30, Oct 12 and Nov 11 skipped); a notice Mon 2026-11-16 is
    # BD 31: one business day late. T0: bill 2026-09-20 + 30 = 2026-10-20.
    acts = CaseActs(
        date(2026, 9, 15), date(2026, 9, 20), date(2026, 10, 1),
        on_notice_sent_on=date(2026, 11, 16),
    )
    r = report(acts)
    assert row(r, D.T0) == (S.TIMELY, date(2026, 10, 20), date(2026, 10, 1), 11, 0)
    assert row(r, D.T1) == (S.LATE, date(2026, 11, 13), date(2026, 11, 16), 31, 1)
    assert row(r, D.T2) == (S.PENDING, date(2026, 12, 29), None, None, 0)
    t3 = line(r, D.T3)
    assert (t3.opens_on, t3.due_on, t3.status) == (date(2026, 12, 30), date(2027, 1, 5), S.PENDING)


def test_a_notice_never_sent_is_late_as_of_the_report_date() -> None:
    acts = CaseActs(date(2026, 9, 15), None, date(2026, 10, 1))
    r = report(acts, as_of=date(2026, 11, 18))  # Nov 16, 17, 18 after the Nov 13 due date
    assert row(r, D.T1) == (S.LATE, date(2026, 11, 13), None, None, 3)
    assert line(r, D.T1).note == "not done"
    assert row(report(acts, as_of=date(2026, 11, 13)), D.T1)[0] == S.PENDING


IDR_ACTS = CaseActs(
    date(2026, 9, 15),
    None,
    date(2026, 10, 1),
    on_notice_sent_on=date(2026, 10, 5),
    idr_initiated_on=date(2026, 11, 19),
    initiating_party="provider",
    dispute_number="DISP-1",
    dispute_rule_set_version="nsa-2026-08-03",
    idre_selected_on=date(2026, 11, 23),
    selection_method="joint",
    eligibility_decided_on=date(2026, 11, 30),
    eligible=True,
    provider_offer_on=date(2026, 12, 1),
    determined_on=date(2026, 12, 3),
)


def test_through_idr_initiated_in_the_window_and_determined_within_t7() -> None:
    r = report(IDR_ACTS)
    assert row(r, D.T0)[0] == S.NOT_APPLICABLE  # the bill's receipt date is not known
    assert row(r, D.T1) == (S.TIMELY, date(2026, 11, 13), date(2026, 10, 5), 3, 0)
    assert line(r, D.T2).status == S.ELAPSED
    t3 = line(r, D.T3)
    assert (t3.status, t3.opens_on, t3.due_on, t3.act_on, t3.day_number) == (
        S.TIMELY, date(2026, 11, 18), date(2026, 11, 23), date(2026, 11, 19), 32)
    # Selection Mon Nov 23 is BD 2 after initiation (T4: 3 BD after -> Tue Nov 24).
    assert row(r, D.T4) == (S.TIMELY, date(2026, 11, 24), date(2026, 11, 23), 2, 0)
    assert row(r, D.T4B)[0] == S.NOT_APPLICABLE  # picked jointly
    # 2026-08-03 rule set: eligibility review 5 BD after selection -> Tue Dec 1.
    assert row(r, D.T5) == (S.TIMELY, date(2026, 12, 1), date(2026, 11, 30), 4, 0)
    assert row(r, D.T6) == (S.TIMELY, date(2026, 12, 8), date(2026, 12, 1), 5, 0)
    # T7: 30 BD after Nov 23 (Nov 26, Dec 25, Jan 1 skipped) -> Thu 2027-01-07.
    assert row(r, D.T7) == (S.TIMELY, date(2027, 1, 7), date(2026, 12, 3), 7, 0)
    t8, t9 = line(r, D.T8), line(r, D.T9)
    assert (t8.due_on, t8.status, t8.recorded_here) == (date(2027, 1, 2), S.PENDING, False)
    assert (t9.due_on, t9.status) == (date(2027, 1, 19), S.PENDING)  # MLK day skipped
    assert row(r, D.T10) == (S.PENDING, date(2027, 3, 3), None, None, 0)
    t11 = line(r, D.T11)
    assert (t11.opens_on, t11.due_on) == (date(2027, 3, 4), date(2027, 4, 14))
    (started,) = r.cooling_off
    assert (started.relation, started.starts_on, started.ends_on) == (
        "started", date(2026, 12, 4), date(2027, 3, 3))
    assert (started.filing_opens_on, started.filing_closes_on) == (
        date(2027, 3, 4), date(2027, 4, 14))
    assert row(r, D.T12)[0] == S.NOT_APPLICABLE
    # As of the day after the period, cooling-off has elapsed.
    assert line(report(IDR_ACTS, as_of=date(2027, 3, 4)), D.T10).status == S.ELAPSED


def test_cooling_off_blocks_the_window_and_filing_in_the_permitted_window_is_timely() -> None:
    # An earlier determination on Mon 2026-08-03 -> cooling-off Aug 4 .. Sun Nov 1 (90 days);
    # this case's T3 window (Sep 22-25) falls inside it, so it may be filed in the 30 BD
    # beginning Mon Nov 2: until Tue 2026-12-15.
    earlier = CoolingOffPeriod(
        "provider:12-3456789", "issuer:payer-acme", "radiology",
        date(2026, 8, 4), date(2026, 11, 1), "DISP-0")
    acts = CaseActs(
        date(2026, 7, 1), None, date(2026, 8, 3),
        on_notice_sent_on=date(2026, 8, 10),
        idr_initiated_on=date(2026, 11, 16),
        initiating_party="provider",
        dispute_number="DISP-2",
        dispute_rule_set_version="nsa-2026-08-03",
    )
    r = report(acts, cooling_off=[earlier])
    t3 = line(r, D.T3)
    assert (t3.status, t3.opens_on, t3.due_on, t3.act_on, t3.days_late) == (
        S.TIMELY, date(2026, 9, 22), date(2026, 9, 25), date(2026, 11, 16), 0)
    assert "DISP-0" in t3.note
    (blocking,) = r.cooling_off
    assert (blocking.relation, blocking.ends_on, blocking.filing_opens_on,
            blocking.filing_closes_on, blocking.within_filing_window) == (
        "blocking", date(2026, 11, 1), date(2026, 11, 2), date(2026, 12, 15), True)
    # Filed a day after the permitted window: late, counted from T3's own due date.
    late = report(acts.__class__(**{**acts.__dict__, "idr_initiated_on": date(2026, 12, 16)}),
                  as_of=date(2026, 12, 16), cooling_off=[earlier])
    assert line(late, D.T3).status == S.LATE
    assert late.cooling_off[0].within_filing_window is False


def test_departments_pick_means_the_joint_selection_was_missed() -> None:
    acts = CaseActs(**{**IDR_ACTS.__dict__, "selection_method": "default",
                       "idre_selected_on": date(2026, 11, 30), "eligibility_decided_on": None,
                       "provider_offer_on": None, "determined_on": None, "eligible": None})
    r = report(acts)
    assert line(r, D.T4).status == S.LATE
    assert row(r, D.T4B) == (S.TIMELY, date(2026, 11, 30), date(2026, 11, 30), 6, 0)


def test_acts_come_from_the_aggregates_and_their_events() -> None:
    n = idr_approved()
    events: list[object] = []
    initiate(n, date(2026, 7, 17))
    n.select_idre(negotiator(), idre_id="idre-7", method="joint", selected_on=date(2026, 7, 22),
                  idre_fee_cents=50_000, engine=ENGINE)
    n.record_eligibility(negotiator(), eligible=True, decided_on=date(2026, 7, 29), reason="")
    n.submit_idr_offer(negotiator(), party="provider", amount_cents=90_000,
                       submitted_on=date(2026, 7, 30))
    n.record_determination(negotiator(), prevailing_party="provider",
                           determined_on=date(2026, 8, 5), engine=ENGINE)
    events.extend(n.collect_events())
    acts = acts_of(n.negotiation, n.dispute, events, events)
    assert (acts.idr_initiated_on, acts.idre_selected_on, acts.selection_method) == (
        date(2026, 7, 17), date(2026, 7, 22), "joint")
    assert (acts.eligibility_decided_on, acts.provider_offer_on, acts.determined_on) == (
        date(2026, 7, 29), date(2026, 7, 30), date(2026, 8, 5))
    assert acts.on_notice_sent_on == date(2026, 6, 2) and acts.dispute_number == "DISP-1"
    r = report(acts, as_of=date(2026, 8, 5))
    assert line(r, D.T7).status == S.TIMELY


CAL = federal_calendar()


@settings(max_examples=200, deadline=None)
@given(
    start=st.dates(min_value=date(2022, 6, 1), max_value=date(2040, 12, 31)),
    k=st.integers(min_value=1, max_value=60),
)
def test_notice_on_business_day_k_is_day_k_and_late_by_k_minus_30(start: date, k: int) -> None:
    paid = CAL.next_business_day(start)
    sent = CAL.period_beginning(paid, k)
    r = report(CaseActs(paid, None, paid, on_notice_sent_on=sent), as_of=sent)
    t1 = line(r, D.T1)
    assert t1.day_number == k
    assert t1.status == (S.TIMELY if k <= 30 else S.LATE)
    assert t1.days_late == max(0, k - 30)


@settings(max_examples=200, deadline=None)
@given(
    start=st.dates(min_value=date(2022, 6, 1), max_value=date(2040, 12, 31)),
    days=st.integers(min_value=0, max_value=90),
)
def test_calendar_deadline_counts_calendar_days(start: date, days: int) -> None:
    paid = start + timedelta(days=days)
    r = report(CaseActs(start, start, paid), as_of=paid)
    t0 = line(r, D.T0)
    assert (t0.due_on, t0.day_number, t0.days_late) == (
        start + timedelta(days=30), days, max(0, days - 30))
    assert t0.status == (S.TIMELY if days <= 30 else S.LATE)
