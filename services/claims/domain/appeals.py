"""Appeal windows: the deadline to file each appeal level, counted in calendar days.

ERISA / ACA internal appeals: 180 calendar days from receipt of the adverse benefit
determination (29 CFR 2560.503-1(h)(3)(i)); external review: 4 months from the final internal
adverse determination (45 CFR 147.136). Calendar-day windows are plain date arithmetic with no
weekend roll-forward (DOMAIN.md §1.4).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

RULE_SET_VERSION = "appeals/2026.11"


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

    @property
    def decided(self) -> bool:
        return self.outcome is not None
