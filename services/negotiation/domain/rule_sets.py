"""Versioned NSA rule sets: the clocks, fees and limits in force on a given date (DOMAIN.md §1).

Every case resolves its deadlines and fees by the rule set in force on the date of the event
that triggers them, and the version string is stored on the events so an auditor can replay
why a date or a fee was what it was. Values tagged (verify) in DOMAIN.md are data here, not code.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class IdreFeeRange:
    single_min_cents: int
    single_max_cents: int
    batched_min_cents: int
    batched_max_cents: int
    # A batch beyond its first `lines_per_block` line items adds, per further block (or part
    # of one), a surcharge the IDRE sets within this range (DOMAIN.md §1.8).
    extra_block_min_cents: int = 0
    extra_block_max_cents: int = 0
    lines_per_block: int = 25

    def bounds(self, batched: bool, line_items: int = 1) -> tuple[int, int]:
        """The lowest and highest IDRE fee allowed for a dispute of `line_items` items."""
        if not batched:
            return self.single_min_cents, self.single_max_cents
        extra_blocks = max(0, -(-line_items // self.lines_per_block) - 1)  # ceil, minus the first
        return (
            self.batched_min_cents + extra_blocks * self.extra_block_min_cents,
            self.batched_max_cents + extra_blocks * self.extra_block_max_cents,
        )


@dataclass(frozen=True)
class RuleSet:
    version: str
    effective_from: date
    administrative_fee_cents: int
    idre_fee_range: IdreFeeRange | None
    initial_payment_calendar_days: int = 30  # T0
    on_notice_business_days: int = 30  # T1
    open_negotiation_business_days: int = 30  # T2
    on_response_business_day: int | None = None  # T2a (2026 rule)
    initiation_window_business_days: int = 4  # T3
    eligibility_response_business_days: int | None = None  # T3a (2026 rule)
    joint_selection_business_days: int = 3  # T4
    notify_selection_business_days: int = 1  # T4a
    departments_selection_business_days: int = 6  # T4b (verify)
    eligibility_review_business_days: int = 3  # T5
    offer_submission_business_days: int = 10  # T6
    determination_business_days: int = 30  # T7
    payment_calendar_days: int = 30  # T8
    fee_refund_business_days: int = 30  # T9
    cooling_off_calendar_days: int = 90  # T10
    batched_cooling_off_business_days: int | None = None  # 2026 rule (secondary)
    blocked_items_business_days: int = 30  # T11
    settlement_report_business_days: int = 3  # T12 (verify)
    batch_window_business_days: int = 30
    batch_item_cap: int | None = None  # 2026 rule: 50 per batch (verify)

    def payment_due_on(self, decided_on: date) -> date:
        """T8: the plan pays the amount owed this many calendar days after the agreement or
        determination (no weekend roll-forward is stated). The one home of this rule: the
        date travels in SettlementAgreed / IdrDetermined and settlement never recomputes it."""
        return decided_on + timedelta(days=self.payment_calendar_days)


_FEES_2024 = IdreFeeRange(20_000, 84_000, 26_800, 117_300, 7_500, 25_000)

RULE_SETS: tuple[RuleSet, ...] = (
    RuleSet(
        "nsa-2022-04-15", date(2022, 4, 15), administrative_fee_cents=5_000, idre_fee_range=None
    ),
    RuleSet(
        "nsa-2023-01-01", date(2023, 1, 1), administrative_fee_cents=35_000, idre_fee_range=None
    ),
    RuleSet(
        "nsa-2024-01-22",
        date(2024, 1, 22),
        administrative_fee_cents=11_500,
        idre_fee_range=_FEES_2024,
    ),
    # IDR Operations final rule (CMS-9897-F): $15 admin fee for disputes initiated from 2026-06-11.
    RuleSet(
        "nsa-2026-06-11",
        date(2026, 6, 11),
        administrative_fee_cents=1_500,
        idre_fee_range=_FEES_2024,
    ),
    # Same rule, provisions generally effective 2026-08-03 (applicability dates to verify).
    RuleSet(
        "nsa-2026-08-03",
        date(2026, 8, 3),
        administrative_fee_cents=1_500,
        idre_fee_range=_FEES_2024,
        on_response_business_day=15,
        eligibility_response_business_days=3,
        eligibility_review_business_days=5,
        batched_cooling_off_business_days=30,
        batch_item_cap=50,
    ),
)

_STARTS = [r.effective_from for r in RULE_SETS]
_BY_VERSION = {r.version: r for r in RULE_SETS}


class NoRuleSetError(ValueError):
    """The date precedes the federal IDR process (2022-04-15)."""


def rule_set_on(day: date) -> RuleSet:
    """The rule set in force on `day` (the triggering event's date)."""
    i = bisect_right(_STARTS, day) - 1
    if i < 0:
        raise NoRuleSetError(f"no NSA rule set is in force on {day.isoformat()}")
    return RULE_SETS[i]


def rule_set_by_version(version: str) -> RuleSet:
    try:
        return _BY_VERSION[version]
    except KeyError:
        raise NoRuleSetError(f"unknown rule set version {version!r}") from None
