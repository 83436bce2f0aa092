"""Escalation along a client's chain as a deadline nears: which level is due, once per level.

The chain is [(role, business days left), ...], widest first; a level is due when the deadline
has that many business days left or fewer, and each level is raised once per deadline due date.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from services.common.calendar import BusinessCalendar
from services.negotiation.domain.deadlines import Deadline
from services.negotiation.domain.values import Escalation


@dataclass(frozen=True)
class DueEscalation:
    deadline: Deadline
    level: int
    escalated_to: str
    business_days_left: int


def due_escalation(
    actionable: Iterable[Deadline],
    raised: Sequence[Escalation],
    *,
    as_of: date,
    chain: Sequence[tuple[str, int]],
    calendar: BusinessCalendar,
) -> DueEscalation | None:
    """The first actionable deadline whose chain level is due and not yet raised, if any."""
    for deadline in actionable:
        if deadline.due < as_of:
            continue
        days_left = calendar.business_days_between(as_of + timedelta(days=1), deadline.due)
        level = 0
        for index, (_role, threshold) in enumerate(chain, start=1):
            if days_left <= threshold:
                level = index
        highest = max(
            (
                e.level
                for e in raised
                if e.deadline_code == deadline.code.value and e.due_on == deadline.due
            ),
            default=0,
        )
        if level > highest:
            return DueEscalation(deadline, level, chain[level - 1][0], days_left)
    return None
