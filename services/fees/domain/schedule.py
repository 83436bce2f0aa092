"""Fee schedules: the terms of a client's contract, versioned by effective date, their rules,
and the FeeSchedule aggregate (one per client, holding every version)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict
from uuid import UUID

from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.errors import FieldViolation, InvalidArgument
from services.common.ids import deterministic_id

BASIS_POINTS_PER_UNIT = 10_000
"""A rate of 10,000 basis points is 100 %."""


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

    def covers(self, day: dt.date) -> bool:
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


def in_force_on(versions: Sequence[ScheduleVersion], day: dt.date) -> ScheduleVersion | None:
    """The version in force on `day` (versions never overlap), None when no version covers it."""
    for version in versions:
        if version.covers(day):
            return version
    return None


class TierRecord(TypedDict):
    floor_cents: int
    rate_bps: int


class TermsRecord(TypedDict):
    """FeeTerms as stored in FeeScheduleVersionPublished (enums as their values)."""

    default_tiers: list[TierRecord]
    open_negotiation_tiers: list[TierRecord]
    idr_tiers: list[TierRecord]
    base: str
    include_interest: bool
    minimum_cents: int
    cap_cents: int | None
    flat_fee_cents: int
    pass_through_idr_fees: bool


def terms_to_record(terms: FeeTerms) -> TermsRecord:
    def tiers(items: Sequence[Tier]) -> list[TierRecord]:
        return [TierRecord(floor_cents=t.floor_cents, rate_bps=t.rate_bps) for t in items]

    return TermsRecord(
        default_tiers=tiers(terms.default_tiers),
        open_negotiation_tiers=tiers(terms.open_negotiation_tiers),
        idr_tiers=tiers(terms.idr_tiers),
        base=terms.base.value,
        include_interest=terms.include_interest,
        minimum_cents=terms.minimum_cents,
        cap_cents=terms.cap_cents,
        flat_fee_cents=terms.flat_fee_cents,
        pass_through_idr_fees=terms.pass_through_idr_fees,
    )


def terms_from_record(record: TermsRecord) -> FeeTerms:
    def tiers(records: list[TierRecord]) -> tuple[Tier, ...]:
        return tuple(Tier(int(r["floor_cents"]), int(r["rate_bps"])) for r in records)

    return FeeTerms(
        default_tiers=tiers(record["default_tiers"]),
        open_negotiation_tiers=tiers(record["open_negotiation_tiers"]),
        idr_tiers=tiers(record["idr_tiers"]),
        base=FeeBase(record["base"]),
        include_interest=record["include_interest"],
        minimum_cents=record["minimum_cents"],
        cap_cents=record["cap_cents"],
        flat_fee_cents=record["flat_fee_cents"],
        pass_through_idr_fees=record["pass_through_idr_fees"],
    )


# -- the aggregate -----------------------------------------------------------------------------
def schedule_id_for(tenant_id: str, client_id: str) -> UUID:
    return deterministic_id(tenant_id, "fee-schedule", client_id)


class FeeSchedule(TenantAggregate):
    class FeeScheduleCreated(TenantAggregate.Created):
        client_id: str

    class FeeScheduleVersionPublished(TenantAggregate.Event):
        """v2: tiers are recorded as {floor_cents, rate_bps} (v1: [floor, rate] pairs)."""

        class_version = 2
        version: int
        effective_from: dt.date
        effective_until: dt.date | None
        terms: TermsRecord
        supersedes_version: int | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            terms = state["terms"]
            for name in ("default_tiers", "open_negotiation_tiers", "idr_tiers"):
                terms[name] = [{"floor_cents": floor, "rate_bps": rate}
                               for floor, rate in terms.get(name) or []]

        def apply(self, aggregate: FeeSchedule) -> None:
            aggregate.versions = [
                ScheduleVersion(v.version, v.effective_from, self.effective_from
                                - dt.timedelta(days=1), v.terms)
                if v.version == self.supersedes_version else v
                for v in aggregate.versions
            ]
            aggregate.versions.append(ScheduleVersion(
                self.version, self.effective_from, self.effective_until,
                terms_from_record(self.terms)))
            aggregate.published_at[self.version] = self.timestamp

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.versions: list[ScheduleVersion] = []
        self.published_at: dict[int, dt.datetime] = {}

    @classmethod
    def create(cls, ctx: CommandContext, client_id: str) -> FeeSchedule:
        # Created without the caller's request id, so the same request can then publish.
        return cls._start(cls.FeeScheduleCreated, ctx.with_request(""),
                          id=schedule_id_for(ctx.tenant_id, client_id), client_id=client_id)

    def publish_version(self, ctx: CommandContext, effective_from: dt.date,
                        effective_until: dt.date | None, terms: FeeTerms) -> int:
        """Add a version; returns its number (the existing one when the request is a retry)."""
        if self.has_handled(ctx):
            return self.version_for_request(ctx.request_id)
        violations = validate_new_version(self.versions, effective_from, effective_until, terms)
        if violations:
            raise InvalidArgument(violations)
        number = len(self.versions) + 1
        self._record(self.FeeScheduleVersionPublished, ctx, version=number,
                     effective_from=effective_from, effective_until=effective_until,
                     terms=terms_to_record(terms),
                     supersedes_version=superseded_by(self.versions, effective_from))
        return number

    def version_for_request(self, request_id: str) -> int:
        # The aggregate version of the event that handled the request; versions are published
        # one per event after the creation event.
        return self.request_ids[request_id] - 1

    def in_force_on(self, day: dt.date) -> ScheduleVersion | None:
        return in_force_on(self.versions, day)
