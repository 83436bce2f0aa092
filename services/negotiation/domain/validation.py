"""Field checks shared by the negotiation aggregates' commands: money, fact dates, enums.

The domain's own guard on the values a command carries (requests were read by the adapters
through services/common/fields.py; reactions to other services' events come here directly).
Roles: services/common/auth.py. "Today" is the command's `ctx.eastern_today`.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from services.common.errors import Violations
from services.common.money import amount_out_of_range


def check_cents(
    violations: Violations, field: str, value: Any, *, allow_zero: bool = False
) -> None:
    """Money is whole cents: reject floats, fractions, negatives and (usually) zero."""
    if isinstance(value, bool) or not isinstance(value, int):
        violations.add(field, "must be a whole number of cents")
    elif value < 0 or (value == 0 and not allow_zero):
        violations.add(field, "must be positive" if not allow_zero else "must not be negative")
    elif (problem := amount_out_of_range(value)) is not None:
        violations.add(field, problem)


def check_fact_date(violations: Violations, field: str, value: date | None, today: date) -> None:
    if value is None:
        violations.add(field, "is required")
    elif value > today:
        violations.add(field, f"cannot be in the future (today is {today.isoformat()} ET)")


def enum_value(violations: Violations, field: str, kind: type[StrEnum], value: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(v.value for v in kind)
        violations.add(field, f"must be one of: {allowed}")
        return None
