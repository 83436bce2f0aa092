"""The compliance report of a case: every NSA deadline T0..T12 (DOMAIN.md §1.3), when it was
due under the rule set in force, when the act happened, and whether that was on time.

Pure: the facts come in as `CaseActs` (case_acts.py: built by `acts_of` from the two aggregates
of a case and the events they recorded), the deadlines from the same `DeadlineEngine` the case
uses, under this deployment's reading of executive-order closures and the other one
(`alternate_due_on`). The report is computed `as_of` a date, never from the clock.

Statuses: `timely` (done by the due date, and not before a window opened), `late` (done after
it, or not done and the due date has passed: `days_late` counts to `as_of`), `pending` (not
done, not yet due — or done by another party or service that this one does not record, see
`recorded_here`), `not_applicable` (the case never reaches the step, or the rule set in force
has no such deadline), `elapsed` (a period — open negotiation, cooling-off, a filing window —
that ran its course: nothing was due from anyone).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from services.common.calendar import BusinessCalendar
from services.negotiation.domain.case_acts import CaseActs
from services.negotiation.domain.cooling_off import CoolingOffPeriod
from services.negotiation.domain.deadlines import (
    TITLES,
    CaseDeadlines,
    Counting,
    Deadline,
    DeadlineCode,
    DeadlineEngine,
    cooling_off_end,
)
from services.negotiation.domain.rule_sets import NoRuleSetError, rule_set_by_version, rule_set_on
from services.negotiation.domain.vocabulary import SelectionMethod

D = DeadlineCode


class ComplianceStatus(enum.StrEnum):
    TIMELY = "timely"
    LATE = "late"
    PENDING = "pending"
    NOT_APPLICABLE = "not_applicable"
    ELAPSED = "elapsed"


# Deadlines counted as "a period of N business days beginning on" the anchor (day 1 = anchor);
# every other business-day deadline counts "N business days after" it (DOMAIN.md §1.4).
BEGINNING_FORM = frozenset({D.T1, D.T2, D.T2A, D.T3, D.T11})
# Periods that simply run; nobody acts by them.
PERIODS = frozenset({D.T2, D.T10, D.T11})
# Acts this service does not record (another party's or another service's): never called late.
RECORDED_ELSEWHERE: dict[DeadlineCode, str] = {
    D.T3A: "the non-initiating party's response is not recorded by this service",
    D.T4A: "the notice to the Departments is not recorded by this service",
    D.T8: "payment is recorded by the settlement service",
    D.T9: "the IDRE fee refund is recorded by the fees service",
    D.T12: "the settlement report is not recorded by this service",
}


@dataclass(frozen=True)
class ComplianceLine:
    code: DeadlineCode
    title: str
    status: ComplianceStatus
    counting: Counting | None = None  # None when no due date could be computed
    anchor_on: date | None = None
    due_on: date | None = None
    opens_on: date | None = None
    alternate_due_on: date | None = None
    rule_set_version: str = ""
    act_on: date | None = None
    # Which day of the clock the act came on (business or calendar, per `counting`): for
    # "beginning on" periods the anchor is day 1, for "after" periods the next business day.
    day_number: int | None = None
    days_late: int = 0  # in `counting` units; to `as_of` when the act has not happened
    recorded_here: bool = True
    extended_from: date | None = None
    extension_reason: str = ""
    note: str = ""


@dataclass(frozen=True)
class BatchWindow:
    """The 30-business-day batching window (DOMAIN.md §1.6) this item falls in."""

    batched: bool
    first_service_on: date  # the batch's first item (this item's own date when unbatched)
    window_ends_on: date
    service_on: date
    within_window: bool
    rule_set_version: str


@dataclass(frozen=True)
class CoolingOffWindow:
    """A cooling-off period (T10) and the permitted filing window after it (T11)."""

    dispute_number: str
    starts_on: date
    ends_on: date
    filing_opens_on: date
    filing_closes_on: date
    # "started": this case's determination started it; "blocking": an earlier dispute's period
    # that covered this case's initiation window, so this case's filing window is the T11 one.
    relation: str
    initiated_on: date | None = None
    within_filing_window: bool | None = None


@dataclass(frozen=True)
class ComplianceReport:
    negotiation_id: str
    claim_id: str
    as_of: date
    status: str
    rule_set_version: str
    calendar: str
    holidays: tuple[date, ...]  # weekday closures inside the case's clocks
    lines: tuple[ComplianceLine, ...]
    batch_window: BatchWindow | None
    cooling_off: tuple[CoolingOffWindow, ...]


def calendar_name(calendar: BusinessCalendar) -> str:
    config = calendar.config
    name = "us-federal-5usc6103a-observed"
    if config.exclude_eo_closures:
        name += "+eo-closures"
    if config.include_inauguration_day:
        name += "+inauguration-day"
    return name


def _count(calendar: BusinessCalendar, code: DeadlineCode, d: Deadline, act: date) -> int:
    """Which day of `d`'s clock `act` is (negative or zero when before it started)."""
    if d.counting == Counting.CALENDAR:
        return (act - d.anchor).days
    start = d.anchor if code in BEGINNING_FORM else d.anchor + timedelta(days=1)
    if code == D.T11 and d.opens is not None:
        start = d.opens
    return calendar.business_days_between(start, act)


def _late_by(calendar: BusinessCalendar, d: Deadline, day: date) -> int:
    if day <= d.due:
        return 0
    if d.counting == Counting.CALENDAR:
        return (day - d.due).days
    return calendar.business_days_between(d.due + timedelta(days=1), day)


class _Lines:
    """Builds the lines of one report (the engine's deadlines plus the case's acts)."""

    def __init__(
        self,
        acts: CaseActs,
        deadlines: CaseDeadlines,
        alternate: CaseDeadlines | None,
        calendar: BusinessCalendar,
        as_of: date,
    ) -> None:
        self.acts = acts
        self.deadlines = deadlines
        self.alternate = alternate
        self.calendar = calendar
        self.as_of = as_of

    def line(
        self,
        code: DeadlineCode,
        act: date | None,
        *,
        applicable: bool = True,
        note: str = "",
        grace_until: date | None = None,
    ) -> ComplianceLine:
        d = self.deadlines.get(code)
        if d is None:
            status = self._without_clock()
            if code == D.T0:  # its anchor (the bill's receipt) is optional
                status = ComplianceStatus.NOT_APPLICABLE
            return ComplianceLine(code, TITLES[code], status, note=note)
        other = self.alternate.get(code) if self.alternate else None
        base = ComplianceLine(
            code,
            TITLES[code],
            ComplianceStatus.PENDING,
            counting=d.counting,
            anchor_on=d.anchor,
            due_on=d.due,
            opens_on=d.opens,
            alternate_due_on=other.due if other and other.due != d.due else None,
            rule_set_version=d.rule_set_version,
            extended_from=d.extended_from,
            extension_reason=d.extension_reason,
            note=note,
        )
        if not applicable:
            return replace(base, status=ComplianceStatus.NOT_APPLICABLE)
        if act is not None:
            opened = d.opens is None or act >= d.opens
            late = _late_by(self.calendar, d, act)
            timely = opened and (late == 0 or (grace_until is not None and act <= grace_until))
            return replace(
                base,
                status=ComplianceStatus.TIMELY if timely else ComplianceStatus.LATE,
                act_on=act,
                day_number=_count(self.calendar, code, d, act),
                days_late=0 if timely else late,
                note=note or ("" if opened else f"before the window opened on {d.opens}"),
            )
        if code in PERIODS:
            running = self.as_of <= d.due
            return replace(
                base, status=ComplianceStatus.PENDING if running else ComplianceStatus.ELAPSED
            )
        elsewhere = RECORDED_ELSEWHERE.get(code)
        if elsewhere is not None:
            return replace(base, recorded_here=False, note=note or elsewhere)
        last_day = max(d.due, grace_until) if grace_until else d.due
        if self.as_of <= last_day:
            return base
        return replace(
            base,
            status=ComplianceStatus.LATE,
            days_late=_late_by(self.calendar, d, self.as_of),
            note=note or "not done",
        )

    def _without_clock(self) -> ComplianceStatus:
        """No due date: the clock's anchor has not happened (pending while the case runs),
        or the case ended before it (not applicable)."""
        return ComplianceStatus.NOT_APPLICABLE if self.acts.ended_on else ComplianceStatus.PENDING


def compliance_report(
    *,
    negotiation_id: str,
    claim_id: str,
    status: str,
    acts: CaseActs,
    engine: DeadlineEngine,
    alternate_engine: DeadlineEngine | None,
    as_of: date,
    batch_service_dates: Sequence[date] = (),
    cooling_off: Sequence[CoolingOffPeriod] = (),
) -> ComplianceReport:
    """The report of one case. `batch_service_dates`: the service dates of the other items of
    its batch; `cooling_off`: the periods between the same parties for a similar service that
    the case's initiating party is subject to (its cooling-off register)."""
    calendar = engine.calendar
    deadlines = engine.for_case(acts.anchors, acts.extensions)
    alternate = (
        alternate_engine.for_case(acts.anchors, acts.extensions) if alternate_engine else None
    )
    build = _Lines(acts, deadlines, alternate, calendar, as_of)
    blocking = _blocking_window(acts, deadlines, cooling_off, calendar)
    lines = tuple(_lines(build, acts, deadlines, blocking))
    windows = tuple(w for w in (blocking, _started_window(acts, calendar)) if w is not None)
    return ComplianceReport(
        negotiation_id=negotiation_id,
        claim_id=claim_id,
        as_of=as_of,
        status=status,
        rule_set_version=_case_rule_set(acts),
        calendar=calendar_name(calendar),
        holidays=_holidays(calendar, acts, lines),
        lines=lines,
        batch_window=_batch_window(acts, batch_service_dates, calendar),
        cooling_off=windows,
    )


def _lines(
    build: _Lines,
    acts: CaseActs,
    deadlines: CaseDeadlines,
    blocking: CoolingOffWindow | None,
) -> list[ComplianceLine]:
    in_on = acts.agreed_on is not None and not acts.agreed_during_idr  # settled in negotiation
    ended = acts.ended_on
    initiated = acts.idr_initiated_on is not None
    lines = [
        build.line(
            D.T0,
            acts.initial_payment_received_on,
            note="" if acts.bill_received_on else "the bill's receipt date is not known",
        ),
        build.line(
            D.T1,
            acts.on_notice_sent_on,
            applicable=not (in_on and acts.on_notice_sent_on is None),
        ),
    ]
    t2 = deadlines.get(D.T2)
    on_agreement = acts.agreed_on if in_on else None
    if on_agreement is not None and t2 is not None and on_agreement <= t2.due:
        lines.append(build.line(D.T2, on_agreement, note="agreed during open negotiation"))
    else:
        lines.append(build.line(D.T2, None))
    if deadlines.get(D.T2A) is None and acts.on_notice_sent_on is not None:
        lines.append(
            ComplianceLine(
                D.T2A,
                TITLES[D.T2A],
                ComplianceStatus.NOT_APPLICABLE,
                note="not in the rule set in force",
            )
        )
    else:
        responded = acts.payer_response_on
        lines.append(
            build.line(
                D.T2A,
                responded,
                applicable=not (in_on and responded is None),
                note="" if responded else "no payer response recorded",
            )
        )
    grace = blocking.filing_closes_on if blocking else None
    t3_note = "settled in open negotiation" if in_on else ""
    if blocking is not None:
        t3_note = (
            f"window covered by the cooling-off of dispute {blocking.dispute_number}: filing "
            f"permitted {blocking.filing_opens_on}..{blocking.filing_closes_on}"
        )
    lines.append(
        build.line(
            D.T3, acts.idr_initiated_on, applicable=not in_on, note=t3_note, grace_until=grace
        )
    )
    lines.extend(_idr_lines(build, acts, deadlines, ended, initiated))
    return lines


def _idr_lines(
    build: _Lines,
    acts: CaseActs,
    deadlines: CaseDeadlines,
    ended: date | None,
    initiated: bool,
) -> list[ComplianceLine]:
    def before_end(code: DeadlineCode, act: date | None) -> bool:
        """The step could still happen: it did, or the case did not end before it was due."""
        d = deadlines.get(code)
        return act is not None or ended is None or (d is not None and ended > d.due)

    lines: list[ComplianceLine] = []
    if deadlines.get(D.T3A) is None:
        lines.append(
            ComplianceLine(
                D.T3A,
                TITLES[D.T3A],
                ComplianceStatus.NOT_APPLICABLE if initiated or ended else ComplianceStatus.PENDING,
                note="not in the rule set in force" if initiated else "",
            )
        )
    else:
        lines.append(build.line(D.T3A, None, applicable=before_end(D.T3A, None)))
    method = acts.selection_method
    departments = method == SelectionMethod.DEFAULT
    joint_pick = acts.idre_selected_on if method and not departments else None
    t4_note = "the Departments assigned the IDR entity" if departments else ""
    lines.append(
        build.line(D.T4, joint_pick, applicable=before_end(D.T4, joint_pick), note=t4_note)
        if not departments
        else _missed(build.line(D.T4, acts.idre_selected_on), t4_note)
    )
    notify_applies = joint_pick is not None or (not method and before_end(D.T4A, None))
    lines.append(build.line(D.T4A, None, applicable=notify_applies))
    dept_pick = acts.idre_selected_on if departments else None
    lines.append(
        build.line(
            D.T4B,
            dept_pick,
            applicable=departments or (not method and before_end(D.T4B, None)),
        )
    )
    eligibility = acts.eligibility_decided_on
    lines.append(build.line(D.T5, eligibility, applicable=before_end(D.T5, eligibility)))
    offer = acts.provider_offer_on
    ineligible = acts.eligible is False
    settled_note = (
        f"settled on {acts.agreed_on}, before the offers were due"
        if acts.agreed_during_idr and offer is None
        else ""
    )
    lines.append(
        build.line(
            D.T6,
            offer,
            applicable=not ineligible and before_end(D.T6, offer),
            note="found ineligible" if ineligible else settled_note,
        )
    )
    determined = acts.determined_on
    lines.append(
        build.line(
            D.T7,
            determined,
            applicable=determined is not None or (not ineligible and before_end(D.T7, None)),
        )
    )
    for code in (D.T8, D.T9, D.T10, D.T11):
        lines.append(build.line(code, None))
    lines.append(build.line(D.T12, None))
    return lines


def _missed(line: ComplianceLine, note: str) -> ComplianceLine:
    """T4 when the Departments picked: the joint selection never happened."""
    return replace(
        line, status=ComplianceStatus.LATE, act_on=None, day_number=None, note=note
    )


def _case_rule_set(acts: CaseActs) -> str:
    if acts.dispute_rule_set_version:
        return acts.dispute_rule_set_version
    try:
        return rule_set_on(acts.on_notice_sent_on or acts.initial_payment_received_on).version
    except NoRuleSetError:
        return ""


def _holidays(
    calendar: BusinessCalendar, acts: CaseActs, lines: Sequence[ComplianceLine]
) -> tuple[date, ...]:
    dates = [acts.initial_payment_received_on] + [d for line in lines for d in (line.due_on,) if d]
    return tuple(calendar.closures_between(min(dates), max(dates)))


def _batch_window(
    acts: CaseActs, others: Sequence[date], calendar: BusinessCalendar
) -> BatchWindow | None:
    on = acts.idr_initiated_on or acts.on_notice_sent_on or acts.initial_payment_received_on
    try:
        rule_set = rule_set_on(on)
    except NoRuleSetError:
        return None
    if acts.dispute_rule_set_version:
        rule_set = rule_set_by_version(acts.dispute_rule_set_version)
    first = min([acts.service_on, *others])
    ends = calendar.after(first, rule_set.batch_window_business_days)
    return BatchWindow(
        batched=acts.batched,
        first_service_on=first,
        window_ends_on=ends,
        service_on=acts.service_on,
        within_window=acts.service_on <= ends,
        rule_set_version=rule_set.version,
    )


def _started_window(acts: CaseActs, calendar: BusinessCalendar) -> CoolingOffWindow | None:
    if acts.determined_on is None:
        return None
    rule_set = rule_set_on(acts.determined_on)
    ends = cooling_off_end(calendar, rule_set, acts.determined_on, acts.batched)
    reopens = ends + timedelta(days=1)
    return CoolingOffWindow(
        dispute_number=acts.dispute_number,
        starts_on=acts.determined_on + timedelta(days=1),
        ends_on=ends,
        filing_opens_on=reopens,
        filing_closes_on=calendar.period_beginning(
            reopens, rule_set_on(reopens).blocked_items_business_days
        ),
        relation="started",
    )


def _blocking_window(
    acts: CaseActs,
    deadlines: CaseDeadlines,
    periods: Sequence[CoolingOffPeriod],
    calendar: BusinessCalendar,
) -> CoolingOffWindow | None:
    """An earlier dispute's cooling-off that covered this case's T3 window (the latest one):
    the case may then be filed in the 30 business days after it ends (T11)."""
    window = deadlines.get(D.T3)
    if window is None or window.opens is None:
        return None
    covering = [
        p
        for p in periods
        if p.dispute_number != acts.dispute_number
        and p.starts_on <= window.due
        and p.ends_on >= window.opens
    ]
    if not covering:
        return None
    period = max(covering, key=lambda p: p.ends_on)
    reopens = period.ends_on + timedelta(days=1)
    closes = calendar.period_beginning(reopens, rule_set_on(reopens).blocked_items_business_days)
    initiated = acts.idr_initiated_on
    return CoolingOffWindow(
        dispute_number=period.dispute_number,
        starts_on=period.starts_on,
        ends_on=period.ends_on,
        filing_opens_on=reopens,
        filing_closes_on=closes,
        relation="blocking",
        initiated_on=initiated,
        within_filing_window=(reopens <= initiated <= closes) if initiated else None,
    )
