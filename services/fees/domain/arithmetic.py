"""Fee arithmetic, in one place: the fee rule
fee = min(cap, recovered, max(minimum, tiered percentage + flat fee)), and the exact money
arithmetic behind it (integer cents and basis points, exact Decimal in between).

Everything is exact Decimal until the single half-up rounding to the cent at the end, so a claim's
fee depends only on its cumulative recovered amount, never on how the payments were split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from services.common.money import EXACT, round_half_up_to_cent
from services.fees.domain.schedule import BASIS_POINTS_PER_UNIT, FeeTerms, ResolutionStage, Tier


def rate_times(amount_cents: int, rate_bps: int) -> Decimal:
    """The exact (unrounded) product of an amount in cents and a rate in basis points."""
    return EXACT.divide(EXACT.multiply(Decimal(amount_cents), Decimal(rate_bps)),
                        Decimal(BASIS_POINTS_PER_UNIT))


def ratio_bps(numerator_cents: int, denominator_cents: int) -> int:
    """numerator / denominator in basis points, half-up; 0 when the denominator is not positive."""
    if denominator_cents <= 0:
        return 0
    exact = EXACT.divide(Decimal(numerator_cents) * BASIS_POINTS_PER_UNIT,
                         Decimal(denominator_cents))
    return round_half_up_to_cent(exact)


@dataclass(frozen=True)
class FeeComputation:
    recovered_cents: int
    fee_cents: int
    minimum_applied: bool = False
    cap_applied: bool = False
    limited_to_recovered: bool = False
    # The earned fee (tiered percentage + flat fee, rounded half-up) before the minimum, the
    # cap and the recovered-amount limit; `fee_cents` is the fee after them.
    fee_before_limits_cents: int = 0


def tiered_percentage(tiers: Sequence[Tier], base_cents: int) -> Decimal:
    """Marginal (bracketed) percentage of `base_cents`, exact."""
    total = Decimal(0)
    for index, tier in enumerate(tiers):
        if base_cents <= tier.floor_cents:
            break
        ceiling = tiers[index + 1].floor_cents if index + 1 < len(tiers) else base_cents
        portion = min(base_cents, ceiling) - tier.floor_cents
        total += rate_times(portion, tier.rate_bps)
    return total


def compute_fee(terms: FeeTerms, stage: ResolutionStage, recovered_cents: int) -> FeeComputation:
    """The total fee a claim owes for its cumulative `recovered_cents` (0 if none recovered)."""
    if recovered_cents <= 0:
        return FeeComputation(recovered_cents=recovered_cents, fee_cents=0)
    # The flat fee is per *resolved* claim (DOMAIN.md §4): a claim is resolved once the fees
    # service knows how (agreement in open negotiation, or IDR). Payments arrive on settlements,
    # which open only on resolution, so an unresolved claim here is a data gap, not a discount.
    flat = terms.flat_fee_cents if stage is not ResolutionStage.UNSPECIFIED else 0
    earned = tiered_percentage(terms.tiers_for(stage), recovered_cents) + flat
    fee = max(Decimal(terms.minimum_cents), earned)
    minimum_applied = fee > earned
    cap_applied = terms.cap_cents is not None and terms.cap_cents < fee and (
        terms.cap_cents <= recovered_cents
    )
    limited_to_recovered = not cap_applied and recovered_cents < fee
    fee = min(fee, Decimal(recovered_cents))
    if terms.cap_cents is not None:
        fee = min(fee, Decimal(terms.cap_cents))
    return FeeComputation(
        recovered_cents=recovered_cents,
        fee_cents=round_half_up_to_cent(fee),
        minimum_applied=minimum_applied,
        cap_applied=cap_applied,
        limited_to_recovered=limited_to_recovered,
        fee_before_limits_cents=round_half_up_to_cent(earned),
    )
