"""The instants an auditor types (`replay --up-to`, `report --as-of`), parsed in one place.

* A calendar date in any ISO-8601 form (`2026-12-04`, `20261204`, `2026-W49-5`) means the
  END of that day in US Eastern time (the counting day of the No Surprises Act deadlines):
  every event of that Eastern day is included.
* An instant with an offset or `Z` (`2026-12-04T15:00:00-05:00`, `2026-12-04T20:00Z`) is
  taken as written.
* An instant without an offset (`2026-12-04T15:00`) is refused: it could be Eastern or UTC,
  five hours apart, and an audit must not guess.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")
LAST_MICROSECOND = time(23, 59, 59, 999_999)


def parse_moment(text: str) -> datetime:
    """An aware UTC datetime; raises ValueError with a one-line reason."""
    value = text.strip()
    if not value:
        raise ValueError("an empty date; give e.g. 2026-12-04 or 2026-12-04T15:00:00-05:00")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        return _end_of_eastern_day(day, text)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO-8601 date or instant "
            "(e.g. 2026-12-04 or 2026-12-04T15:00:00-05:00)"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{text!r} has no UTC offset: add Z or ±HH:MM (e.g. {value}-05:00), "
            "or give a bare date for the end of that day, US Eastern"
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range") from None


def _end_of_eastern_day(day: date, text: str) -> datetime:
    try:
        return datetime.combine(day, LAST_MICROSECOND, EASTERN).astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range") from None


def describe(moment: datetime) -> str:
    """How a parsed moment is echoed back: UTC and Eastern, so nobody misreads it."""
    eastern = moment.astimezone(EASTERN)
    return f"{moment:%Y-%m-%d %H:%M:%S}Z ({eastern:%Y-%m-%d %H:%M:%S %Z})"


