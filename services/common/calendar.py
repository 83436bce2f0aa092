"""The federal business-day calendar and the two NSA counting forms (DOMAIN.md §1.4).

A business day is Monday to Friday minus the legal public holidays of 5 U.S.C. 6103(a) with the
Saturday→Friday / Sunday→Monday observed shift. Executive-order closures (Dec 24 2024, Dec 24
and 26 2025, ...) are not 6103(a) holidays; `exclude_eo_closures` turns them into non-business
days for the "show both results" view. The calendar is precomputed once into ordinal arrays so a
count is two list look-ups, which keeps 100,000 cases' deadlines well under a second.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta

import holidays

FIRST_YEAR = 2020
LAST_YEAR = 2045


class CalendarRangeError(ValueError):
    """A count ran off the precomputed calendar range."""


@dataclass(frozen=True)
class CalendarConfig:
    """Which days are not business days, beyond weekends and 6103(a) holidays."""

    exclude_eo_closures: bool = False
    # Inauguration Day is a holiday for the DC area only (DOMAIN.md §1.4): config, default off.
    include_inauguration_day: bool = False
    first_year: int = FIRST_YEAR
    last_year: int = LAST_YEAR


def _federal_holidays(config: CalendarConfig) -> dict[date, str]:
    years = range(config.first_year, config.last_year + 2)
    public = holidays.US(years=years, observed=True)
    closed: dict[date, str] = dict(public.items())
    if config.include_inauguration_day:
        dc = holidays.US(subdiv="DC", years=years, observed=True)
        closed.update({d: n for d, n in dc.items() if "Inauguration" in n})
    if config.exclude_eo_closures:
        government = holidays.US(years=years, categories=("government",), observed=True)
        for day, name in government.items():
            closed.setdefault(day, f"{name} (executive-order closure)")
    return closed


class BusinessCalendar:
    """Counts federal business days; all answers are plain `date`s, nothing reads the clock."""

    def __init__(self, config: CalendarConfig | None = None) -> None:
        self.config = config or CalendarConfig()
        self.closures = _federal_holidays(self.config)
        self.start = date(self.config.first_year, 1, 1)
        self.end = date(self.config.last_year, 12, 31)
        self.base = self.start.toordinal()
        span = self.end.toordinal() - self.base + 1
        closed_ordinals = {d.toordinal() for d in self.closures}
        # business_ordinals[k] = ordinal of the (k+1)-th business day in range;
        # count_through[i] = business days on or before base+i.
        self.business_ordinals: list[int] = []
        self.count_through: list[int] = [0] * span
        count = 0
        for i in range(span):
            ordinal = self.base + i
            if (ordinal % 7) not in (0, 6) and ordinal not in closed_ordinals:
                # date.fromordinal(1) is a Monday, so ordinal % 7: 0 = Sunday, 6 = Saturday.
                self.business_ordinals.append(ordinal)
                count += 1
            self.count_through[i] = count

    # -- queries -------------------------------------------------------------------------

    def is_business_day(self, day: date) -> bool:
        i = self._index(day.toordinal())
        before = self.count_through[i - 1] if i else 0
        return self.count_through[i] != before

    def next_business_day(self, day: date) -> date:
        """`day` itself when it is a business day, else the next one (a convenience value)."""
        return self.period_beginning(day, 1)

    def period_beginning(self, day: date, n: int) -> date:
        """Last day of a period of `n` business days beginning on `day` (day 1 = `day` if it is a
        business day, else the next business day — DOMAIN.md §1.4 assumption)."""
        return date.fromordinal(self.period_beginning_ordinal(day.toordinal(), n))

    def after(self, day: date, n: int) -> date:
        """The `n`-th business day after `day` (day 1 = first business day strictly after)."""
        return date.fromordinal(self.after_ordinal(day.toordinal(), n))

    def business_days_between(self, first: date, last: date) -> int:
        """Business days in the closed interval [first, last] (0 when last < first)."""
        if last < first:
            return 0
        i, j = self._index(first.toordinal()), self._index(last.toordinal())
        return self.count_through[j] - (self.count_through[i - 1] if i else 0)

    # -- ordinal forms used by the bulk deadline engine ----------------------------------

    def period_beginning_ordinal(self, ordinal: int, n: int) -> int:
        _require_positive(n)
        i = self._index(ordinal)
        before = self.count_through[i - 1] if i else 0
        return self._nth(before + n - 1)

    def after_ordinal(self, ordinal: int, n: int) -> int:
        _require_positive(n)
        return self._nth(self.count_through[self._index(ordinal)] + n - 1)

    def _nth(self, k: int) -> int:
        if k >= len(self.business_ordinals):
            raise CalendarRangeError(f"count runs past {self.end.isoformat()}")
        return self.business_ordinals[k]

    def _index(self, ordinal: int) -> int:
        i = ordinal - self.base
        if i < 0 or i >= len(self.count_through):
            raise CalendarRangeError(
                f"{date.fromordinal(ordinal).isoformat()} is outside the calendar "
                f"{self.start.isoformat()}..{self.end.isoformat()}"
            )
        return i

    def closures_between(self, first: date, last: date) -> list[date]:
        """Weekday closures inside [first, last], for showing why a window is longer."""
        return sorted(d for d in self.closures if first <= d <= last and d.weekday() < 5)


def _require_positive(n: int) -> None:
    if n < 1:
        raise ValueError(f"a business-day count must be at least 1, got {n}")


def plus_calendar_days(day: date, n: int) -> date:
    """Calendar-day clocks (T0, T8, T10) are plain date + N, no weekend roll-forward."""
    return day + timedelta(days=n)


@functools.cache
def federal_calendar(exclude_eo_closures: bool = False) -> BusinessCalendar:
    """The shared, immutable calendar per option (built once per process)."""
    return BusinessCalendar(CalendarConfig(exclude_eo_closures=exclude_eo_closures))
