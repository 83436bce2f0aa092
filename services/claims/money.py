"""Conversions between X12 decimal dollar amounts and integer cents (rounding stated explicitly)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


class NotAMoneyAmount(ValueError):
    pass


def dollars_to_cents(amount: Decimal | str | int) -> int:
    """Exact when the amount has at most two decimals; otherwise half-up to the cent."""
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation as exc:
        raise NotAMoneyAmount(f"{amount!r} is not a decimal amount") from exc
    if not value.is_finite():
        raise NotAMoneyAmount(f"{amount!r} is not a finite amount")
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def cents_to_dollars(cents: int) -> Decimal:
    """The X12 amount form: no trailing zeros beyond what is needed (140 → "1.4")."""
    value = Decimal(cents) / 100
    return value.quantize(Decimal("0.01")).normalize() if cents % 100 else Decimal(cents // 100)
