"""Appeal windows: calendar-day arithmetic (ERISA 180 days; external review 4 months)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.claims.domain.appeals import AppealLevel, add_months, filing_window


def test_erisa_window_is_180_calendar_days():
    window = filing_window(AppealLevel.FIRST_INTERNAL, date(2026, 3, 2))
    assert window.deadline == date(2026, 8, 29)  # a Saturday: calendar days, no roll-forward
    assert "180 calendar days" in window.rule


def test_external_review_is_four_months_clamped():
    assert filing_window(AppealLevel.EXTERNAL_REVIEW, date(2026, 10, 31)).deadline == date(
        2027, 2, 28
    )
    assert filing_window(AppealLevel.EXTERNAL_REVIEW, date(2027, 10, 31)).deadline == date(
        2028, 2, 29
    )


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)))
def test_internal_windows_are_exactly_180_days(adverse):
    for level in (AppealLevel.FIRST_INTERNAL, AppealLevel.SECOND_INTERNAL):
        assert filing_window(level, adverse).deadline - adverse == timedelta(days=180)


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
    st.integers(min_value=0, max_value=48),
)
def test_add_months_properties(start, months):
    result = add_months(start, months)
    assert (result.year - start.year) * 12 + result.month - start.month == months
    assert result.day <= start.day
    assert result >= start


def test_decision_due_dates():
    from services.claims.domain.appeals import decision_due

    filed = date(2026, 11, 20)
    assert decision_due(AppealLevel.FIRST_INTERNAL, filed) == date(2027, 1, 19)
    assert decision_due(AppealLevel.EXTERNAL_REVIEW, filed) == date(2027, 1, 4)
