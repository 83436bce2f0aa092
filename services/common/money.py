"""Money values every service shares: integer cents, their X12 decimal form, their display.

A value type, not a business rule: how much is owed or billed lives in each service's domain.
Amounts from outside (X12 files, partner input) must be whole cents: a sub-cent amount is
refused, never silently rounded.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

from services.common.errors import InvalidArgument

# Wide enough that no int64 cents times basis-points product is rounded before the final step.
EXACT = Context(prec=60)

# The largest amount, in cents, any single money field or any total the domain computes may hold:
# $1 billion. The largest real out-of-network claims are in the low millions of dollars, so this
# refuses only nonsense, and it keeps every sum of a few thousand amounts and every fee product
# (amount x basis points) far inside int64 (9.2e18), which proto int64 fields and PostgreSQL
# bigint columns require. Checked before anything is recorded (docs/DEVELOPING.md).
MAX_AMOUNT_CENTS = 100_000_000_000


class NotAnAmount(ValueError):
    """The text is not a finite decimal amount."""


class FractionalCents(NotAnAmount):
    """The amount is more precise than a cent."""


class AmountOutOfRange(NotAnAmount):
    """The amount does not fit the int64 every stored amount is (proto fields, bigint columns)."""


INT64_MAX = 2**63 - 1


def amount_out_of_range(cents: int) -> str | None:
    """Why `cents` is not a storable amount, or None when it is."""
    if abs(cents) > MAX_AMOUNT_CENTS:
        return f"must be between -{MAX_AMOUNT_CENTS} and {MAX_AMOUNT_CENTS} cents ($1 billion)"
    return None


def require_amount(cents: int, field: str) -> int:
    """`cents` itself, or InvalidArgument naming `field` when it is beyond the ceiling.

    For amounts the domain computes (a claim's total of its lines, a settlement's total paid):
    each input may be in range while the sum is not.
    """
    problem = amount_out_of_range(cents)
    if problem:
        raise InvalidArgument(problem, field=field)
    return cents


def cents_from_decimal(amount: str | Decimal | int) -> int:
    """Dollars as a decimal ("123.45", "-5", ".5") → integer cents; sub-cent amounts refused."""
    text = str(amount).strip()
    if not text:
        raise NotAnAmount("empty amount")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise NotAnAmount(f"not a decimal amount: {text!r}") from exc
    if not value.is_finite():
        raise NotAnAmount(f"not a finite amount: {text!r}")
    cents = value * 100
    if cents != cents.to_integral_value():
        raise FractionalCents(f"amount {text!r} has fractional cents")
    if abs(cents) > INT64_MAX:
        raise AmountOutOfRange(f"amount {text!r} is beyond the int64 range of cents")
    return int(cents)


def x12_amount(cents: int) -> str:
    """Cents in X12's decimal form: no trailing zeros beyond need ("12.5", "-3", "0")."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:02d}".rstrip("0")


def format_usd(cents: int) -> str:
    """Cents for people: "$1,234.50", "-$3.00"."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{frac:02d}"


def round_half_up_to_cent(cents: Decimal) -> int:
    """An exact amount of cents rounded to a whole cent, halves away from zero.

    The one rounding rule of the platform (fees, negotiation's shares of QPA, IDR fee halves):
    `half_up_div` is the same rule for an integer quotient.
    """
    return int(cents.quantize(Decimal(1), rounding=ROUND_HALF_UP, context=EXACT))


def half_up_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, in integers only."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient
