"""The benchmark table and the offer suggestion built on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.negotiation.domain.benchmarks import (
    BenchmarkTableError,
    best_match,
    parse_benchmarks,
    suggest_offer,
)

SAMPLE = (Path(__file__).parent.parent / "data" / "idr_benchmarks_sample.csv").read_text()
ROWS = parse_benchmarks(SAMPLE)


def test_the_sample_is_labelled_and_carries_the_published_medians() -> None:
    assert SAMPLE.startswith("# SAMPLE DATA")
    overall = best_match(ROWS, "27447", "NY", "self_funded_erisa")
    assert overall is not None and overall.key == "*/*/*"
    assert overall.provider_prevailing_median_bp == 38_300
    assert overall.plan_prevailing_median_bp == 10_500


def test_most_specific_row_wins() -> None:
    row = best_match(ROWS, "70450", "tx", "fully_insured")
    assert row is not None and row.key == "radiology/TX/fully_insured"
    row = best_match(ROWS, "70450", "CA", "fully_insured")
    assert row is not None and row.key == "radiology/*/*"
    row = best_match(ROWS, "99285", "CA", "fully_insured")
    assert row is not None and row.key == "emergency/*/*"


def test_suggestion_opens_at_p75_and_floors_at_expected_award_net_of_fees() -> None:
    row = best_match(ROWS, "99285", "CA", "fully_insured")
    assert row is not None
    s = suggest_offer(
        row, qpa_cents=40_000, administrative_fee_cents=1_500, typical_idre_fee_cents=50_000
    )
    assert s.opening_offer_cents == 128_000  # 320 % of QPA
    # expected award: 83 % x 257 % + 17 % x 105 % = 231.16 % of QPA => 92,464 cents,
    # less fees 1,500 + 17 % x 50,000 = 10,000 -> 82,464.
    assert s.walk_away_floor_cents == 82_464
    assert any("expected IDR award 231%" in line for line in s.evidence)


def test_bad_tables_are_refused() -> None:
    with pytest.raises(BenchmarkTableError, match="missing columns"):
        parse_benchmarks("service_group,region\nx,y\n")
    with pytest.raises(BenchmarkTableError, match="row 2"):
        parse_benchmarks(SAMPLE.splitlines()[5] + "\n*,*,*,many,1,1,1,1,1,src\n")


@given(st.integers(min_value=1, max_value=10**9))
def test_floor_is_never_below_qpa_nor_above_opening(qpa: int) -> None:
    for row in ROWS:
        s = suggest_offer(row, qpa, 1_500, 50_000)
        assert qpa <= s.walk_away_floor_cents
        assert s.walk_away_floor_cents <= max(s.opening_offer_cents, qpa)
