"""Exact money arithmetic: integer cents and basis points, exact Decimal in between."""

from __future__ import annotations

from decimal import Decimal

from services.common.money import EXACT as _EXACT
from services.common.money import round_half_up_to_cent

BASIS_POINTS_PER_UNIT = 10_000


def rate_times(amount_cents: int, rate_bps: int) -> Decimal:
    """The exact (unrounded) product of an amount in cents and a rate in basis points."""
    return _EXACT.divide(_EXACT.multiply(Decimal(amount_cents), Decimal(rate_bps)),
                         Decimal(BASIS_POINTS_PER_UNIT))


def ratio_bps(numerator_cents: int, denominator_cents: int) -> int:
    """numerator / denominator in basis points, half-up; 0 when the denominator is not positive."""
    if denominator_cents <= 0:
        return 0
    exact = _EXACT.divide(Decimal(numerator_cents) * BASIS_POINTS_PER_UNIT,
                          Decimal(denominator_cents))
    return round_half_up_to_cent(exact)
