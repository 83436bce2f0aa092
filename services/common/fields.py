"""The one way a request's fields are read into domain values: dates, money, enums, text.

Every servicer reads its request through these (after `requests.read_request` has checked the
request id, control characters and money bounds); each helper records a field violation in the
caller's `Violations` and returns None instead of raising, so one answer lists every bad field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

from services.common.errors import Violations
from services.common.money import amount_out_of_range

E = TypeVar("E", bound=Enum)
K = TypeVar("K")


def parse_date(
    violations: Violations, field: str, text: str, *, required: bool = True,
    not_after: dt.date | None = None,
) -> dt.date | None:
    """An ISO-8601 calendar date (`2026-11-27`); `not_after` refuses dates after it (e.g. the
    command's Eastern "today" for facts that cannot be in the future)."""
    text = text.strip()
    if not text:
        violations.check(not required, field, "is required (ISO-8601 date, e.g. 2026-11-27)")
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        violations.add(field, f"is not an ISO-8601 date: {text!r}")
        return None
    if not_after is not None and day > not_after:
        violations.add(field, f"cannot be after {not_after.isoformat()}")
        return None
    return day


def parse_cents(
    violations: Violations, field: str, value: int, *, allow_zero: bool = False,
    allow_negative: bool = False,
) -> int | None:
    """Whole cents within the business ceiling (services/common/money.py)."""
    if isinstance(value, bool) or not isinstance(value, int):
        violations.add(field, "must be a whole number of cents")
        return None
    if value < 0 and not allow_negative:
        violations.add(field, "must not be negative")
        return None
    if value == 0 and not allow_zero:
        violations.add(field, "must be greater than zero")
        return None
    problem = amount_out_of_range(abs(value))
    if problem:
        violations.add(field, problem)
        return None
    return value


def parse_enum(
    violations: Violations, field: str, value: K, table: Mapping[K, E], *, required: bool = True
) -> E | None:
    """A proto enum number (or text) to its domain enum through the adapter's table; the
    unspecified value (absent from the table) is a violation when `required`."""
    found = table.get(value)
    if found is None and required:
        allowed = ", ".join(str(getattr(v, "value", v)) for v in table.values())
        violations.add(field, f"must be one of: {allowed}")
    return found


def require_text(violations: Violations, field: str, value: str) -> str:
    """Text that must not be blank, stripped."""
    value = value.strip()
    violations.check(bool(value), field, "is required")
    return value
