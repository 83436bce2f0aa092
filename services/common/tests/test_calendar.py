"""The federal business-day calendar and both NSA counting forms (DOMAIN.md §1.4)."""

from __future__ import annotations

from datetime import date, timedelta

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.calendar import (
    BusinessCalendar,
    CalendarConfig,
    CalendarRangeError,
    federal_calendar,
    plus_calendar_days,
)

CAL = federal_calendar()
EO = federal_calendar(exclude_eo_closures=True)

days = st.dates(min_value=date(2021, 1, 1), max_value=date(2040, 12, 31))
counts = st.integers(min_value=1, max_value=120)


def naive_after(start: date, n: int) -> date:
    """Reference implementation: walk day by day against the `holidays` package."""
    federal = holidays.US(years=range(start.year, start.year + 3), observed=True)
    day, counted = start, 0
    while counted < n:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in federal:
            counted += 1
    return day


# -- the two official anchors ------------------------------------------------------------


def test_on_started_2024_05_31_gives_idr_deadline_2024_07_19() -> None:
    on_day_30 = CAL.period_beginning(date(2024, 5, 31), 30)
    assert on_day_30 == date(2024, 7, 15)  # Juneteenth and July 4 skipped
    assert CAL.after(on_day_30, 1) == date(2024, 7, 16)
    assert CAL.after(on_day_30, 4) == date(2024, 7, 19)


def test_60th_business_day_after_2023_12_15_is_2024_03_14() -> None:
    assert CAL.after(date(2023, 12, 15), 60) == date(2024, 3, 14)


# -- holidays ------------------------------------------------------------------------------

WEEKDAY_HOLIDAYS = {
    2025: "01-01 01-20 02-17 05-26 06-19 07-04 09-01 10-13 11-11 11-27 12-25",
    2026: "01-01 01-19 02-16 05-25 06-19 07-03 09-07 10-12 11-11 11-26 12-25",
    2027: "01-01 01-18 02-15 05-31 06-18 07-05 09-06 10-11 11-11 11-25 12-24 12-31",
}


@pytest.mark.parametrize("year", sorted(WEEKDAY_HOLIDAYS))
def test_weekday_holidays_match_the_domain_table(year: int) -> None:
    expected = [date.fromisoformat(f"{year}-{md}") for md in WEEKDAY_HOLIDAYS[year].split()]
    got = [d for d in CAL.closures_between(date(year, 1, 1), date(year, 12, 31))]
    assert got == expected
    assert not any(CAL.is_business_day(d) for d in expected)


def test_observed_shift_saturday_to_friday_and_sunday_to_monday() -> None:
    assert not CAL.is_business_day(date(2026, 7, 3))  # July 4 2026 is a Saturday
    assert not CAL.is_business_day(date(2027, 7, 5))  # July 4 2027 is a Sunday
    assert CAL.is_business_day(date(2026, 7, 6))


def test_executive_order_closures_are_business_days_unless_opted_out() -> None:
    for closure in (date(2024, 12, 24), date(2025, 12, 24), date(2025, 12, 26)):
        assert CAL.is_business_day(closure)
        assert not EO.is_business_day(closure)
    assert CAL.after(date(2025, 12, 23), 1) == date(2025, 12, 24)
    assert EO.after(date(2025, 12, 23), 1) == date(2025, 12, 29)


def test_inauguration_day_is_config_for_the_dc_area_only() -> None:
    dc = BusinessCalendar(CalendarConfig(include_inauguration_day=True))
    inauguration = date(2033, 1, 20)  # a Thursday
    assert CAL.is_business_day(inauguration)
    assert not dc.is_business_day(inauguration)


# -- both counting forms, every kind of start day ----------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "expected", "why"),
    [
        (date(2026, 11, 23), 1, date(2026, 11, 23), "business day is day 1"),
        (date(2026, 11, 23), 4, date(2026, 11, 27), "skips Thanksgiving 11-26"),
        (date(2026, 11, 21), 1, date(2026, 11, 23), "Saturday start: day 1 is Monday"),
        (date(2026, 11, 26), 1, date(2026, 11, 27), "holiday start: day 1 is next BD"),
        (date(2026, 7, 3), 2, date(2026, 7, 7), "observed holiday start"),
    ],
)
def test_period_beginning(start: date, n: int, expected: date, why: str) -> None:
    assert CAL.period_beginning(start, n) == expected, why


@pytest.mark.parametrize(
    ("start", "n", "expected", "why"),
    [
        (date(2026, 11, 23), 1, date(2026, 11, 24), "day 1 is strictly after"),
        (date(2026, 11, 25), 1, date(2026, 11, 27), "skips Thanksgiving"),
        (date(2026, 11, 27), 1, date(2026, 11, 30), "Friday: next is Monday"),
        (date(2026, 11, 28), 1, date(2026, 11, 30), "Saturday start"),
        (date(2026, 12, 24), 1, date(2026, 12, 28), "skips Christmas and weekend"),
    ],
)
def test_after(start: date, n: int, expected: date, why: str) -> None:
    assert CAL.after(start, n) == expected, why


def test_calendar_day_clocks_do_not_roll_forward() -> None:
    assert plus_calendar_days(date(2026, 6, 5), 30) == date(2026, 7, 5)  # a Sunday
    assert CAL.next_business_day(date(2026, 7, 5)) == date(2026, 7, 6)


def test_counts_must_be_positive_and_inside_the_calendar() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CAL.after(date(2026, 1, 5), 0)
    with pytest.raises(CalendarRangeError):
        CAL.after(date(2019, 6, 1), 3)
    with pytest.raises(CalendarRangeError):
        CAL.after(date(2045, 12, 20), 30)


# -- properties ----------------------------------------------------------------------------


@given(days, counts)
def test_after_matches_a_naive_day_by_day_walk(start: date, n: int) -> None:
    assert CAL.after(start, n) == naive_after(start, n)


@given(days, counts)
def test_after_lands_on_the_nth_business_day_strictly_after(start: date, n: int) -> None:
    end = CAL.after(start, n)
    assert end > start
    assert CAL.is_business_day(end)
    assert CAL.business_days_between(start + timedelta(days=1), end) == n


@given(days, counts)
def test_period_beginning_counts_the_start_day(start: date, n: int) -> None:
    end = CAL.period_beginning(start, n)
    assert end >= start
    assert CAL.is_business_day(end)
    assert CAL.business_days_between(start, end) == n
    assert end == CAL.after(start - timedelta(days=1), n)


@given(days, counts, counts)
def test_after_composes(start: date, a: int, b: int) -> None:
    assert CAL.after(CAL.after(start, a), b) == CAL.after(start, a + b)
    assert CAL.after(start, a + 1) > CAL.after(start, a)


@given(days, counts)
def test_excluding_eo_closures_never_shortens_a_window(start: date, n: int) -> None:
    assert EO.after(start, n) >= CAL.after(start, n)
