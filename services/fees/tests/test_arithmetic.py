"""The fee rule on single amounts: tiers, stages, minimum, cap, flat fee, rounding."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.fees.domain.arithmetic import compute_fee, tiered_percentage
from services.fees.domain.schedule import FeeTerms, ResolutionStage, Tier
from services.fees.tests.builders import flat_rate

# A resolved claim whose terms have no stage-specific tiers (the default tiers apply).
ANY = ResolutionStage.OPEN_NEGOTIATION


def test_percentage_of_recovered() -> None:
    assert compute_fee(flat_rate(2500), ANY, 100_000).fee_cents == 25_000


def test_rounds_half_up_once_to_the_cent() -> None:
    # 12.5% of 1 cent = 0.125 -> 0; 12.5% of 4 cents = 0.5 -> 1 (half up); 12.5% of 12 = 1.5 -> 2
    terms = flat_rate(1250)
    assert [compute_fee(terms, ANY, cents).fee_cents for cents in (1, 4, 12)] == [0, 1, 2]


def test_marginal_tiers_charge_each_bracket_at_its_own_rate() -> None:
    terms = FeeTerms(default_tiers=(Tier(0, 3000), Tier(100_000, 2000), Tier(500_000, 1000)))
    # 30% of 1,000.00 + 20% of 4,000.00 + 10% of 1,000.00
    assert compute_fee(terms, ANY, 600_000).fee_cents == 30_000 + 80_000 + 10_000


def test_rounding_happens_once_across_tiers() -> None:
    # Each bracket alone is half a cent; rounding each would bill 2 cents, exactly it is 1.
    terms = FeeTerms(default_tiers=(Tier(0, 5000), Tier(1, 5000)))
    assert tiered_percentage(terms.default_tiers, 2) == 1
    assert compute_fee(terms, ANY, 2).fee_cents == 1


def test_stage_based_rates() -> None:
    terms = FeeTerms(default_tiers=(Tier(0, 2500),), open_negotiation_tiers=(Tier(0, 1500),),
                     idr_tiers=(Tier(0, 3000),))
    fees = {stage: compute_fee(terms, stage, 10_000).fee_cents for stage in ResolutionStage}
    assert fees == {ResolutionStage.UNSPECIFIED: 2500, ResolutionStage.OPEN_NEGOTIATION: 1500,
                    ResolutionStage.IDR: 3000}


def test_stage_without_own_tiers_uses_the_default() -> None:
    terms = FeeTerms(default_tiers=(Tier(0, 2500),), idr_tiers=(Tier(0, 3000),))
    assert compute_fee(terms, ResolutionStage.OPEN_NEGOTIATION, 10_000).fee_cents == 2500


def test_minimum_applies_only_when_something_was_recovered() -> None:
    terms = flat_rate(1000, minimum_cents=5_000)
    assert compute_fee(terms, ANY, 0).fee_cents == 0
    assert compute_fee(terms, ANY, -3_000).fee_cents == 0
    result = compute_fee(terms, ANY, 20_000)
    assert (result.fee_cents, result.minimum_applied) == (5_000, True)


def test_fee_never_exceeds_recovered_even_with_a_minimum() -> None:
    result = compute_fee(flat_rate(1000, minimum_cents=5_000), ANY, 3_000)
    assert (result.fee_cents, result.limited_to_recovered) == (3_000, True)


def test_cap_per_claim() -> None:
    result = compute_fee(flat_rate(3000, cap_cents=100_000), ANY, 1_000_000)
    assert (result.fee_cents, result.cap_applied) == (100_000, True)


def test_flat_fee_per_resolved_claim_is_added_to_the_percentage() -> None:
    terms = flat_rate(1000, flat_fee_cents=2_500)
    assert compute_fee(terms, ANY, 50_000).fee_cents == 5_000 + 2_500
    assert compute_fee(terms, ANY, 0).fee_cents == 0


def test_flat_fee_alone() -> None:
    assert compute_fee(flat_rate(0, flat_fee_cents=7_500), ANY, 90_000).fee_cents == 7_500


def test_no_flat_fee_until_the_claim_is_resolved() -> None:
    terms = flat_rate(1000, flat_fee_cents=2_500)
    assert compute_fee(terms, ResolutionStage.UNSPECIFIED, 50_000).fee_cents == 5_000
    assert compute_fee(terms, ResolutionStage.IDR, 50_000).fee_cents == 5_000 + 2_500


tiers = st.lists(st.tuples(st.integers(1, 10**9), st.integers(0, 10_000)), max_size=4).map(
    lambda rest: (Tier(0, 2000), *[Tier(floor, rate) for floor, rate in sorted(set(rest))]),
).filter(lambda ts: len({t.floor_cents for t in ts}) == len(ts))


@st.composite
def terms_strategy(draw: st.DrawFn) -> FeeTerms:
    minimum = draw(st.integers(0, 10**7))
    cap = draw(st.none() | st.integers(max(minimum, 1), 10**9))
    return FeeTerms(default_tiers=draw(tiers), minimum_cents=minimum, cap_cents=cap,
                    flat_fee_cents=draw(st.integers(0, 10**6)))


@given(terms_strategy(), st.integers(-10**10, 10**12))
def test_fee_is_never_negative_nor_above_recovered_nor_above_cap(terms: FeeTerms,
                                                               recovered: int) -> None:
    fee = compute_fee(terms, ANY, recovered).fee_cents
    assert 0 <= fee <= max(recovered, 0)
    if terms.cap_cents is not None:
        assert fee <= terms.cap_cents


@given(terms_strategy(), st.integers(1, 10**12))
def test_fee_is_the_rule_in_exact_arithmetic(terms: FeeTerms, recovered: int) -> None:
    from decimal import ROUND_HALF_UP, Decimal

    exact = sum(
        (Decimal(min(recovered, nxt) - tier.floor_cents) * tier.rate_bps / 10_000
         for tier, nxt in zip(terms.default_tiers,
                              [t.floor_cents for t in terms.default_tiers[1:]] + [recovered],
                              strict=True)
         if recovered > tier.floor_cents),
        Decimal(0),
    ) + terms.flat_fee_cents
    expected = min(Decimal(recovered), max(Decimal(terms.minimum_cents), exact))
    if terms.cap_cents is not None:
        expected = min(expected, Decimal(terms.cap_cents))
    assert compute_fee(terms, ANY, recovered).fee_cents == int(
        expected.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@given(terms_strategy(), st.integers(0, 10**12), st.integers(0, 10**10))
def test_fee_grows_with_recovered(terms: FeeTerms, recovered: int, more: int) -> None:
    assert (compute_fee(terms, ANY, recovered).fee_cents
            <= compute_fee(terms, ANY, recovered + more).fee_cents)


@given(st.integers(0, 10_000), st.integers(0, 10**12))
def test_a_single_tier_is_a_flat_percentage(rate: int, recovered: int) -> None:
    from decimal import ROUND_HALF_UP, Decimal

    expected = (Decimal(recovered) * rate / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert compute_fee(flat_rate(rate), ANY, recovered).fee_cents == int(expected)


def test_fee_before_limits_is_the_earned_fee_before_minimum_and_cap() -> None:
    # 10 % of $200 = $20 < the $50 minimum; 30 % of $10,000 = $3,000 > the $1,000 cap;
    # 25 % of $40 + $25 flat = $35 (no limit); of $30: $32.50 > $30 recovered -> $30.
    low = compute_fee(flat_rate(1000, minimum_cents=5_000), ANY, 20_000)
    assert (low.fee_before_limits_cents, low.fee_cents, low.minimum_applied) == (
        2_000, 5_000, True)
    high = compute_fee(flat_rate(3000, cap_cents=100_000), ANY, 1_000_000)
    assert (high.fee_before_limits_cents, high.fee_cents, high.cap_applied) == (
        300_000, 100_000, True)
    over = compute_fee(flat_rate(2500, flat_fee_cents=2_500), ANY, 4_000)
    assert (over.fee_before_limits_cents, over.fee_cents, over.limited_to_recovered) == (
        3_500, 3_500, False)
    limited = compute_fee(flat_rate(2500, flat_fee_cents=2_500), ANY, 3_000)
    assert (limited.fee_before_limits_cents, limited.fee_cents,
            limited.limited_to_recovered) == (3_250, 3_000, True)
    assert compute_fee(flat_rate(2500), ANY, 0).fee_before_limits_cents == 0


@given(terms_strategy(), st.integers(1, 10**12))
def test_without_minimum_or_cap_before_equals_after_unless_limited(
        terms: FeeTerms, recovered: int) -> None:
    result = compute_fee(terms, ANY, recovered)
    if not (result.minimum_applied or result.cap_applied or result.limited_to_recovered):
        assert result.fee_before_limits_cents == result.fee_cents
