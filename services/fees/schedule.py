"""Fee schedules: the terms of a client's contract, versioned by effective date, and their rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.common.errors import FieldViolation
from services.fees.money import BASIS_POINTS_PER_UNIT


class FeeBase(StrEnum):
    INCREMENTAL = "INCREMENTAL"
    """The percentage applies to what was recovered above the payer's initial payment."""
    FULL_AWARD = "FULL_AWARD"
    """The percentage applies to everything the payer paid, initial payment included."""


class ResolutionStage(StrEnum):
    UNSPECIFIED = "UNSPECIFIED"
    OPEN_NEGOTIATION = "OPEN_NEGOTIATION"
    IDR = "IDR"


@dataclass(frozen=True)
class Tier:
    """`rate_bps` applies to the part of the base from `floor_cents` up to the next tier's floor."""

    floor_cents: int
    rate_bps: int


@dataclass(frozen=True)
class FeeTerms:
    default_tiers: tuple[Tier, ...]
    open_negotiation_tiers: tuple[Tier, ...] = ()
    idr_tiers: tuple[Tier, ...] = ()
    base: FeeBase = FeeBase.INCREMENTAL
    include_interest: bool = False
    minimum_cents: int = 0
    cap_cents: int | None = None
    flat_fee_cents: int = 0
    pass_through_idr_fees: bool = False

    def tiers_for(self, stage: ResolutionStage) -> tuple[Tier, ...]:
        """Stage-based tiers when the contract has them for this stage, else the default tiers."""
        if stage is ResolutionStage.OPEN_NEGOTIATION and self.open_negotiation_tiers:
            return self.open_negotiation_tiers
        if stage is ResolutionStage.IDR and self.idr_tiers:
            return self.idr_tiers
        return self.default_tiers


@dataclass(frozen=True)
class ScheduleVersion:
    version: int
    effective_from: dt.date
    effective_until: dt.date | None
    """Inclusive; None while open-ended."""
    terms: FeeTerms

    def in_force_on(self, day: dt.date) -> bool:
        return self.effective_from <= day and (
            self.effective_until is None or day <= self.effective_until
        )

    def overlaps(self, start: dt.date, until: dt.date | None) -> bool:
        starts_before_other_ends = until is None or self.effective_from <= until
        ends_after_other_starts = self.effective_until is None or start <= self.effective_until
        return starts_before_other_ends and ends_after_other_starts


def validate_tiers(tiers: Sequence[Tier], field: str, *, required: bool) -> list[FieldViolation]:
    if not tiers:
        return [FieldViolation(field, "at least one tier is required")] if required else []
    violations = []
    if tiers[0].floor_cents != 0:
        violations.append(FieldViolation(f"{field}[0].floor_cents", "the first tier starts at 0"))
    for index, tier in enumerate(tiers):
        if not 0 <= tier.rate_bps <= BASIS_POINTS_PER_UNIT:
            violations.append(FieldViolation(
                f"{field}[{index}].rate_bps",
                f"rate must be between 0 and {BASIS_POINTS_PER_UNIT} basis points",
            ))
        if index and tier.floor_cents <= tiers[index - 1].floor_cents:
            violations.append(FieldViolation(
                f"{field}[{index}].floor_cents",
                "tiers must be in strictly increasing order of floor",
            ))
    return violations


def validate_terms(terms: FeeTerms, field: str = "terms") -> list[FieldViolation]:
    violations = [
        *validate_tiers(terms.default_tiers, f"{field}.default_tiers", required=True),
        *validate_tiers(terms.open_negotiation_tiers, f"{field}.open_negotiation_tiers",
                        required=False),
        *validate_tiers(terms.idr_tiers, f"{field}.idr_tiers", required=False),
    ]
    for name in ("minimum_cents", "flat_fee_cents"):
        if getattr(terms, name) < 0:
            violations.append(FieldViolation(f"{field}.{name}", "must not be negative"))
    if terms.cap_cents is not None:
        if terms.cap_cents <= 0:
            violations.append(FieldViolation(f"{field}.cap_cents", "a cap must be positive"))
        elif terms.cap_cents < terms.minimum_cents:
            violations.append(FieldViolation(f"{field}.cap_cents",
                                             "the cap must not be below the minimum"))
    return violations


def validate_new_version(
    existing: Sequence[ScheduleVersion],
    effective_from: dt.date,
    effective_until: dt.date | None,
    terms: FeeTerms,
) -> list[FieldViolation]:
    """Rules for adding a version next to `existing` (an open-ended version ends when a later
    one starts, so only a version starting on or before it, or crossing a closed range,
    overlaps)."""
    violations = validate_terms(terms)
    if effective_until is not None and effective_until < effective_from:
        violations.append(FieldViolation("effective_until", "must not be before effective_from"))
        return violations
    for version in existing:
        if version.effective_until is None and effective_from > version.effective_from:
            continue
        if version.overlaps(effective_from, effective_until):
            violations.append(FieldViolation(
                "effective_from",
                f"overlaps version {version.version} in force from {version.effective_from}"
                + (f" until {version.effective_until}" if version.effective_until else ""),
            ))
    return violations


def superseded_by(existing: Sequence[ScheduleVersion], effective_from: dt.date) -> int | None:
    """The open-ended version a new version starting on `effective_from` ends, if any."""
    for version in existing:
        if version.effective_until is None and version.effective_from < effective_from:
            return version.version
    return None


def version_in_force(versions: Sequence[ScheduleVersion], day: dt.date) -> ScheduleVersion | None:
    for version in versions:
        if version.in_force_on(day):
            return version
    return None


def terms_to_record(terms: FeeTerms) -> dict[str, object]:
    """Plain JSON-able form stored in events (enums as their values, tiers as pairs)."""
    return {
        "default_tiers": [[t.floor_cents, t.rate_bps] for t in terms.default_tiers],
        "open_negotiation_tiers": [[t.floor_cents, t.rate_bps]
                                   for t in terms.open_negotiation_tiers],
        "idr_tiers": [[t.floor_cents, t.rate_bps] for t in terms.idr_tiers],
        "base": terms.base.value,
        "include_interest": terms.include_interest,
        "minimum_cents": terms.minimum_cents,
        "cap_cents": terms.cap_cents,
        "flat_fee_cents": terms.flat_fee_cents,
        "pass_through_idr_fees": terms.pass_through_idr_fees,
    }


def terms_from_record(record: dict[str, object]) -> FeeTerms:
    def tiers(name: str) -> tuple[Tier, ...]:
        pairs: list[list[int]] = record.get(name) or []  # type: ignore[assignment]
        return tuple(Tier(int(floor), int(rate)) for floor, rate in pairs)

    cap = record.get("cap_cents")
    return FeeTerms(
        default_tiers=tiers("default_tiers"),
        open_negotiation_tiers=tiers("open_negotiation_tiers"),
        idr_tiers=tiers("idr_tiers"),
        base=FeeBase(str(record.get("base") or FeeBase.INCREMENTAL.value)),
        include_interest=bool(record.get("include_interest")),
        minimum_cents=int(record.get("minimum_cents") or 0),  # type: ignore[call-overload]
        cap_cents=None if cap is None else int(cap),  # type: ignore[call-overload]
        flat_fee_cents=int(record.get("flat_fee_cents") or 0),  # type: ignore[call-overload]
        pass_through_idr_fees=bool(record.get("pass_through_idr_fees")),
    )
