"""The NSA deadline engine: T0..T12 of DOMAIN.md §1.3 for a case, derived from its anchor dates.

Deadlines are a pure function of (anchor dates, calendar, rule sets, extensions), never stored
facts, so a calendar correction or a late-recorded extension replays into new dates. Each anchor
resolves its own rule set by its date (the triggering event's date). Results for one anchor date
are cached: 100,000 cases share a few thousand distinct dates, which is what makes the bulk
computation fast.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta

from services.common.calendar import BusinessCalendar
from services.negotiation.domain.rule_sets import RuleSet, rule_set_on


class DeadlineCode(enum.StrEnum):
    T0 = "T0"
    T1 = "T1"
    T2 = "T2"
    T2A = "T2a"
    T3 = "T3"
    T3A = "T3a"
    T4 = "T4"
    T4A = "T4a"
    T4B = "T4b"
    T5 = "T5"
    T6 = "T6"
    T7 = "T7"
    T8 = "T8"
    T9 = "T9"
    T10 = "T10"
    T11 = "T11"
    T12 = "T12"


class Counting(enum.StrEnum):
    CALENDAR = "calendar"
    BUSINESS = "business"


TITLES: dict[DeadlineCode, str] = {
    DeadlineCode.T0: "Payer initial payment or denial",
    DeadlineCode.T1: "Send open-negotiation notice",
    DeadlineCode.T2: "Open negotiation ends",
    DeadlineCode.T2A: "Open-negotiation response notice",
    DeadlineCode.T3: "Initiate federal IDR",
    DeadlineCode.T3A: "Non-initiating party's eligibility response",
    DeadlineCode.T4: "Select IDR entity jointly",
    DeadlineCode.T4A: "Notify Departments of IDRE selection",
    DeadlineCode.T4B: "Departments select IDRE if no joint pick",
    DeadlineCode.T5: "IDRE eligibility review",
    DeadlineCode.T6: "Submit offers and fees",
    DeadlineCode.T7: "IDRE determination",
    DeadlineCode.T8: "Payment of amount owed",
    DeadlineCode.T9: "Refund of prevailing party's IDRE fee",
    DeadlineCode.T10: "Cooling-off ends",
    DeadlineCode.T11: "Submit items blocked by cooling-off",
    DeadlineCode.T12: "Report settlement reached after initiation",
}


@dataclass(frozen=True)
class Deadline:
    code: DeadlineCode
    due: date
    counting: Counting
    anchor: date
    rule_set_version: str
    opens: date | None = None  # first allowed day, for windows such as T3
    extended_from: date | None = None
    extension_reason: str = ""

    @property
    def title(self) -> str:
        return TITLES[self.code]


@dataclass(frozen=True)
class CaseAnchors:
    """The dates that start the clocks; `None` while the step has not happened."""

    bill_received: date | None = None
    initial_payment_received: date | None = None
    on_notice_sent: date | None = None
    idr_initiated: date | None = None
    idre_selected: date | None = None
    determination: date | None = None
    settled_after_initiation: date | None = None
    batched: bool = False


@dataclass(frozen=True)
class Extension:
    """A granted extension (an event) that overrides one computed deadline."""

    code: DeadlineCode
    new_due: date
    reason: str


class CaseDeadlines:
    """A case's deadlines in table order (a plain tuple underneath: bulk runs build 100,000)."""

    __slots__ = ("deadlines",)

    def __init__(self, deadlines: tuple[Deadline, ...]) -> None:
        self.deadlines = deadlines

    def get(self, code: DeadlineCode) -> Deadline | None:
        for deadline in self.deadlines:
            if deadline.code == code:
                return deadline
        return None

    def next_due(self, on_or_after: date) -> Deadline | None:
        upcoming = [d for d in self.deadlines if d.due >= on_or_after]
        return min(upcoming, key=lambda d: d.due, default=None)


_Compute = Callable[[BusinessCalendar, RuleSet, date, bool], tuple[date, date | None] | None]


def _t3(cal: BusinessCalendar, rs: RuleSet, on_sent: date, _: bool) -> tuple[date, date | None]:
    # Business days 31..34 counted from the ON start: never before BD 31.
    first = rs.open_negotiation_business_days + 1
    last = rs.open_negotiation_business_days + rs.initiation_window_business_days
    return cal.period_beginning(on_sent, last), cal.period_beginning(on_sent, first)


def _t2a(cal: BusinessCalendar, rs: RuleSet, on_sent: date, _: bool) -> tuple[date, None] | None:
    if rs.on_response_business_day is None:
        return None
    return cal.period_beginning(on_sent, rs.on_response_business_day), None


def _t3a(cal: BusinessCalendar, rs: RuleSet, initiated: date, _: bool) -> tuple[date, None] | None:
    if rs.eligibility_response_business_days is None:
        return None
    return cal.after(initiated, rs.eligibility_response_business_days), None


def _t4a(cal: BusinessCalendar, rs: RuleSet, initiated: date, _: bool) -> tuple[date, None]:
    selection_ends = cal.after(initiated, rs.joint_selection_business_days)
    return cal.after(selection_ends, rs.notify_selection_business_days), None


def cooling_off_end(cal: BusinessCalendar, rs: RuleSet, determination: date, batched: bool) -> date:
    """Last day of the cooling-off that follows a determination (T10)."""
    if batched and rs.batched_cooling_off_business_days is not None:
        return cal.after(determination, rs.batched_cooling_off_business_days)
    return determination + timedelta(days=rs.cooling_off_calendar_days)


def _t10(cal: BusinessCalendar, rs: RuleSet, det: date, batched: bool) -> tuple[date, None]:
    return cooling_off_end(cal, rs, det, batched), None


def _t11(cal: BusinessCalendar, rs: RuleSet, det: date, batched: bool) -> tuple[date, date]:
    reopens = cooling_off_end(cal, rs, det, batched) + timedelta(days=1)
    return cal.period_beginning(reopens, rs.blocked_items_business_days), reopens


def _calendar(days: Callable[[RuleSet], int]) -> _Compute:
    return lambda _cal, rs, anchor, _b: (anchor + timedelta(days=days(rs)), None)


def _beginning(days: Callable[[RuleSet], int]) -> _Compute:
    return lambda cal, rs, anchor, _b: (cal.period_beginning(anchor, days(rs)), None)


def _after(days: Callable[[RuleSet], int]) -> _Compute:
    return lambda cal, rs, anchor, _b: (cal.after(anchor, days(rs)), None)


C, B = Counting.CALENDAR, Counting.BUSINESS
D = DeadlineCode

# anchor field -> the deadlines it starts, in table order.
RULES: dict[str, tuple[tuple[DeadlineCode, Counting, _Compute], ...]] = {
    "bill_received": ((D.T0, C, _calendar(lambda r: r.initial_payment_calendar_days)),),
    "initial_payment_received": ((D.T1, B, _beginning(lambda r: r.on_notice_business_days)),),
    "on_notice_sent": (
        (D.T2, B, _beginning(lambda r: r.open_negotiation_business_days)),
        (D.T2A, B, _t2a),
        (D.T3, B, _t3),
    ),
    "idr_initiated": (
        (D.T3A, B, _t3a),
        (D.T4, B, _after(lambda r: r.joint_selection_business_days)),
        (D.T4A, B, _t4a),
        (D.T4B, B, _after(lambda r: r.departments_selection_business_days)),
    ),
    "idre_selected": (
        (D.T5, B, _after(lambda r: r.eligibility_review_business_days)),
        (D.T6, B, _after(lambda r: r.offer_submission_business_days)),
        (D.T7, B, _after(lambda r: r.determination_business_days)),
    ),
    "determination": (
        (D.T8, C, _calendar(lambda r: r.payment_calendar_days)),
        (D.T9, B, _after(lambda r: r.fee_refund_business_days)),
        (D.T10, C, _t10),
        (D.T11, B, _t11),
    ),
    "settled_after_initiation": ((D.T12, B, _after(lambda r: r.settlement_report_business_days)),),
}


class DeadlineEngine:
    """Computes a case's deadlines; holds only a cache of pure results, so it is shareable."""

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.calendar = calendar
        # One cache per (batched flag, anchor field), keyed by the anchor date alone.
        self._caches: dict[bool, tuple[tuple[str, dict[date, tuple[Deadline, ...]]], ...]] = {
            flag: tuple((anchor_field, {}) for anchor_field in RULES) for flag in (False, True)
        }

    def for_anchor(
        self, anchor_field: str, anchor: date, batched: bool = False
    ) -> tuple[Deadline, ...]:
        """Deadlines started by one anchor, under the rule set in force on the anchor's date."""
        rule_set = rule_set_on(anchor)
        computed = []
        for code, counting, compute in RULES[anchor_field]:
            result = compute(self.calendar, rule_set, anchor, batched)
            if result is not None:
                due, opens = result
                computed.append(Deadline(code, due, counting, anchor, rule_set.version, opens))
        return tuple(computed)

    def for_case(self, anchors: CaseAnchors, extensions: Iterable[Extension] = ()) -> CaseDeadlines:
        batched = anchors.batched
        deadlines: tuple[Deadline, ...] = ()
        for anchor_field, cache in self._caches[batched]:
            anchor = getattr(anchors, anchor_field)
            if anchor is not None:
                hit = cache.get(anchor)
                if hit is None:
                    hit = cache[anchor] = self.for_anchor(anchor_field, anchor, batched)
                deadlines += hit
        if extensions:
            deadlines = _apply_extensions(deadlines, extensions)
        return CaseDeadlines(deadlines)

    def for_cases(self, cases: Iterable[CaseAnchors]) -> list[CaseDeadlines]:
        return [self.for_case(anchors) for anchors in cases]


def _apply_extensions(
    deadlines: tuple[Deadline, ...], extensions: Iterable[Extension]
) -> tuple[Deadline, ...]:
    """Later extensions of the same deadline win; the original computed date is kept."""
    latest = {extension.code: extension for extension in extensions}
    return tuple(
        replace(
            d,
            due=latest[d.code].new_due,
            extended_from=d.due,
            extension_reason=latest[d.code].reason,
        )
        if d.code in latest
        else d
        for d in deadlines
    )
