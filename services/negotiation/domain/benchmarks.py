"""Benchmark table of IDR outcomes and the offer suggestion built on it.

The table maps (service group x region x plan type) to QPA-relative statistics of prevailing
offers and win rates. A suggestion opens at the 75th percentile of prevailing provider offers
and sets the walk-away floor at the expected IDR award net of the client's expected fees:
accepting less than that is worse, on average, than going to IDR.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from services.common.money import half_up_div
from services.negotiation.domain.cooling_off import service_family
from services.negotiation.domain.money import apply_basis_points

WILDCARD = "*"
# Service codes the families of `cooling_off.service_family` do not name on their own.
_EMERGENCY_CODES = frozenset({"99281", "99282", "99283", "99284", "99285", "99291", "99292"})


class BenchmarkTableError(ValueError):
    """The CSV is missing columns or holds a bad number."""


@dataclass(frozen=True)
class BenchmarkRow:
    service_group: str
    region: str
    plan_type: str
    disputes: int
    provider_win_rate_bp: int
    provider_prevailing_p25_bp: int
    provider_prevailing_median_bp: int
    provider_prevailing_p75_bp: int
    plan_prevailing_median_bp: int
    source: str

    @property
    def key(self) -> str:
        return f"{self.service_group}/{self.region}/{self.plan_type}"


@dataclass(frozen=True)
class OfferSuggestion:
    opening_offer_cents: int
    walk_away_floor_cents: int
    opening_bp: int
    floor_bp: int
    benchmark: BenchmarkRow
    evidence: tuple[str, ...]


_INT_COLUMNS = (
    "disputes",
    "provider_win_rate_bp",
    "provider_prevailing_p25_bp",
    "provider_prevailing_median_bp",
    "provider_prevailing_p75_bp",
    "plan_prevailing_median_bp",
)


def parse_benchmarks(text: str) -> list[BenchmarkRow]:
    """Rows of a benchmark CSV (lines starting with '#' are notes)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    missing = {"service_group", "region", "plan_type", "source", *_INT_COLUMNS} - set(
        reader.fieldnames or ()
    )
    if missing:
        raise BenchmarkTableError(f"missing columns: {', '.join(sorted(missing))}")
    rows = []
    for number, raw in enumerate(reader, start=2):
        try:
            numbers = {name: int(raw[name]) for name in _INT_COLUMNS}
        except ValueError as exc:
            raise BenchmarkTableError(f"row {number}: {exc}") from None
        rows.append(
            BenchmarkRow(
                service_group=raw["service_group"].strip(),
                region=raw["region"].strip().upper() if raw["region"] != WILDCARD else WILDCARD,
                plan_type=raw["plan_type"].strip(),
                source=raw["source"].strip(),
                **numbers,
            )
        )
    return rows


def service_group(service_code: str) -> str:
    code = service_code.strip().upper()
    if code in _EMERGENCY_CODES:
        return "emergency"
    return service_family(code)


def best_match(
    rows: Iterable[BenchmarkRow], service_code: str, region: str, plan_type: str
) -> BenchmarkRow | None:
    """The most specific row: exact fields beat wildcards, service group weighs most."""
    group = service_group(service_code)
    region = region.strip().upper()
    best: tuple[int, BenchmarkRow] | None = None
    for row in rows:
        score = 0
        for wanted, have, weight in (
            (group, row.service_group, 4),
            (region, row.region, 2),
            (plan_type, row.plan_type, 1),
        ):
            if have == wanted:
                score += weight
            elif have != WILDCARD:
                score = -1
                break
        if score >= 0 and (best is None or score > best[0]):
            best = (score, row)
    return best[1] if best else None


def suggest_offer(
    row: BenchmarkRow,
    qpa_cents: int,
    administrative_fee_cents: int,
    typical_idre_fee_cents: int,
) -> OfferSuggestion:
    """Opening offer (p75 of prevailing provider offers) and walk-away floor (expected award
    net of the client's expected fees), both in cents of total OON rate."""
    win = row.provider_win_rate_bp
    expected_award_bp = half_up_div(
        win * row.provider_prevailing_median_bp + (10_000 - win) * row.plan_prevailing_median_bp,
        10_000,
    )
    expected_fees = administrative_fee_cents + half_up_div(
        (10_000 - win) * typical_idre_fee_cents, 10_000
    )
    opening = apply_basis_points(qpa_cents, row.provider_prevailing_p75_bp)
    floor = max(apply_basis_points(qpa_cents, expected_award_bp) - expected_fees, qpa_cents)
    floor_bp = half_up_div(floor * 10_000, qpa_cents)
    evidence = (
        f"benchmark {row.key} ({row.disputes:,} disputes): {row.source}",
        f"opening at p75 of prevailing provider offers: {row.provider_prevailing_p75_bp / 100:.0f}"
        f"% of QPA",
        f"provider win rate {win / 100:.0f}%; prevailing provider median "
        f"{row.provider_prevailing_median_bp / 100:.0f}%, plan median "
        f"{row.plan_prevailing_median_bp / 100:.0f}% of QPA",
        f"expected IDR award {expected_award_bp / 100:.0f}% of QPA less expected fees "
        f"{expected_fees / 100:.2f} USD (admin fee + loser-pays IDRE fee x loss rate); "
        "never below the QPA",
    )
    return OfferSuggestion(opening, floor, row.provider_prevailing_p75_bp, floor_bp, row, evidence)
