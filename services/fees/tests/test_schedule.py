"""Schedule validation and version selection by date."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from services.fees.domain.schedule import (
    FeeTerms,
    ScheduleVersion,
    Tier,
    in_force_on,
    superseded_by,
    validate_new_version,
    validate_terms,
)
from services.fees.tests.builders import flat_rate, version


def fields(violations: list) -> set[str]:
    return {violation.field for violation in violations}


def test_valid_terms_have_no_violations() -> None:
    terms = FeeTerms(default_tiers=(Tier(0, 3000), Tier(100_000, 2000)),
                     idr_tiers=(Tier(0, 3500),), minimum_cents=1_000, cap_cents=50_000)
    assert validate_terms(terms) == []


def test_negative_rate_is_rejected() -> None:
    assert fields(validate_terms(flat_rate(-1))) == {"terms.default_tiers[0].rate_bps"}


def test_rate_above_one_hundred_percent_is_rejected() -> None:
    assert fields(validate_terms(flat_rate(10_001))) == {"terms.default_tiers[0].rate_bps"}


def test_tiers_out_of_order_are_rejected() -> None:
    terms = FeeTerms(default_tiers=(Tier(0, 3000), Tier(500_000, 2000), Tier(100_000, 1000)))
    assert fields(validate_terms(terms)) == {"terms.default_tiers[2].floor_cents"}


def test_first_tier_must_start_at_zero_and_a_tier_is_required() -> None:
    assert fields(validate_terms(FeeTerms(default_tiers=(Tier(5, 3000),)))) == {
        "terms.default_tiers[0].floor_cents"}
    assert fields(validate_terms(FeeTerms(default_tiers=()))) == {"terms.default_tiers"}


def test_stage_tiers_are_validated_too() -> None:
    terms = FeeTerms(default_tiers=(Tier(0, 3000),), open_negotiation_tiers=(Tier(0, -5),))
    assert fields(validate_terms(terms)) == {"terms.open_negotiation_tiers[0].rate_bps"}


def test_cap_below_minimum_is_rejected() -> None:
    assert fields(validate_terms(flat_rate(2000, minimum_cents=5_000, cap_cents=4_999))) == {
        "terms.cap_cents"}


def test_negative_minimum_and_flat_fee_are_rejected() -> None:
    assert fields(validate_terms(flat_rate(2000, minimum_cents=-1, flat_fee_cents=-1))) == {
        "terms.minimum_cents", "terms.flat_fee_cents"}


def test_overlapping_closed_versions_are_rejected() -> None:
    existing = [version(flat_rate(2000), 1, dt.date(2026, 1, 1), dt.date(2026, 6, 30))]
    violations = validate_new_version(existing, dt.date(2026, 6, 1), None, flat_rate(2500))
    assert fields(violations) == {"effective_from"}
    assert validate_new_version(existing, dt.date(2026, 7, 1), None, flat_rate(2500)) == []


def test_a_version_starting_on_or_before_an_open_ended_one_overlaps_it() -> None:
    existing = [version(flat_rate(2000), 1, dt.date(2026, 3, 1))]
    assert fields(validate_new_version(existing, dt.date(2026, 3, 1), None, flat_rate(1))) == {
        "effective_from"}
    assert fields(validate_new_version(existing, dt.date(2026, 1, 1), dt.date(2026, 3, 1),
                                       flat_rate(1))) == {"effective_from"}
    assert validate_new_version(existing, dt.date(2026, 1, 1), dt.date(2026, 2, 28),
                                flat_rate(1)) == []


def test_a_later_version_supersedes_the_open_ended_one() -> None:
    existing = [version(flat_rate(2000), 1, dt.date(2026, 1, 1))]
    assert validate_new_version(existing, dt.date(2026, 7, 1), None, flat_rate(2500)) == []
    assert superseded_by(existing, dt.date(2026, 7, 1)) == 1


def test_until_before_from_is_rejected() -> None:
    assert fields(validate_new_version([], dt.date(2026, 7, 1), dt.date(2026, 6, 1),
                                       flat_rate(1))) == {"effective_until"}


def test_in_force_on_is_chosen_by_date() -> None:
    versions = [
        version(flat_rate(2000), 1, dt.date(2026, 1, 1), dt.date(2026, 6, 30)),
        version(flat_rate(2500), 2, dt.date(2026, 7, 1)),
    ]
    assert in_force_on(versions, dt.date(2025, 12, 31)) is None
    assert in_force_on(versions, dt.date(2026, 6, 30)).version == 1  # type: ignore[union-attr]
    assert in_force_on(versions, dt.date(2026, 7, 1)).version == 2  # type: ignore[union-attr]
    assert in_force_on(versions, dt.date(2030, 1, 1)).version == 2  # type: ignore[union-attr]


@st.composite
def version_histories(draw: st.DrawFn) -> list[ScheduleVersion]:
    """Versions published one after another with later start dates (each ends the previous)."""
    starts = sorted(draw(st.sets(st.dates(dt.date(2024, 1, 1), dt.date(2030, 12, 31)),
                                 min_size=1, max_size=6)))
    versions: list[ScheduleVersion] = []
    for number, start in enumerate(starts, 1):
        assert validate_new_version(versions, start, None, flat_rate(number)) == []
        ended = superseded_by(versions, start)
        versions = [ScheduleVersion(v.version, v.effective_from, start - dt.timedelta(days=1),
                                    v.terms) if v.version == ended else v for v in versions]
        versions.append(version(flat_rate(number), number, start))
    return versions


@given(version_histories(), st.dates(dt.date(2023, 1, 1), dt.date(2031, 12, 31)))
def test_exactly_the_latest_version_started_on_or_before_a_day_is_in_force(
        versions: list[ScheduleVersion], day: dt.date) -> None:
    in_force = [v for v in versions if v.covers(day)]
    started = [v for v in versions if v.effective_from <= day]
    if not started:
        assert in_force == [] and in_force_on(versions, day) is None
    else:
        assert in_force == [max(started, key=lambda v: v.effective_from)]
        assert in_force_on(versions, day) == in_force[0]


@given(version_histories(), st.dates(dt.date(2023, 1, 1), dt.date(2031, 12, 31)),
       st.integers(0, 400))
def test_a_new_range_is_refused_exactly_when_it_would_share_a_day_with_a_version(
        versions: list[ScheduleVersion], start: dt.date, length: int) -> None:
    """Sharing a day with a closed version overlaps; an open-ended version only overlaps when
    the new one starts on or before it (a later start ends the open-ended one instead)."""
    until = start + dt.timedelta(days=length)
    shares_a_day = any(
        v.overlaps(start, until) if v.effective_until else start <= v.effective_from <= until
        for v in versions)
    refused = bool(validate_new_version(versions, start, until, flat_rate(1)))
    assert refused == shares_a_day
