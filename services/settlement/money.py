"""Exact money arithmetic: integer cents in, integer cents out, rounding named where it happens."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


class FractionalCentsError(ValueError):
    """An amount carries more precision than a cent; money is never silently rounded on input."""


def parse_amount_cents(text: str) -> int:
    """Parse an X12 decimal ("123.45", "-5", ".5") into integer cents; refuse sub-cent values."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty amount")
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {raw!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {raw!r}")
    cents = value * 100
    if cents != cents.to_integral_value():
        raise FractionalCentsError(f"amount {raw!r} has fractional cents")
    return int(cents)


def format_cents(cents: int) -> str:
    """X12 rendering of cents: no trailing zeros beyond need ("12.5", "-3", "0")."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:02d}".rstrip("0")


def round_half_up_cents(value: Decimal) -> int:
    """Round a decimal number of cents to a whole cent, half away from zero."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def dollars(cents: int) -> str:
    """Human rendering for messages: "$1,234.50", "-$3.00"."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{frac:02d}"
