"""Field checks shared by the negotiation commands: money, fact dates, enums, roles."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import Any

from services.common.context import CommandContext
from services.common.errors import PermissionDenied, Violations

MAX_CENTS = 10**12  # $10bn: anything larger is a typo, not a claim


def eastern_date(ctx: CommandContext) -> date:
    """The US Eastern calendar date NSA days are counted in."""
    return ctx.eastern_today


def require_role(ctx: CommandContext, roles: Sequence[str], what: str) -> None:
    if not ctx.has_role(*roles):
        raise PermissionDenied(f"{what} needs one of the roles: {', '.join(roles)}")


def check_cents(
    violations: Violations, field: str, value: Any, *, allow_zero: bool = False
) -> None:
    """Money is whole cents: reject floats, fractions, negatives and (usually) zero."""
    if isinstance(value, bool) or not isinstance(value, int):
        violations.add(field, "must be a whole number of cents")
    elif value < 0 or (value == 0 and not allow_zero):
        violations.add(field, "must be positive" if not allow_zero else "must not be negative")
    elif value > MAX_CENTS:
        violations.add(field, "is implausibly large")


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
