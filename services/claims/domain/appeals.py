"""Appeal windows: the deadline to file each appeal level, counted in calendar days.

ERISA / ACA internal appeals: 180 calendar days from receipt of the adverse benefit
determination (29 CFR 2560.503-1(h)(3)(i)); external review: 4 months from the final internal
adverse determination (45 CFR 147.136). Calendar-day windows are plain date arithmetic with no
weekend roll-forward (DOMAIN.md §1.4).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from services.common.errors import FailedPrecondition

RULE_SET_VERSION = "appeals/2026.12"


class AppealLevel(StrEnum):
    FIRST_INTERNAL = "first_internal"
    SECOND_INTERNAL = "second_internal"
    EXTERNAL_REVIEW = "external_review"


class AppealChannel(StrEnum):
    PORTAL = "portal"
    FAX = "fax"
    MAIL = "mail"
    EDI = "edi"


class AppealOutcome(StrEnum):
    OVERTURNED = "overturned"
    PARTIALLY_OVERTURNED = "partially_overturned"
    UPHELD = "upheld"


@dataclass(frozen=True)
class AppealWindow:
    rule: str
    deadline: date


def add_months(start: date, months: int) -> date:
    """Same day-of-month `months` later, clamped to the month's last day (Aug 31 + 6 → Feb 28)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def filing_window(level: AppealLevel, adverse_determination: date) -> AppealWindow:
    if level is AppealLevel.EXTERNAL_REVIEW:
        return AppealWindow(
            "external review: 4 months after the final internal adverse determination",
            add_months(adverse_determination, 4),
        )
    return AppealWindow(
        "ERISA/ACA internal appeal: 180 calendar days after the adverse determination",
        adverse_determination + timedelta(days=180),
    )


def decision_due(level: AppealLevel, filed: date) -> date:
    """When the payer (or reviewer) owes a decision on a post-service appeal.

    Internal: 60 calendar days (29 CFR 2560.503-1(i)(2)(iii)); external review: 45 calendar
    days (45 CFR 147.136(d)). Plans with two internal levels owe 30 days per level; the
    single-level figure is used until a plan's rules are stored.
    """
    return filed + timedelta(days=45 if level is AppealLevel.EXTERNAL_REVIEW else 60)


@dataclass(frozen=True)
class AppealRecord:
    """An appeal filed on a claim, and the payer's decision once recorded."""

    appeal_id: str
    level: AppealLevel
    grounds: str
    cited_document_ids: tuple[str, ...]
    channel: AppealChannel
    adverse_determination_date: date
    filed_date: date
    deadline: date
    window_rule: str
    decision_due: date
    outcome: AppealOutcome | None = None
    decision_date: date | None = None
    additional_paid_cents: int = 0
    # Owed by the decision but not paid yet (the payer reprocesses the claim).
    expected_additional_cents: int = 0

    @property
    def decided(self) -> bool:
        return self.outcome is not None


# -- the ladder: first internal → second internal → external review -------------------------

LADDER: tuple[AppealLevel, ...] = (
    AppealLevel.FIRST_INTERNAL,
    AppealLevel.SECOND_INTERNAL,
    AppealLevel.EXTERNAL_REVIEW,
)
LADDER_RULE = (
    f"{RULE_SET_VERSION} ladder: first internal, then second internal, then external review, "
    "each filed only after the level before was upheld (29 CFR 2560.503-1(c)(3), "
    "45 CFR 147.136(b)-(d))"
)
# A decision that leaves (part of) the denial standing opens the next level.
_STANDING = frozenset({AppealOutcome.UPHELD, AppealOutcome.PARTIALLY_OVERTURNED})


def previous_level(level: AppealLevel) -> AppealLevel | None:
    index = LADDER.index(level)
    return LADDER[index - 1] if index else None


def next_level(level: AppealLevel) -> AppealLevel | None:
    index = LADDER.index(level)
    return LADDER[index + 1] if index + 1 < len(LADDER) else None


def ladder_refusal(level: AppealLevel, filed: Iterable[AppealRecord]) -> str | None:
    """Why `level` cannot be filed after the appeals `filed` so far (None: it can)."""
    records = list(filed)
    if any(a.level is level for a in records):
        return f"a {level.value} appeal was already filed on this claim ({LADDER_RULE})"
    before = previous_level(level)
    if before is None:
        return None
    prior = [a for a in records if a.level is before]
    if not prior or prior[-1].outcome not in _STANDING:
        return f"a {level.value} appeal needs an upheld internal appeal at {before.value} " \
            f"first ({LADDER_RULE})"
    return None


@dataclass(frozen=True)
class NextStep:
    """What an appeal decision leaves to do: the next level and its filing deadline, or none."""

    level: AppealLevel | None
    deadline: date | None
    rule: str
    exhausted: bool = False


def after_decision(level: AppealLevel, outcome: AppealOutcome, decided: date) -> NextStep:
    if outcome not in _STANDING:
        return NextStep(None, None, "")
    following = next_level(level)
    if following is None:
        return NextStep(None, None, f"appeals exhausted: {level.value} upheld ({LADDER_RULE})",
                        exhausted=True)
    window = filing_window(following, decided)
    return NextStep(following, window.deadline, window.rule)


def filing_violations(
    grounds: str, cited_document_ids: Iterable[str], documents: Iterable[str]
) -> list[tuple[str, str]]:
    """(field, problem) for an appeal's grounds and the documents it cites."""
    bad: list[tuple[str, str]] = []
    if not grounds.strip():
        bad.append(("grounds", "required"))
    elif len(grounds) > 4000:
        bad.append(("grounds", "at most 4000 characters"))
    known = set(documents)
    bad.extend((f"cited_document_ids[{i}]", "no such document on the claim")
               for i, doc_id in enumerate(cited_document_ids) if doc_id not in known)
    return bad


def adverse_anchor(level: AppealLevel, received: date, earlier: Iterable[AppealRecord]) -> date:
    """Default anchor of an appeal's window: the EOB for a first-level appeal, else the last
    upheld appeal's decision (FailedPrecondition when there is none)."""
    if level is AppealLevel.FIRST_INTERNAL:
        return received
    upheld = [a.decision_date for a in earlier
              if a.outcome is AppealOutcome.UPHELD and a.decision_date]
    if not upheld:
        raise FailedPrecondition(f"a {level.value} appeal needs an upheld internal appeal")
    return max(upheld)


def decision_amount_problem(
    outcome: AppealOutcome, additional_paid_cents: int, expected_additional_cents: int,
    paid_cents: int, billed_cents: int,
) -> tuple[str, str] | None:
    """(field, problem) when an appeal decision's amounts cannot be right."""
    for name, cents in (("additional_paid_cents", additional_paid_cents),
                        ("expected_additional_cents", expected_additional_cents)):
        if cents < 0:
            return name, "must not be negative"
        if outcome is AppealOutcome.UPHELD and cents:
            return name, "an upheld denial pays nothing more"
    if paid_cents + additional_paid_cents + expected_additional_cents > billed_cents:
        return "additional_paid_cents", (
            f"the claim would be paid more than billed ({billed_cents} cents)")
    return None
