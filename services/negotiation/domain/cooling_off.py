"""Cooling-off after a determination (DOMAIN.md §1.7), checked across cases.

The party that initiated a determined dispute may not initiate another against the same other
party for a similar service until the period ends. "Same other party" is the issuer for fully
insured coverage and the plan itself for self-funded coverage.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date


class PlanFunding(enum.StrEnum):
    FULLY_INSURED = "fully_insured"
    SELF_FUNDED = "self_funded"
    OTHER = "other"


# CPT ranges used by IDR entities to read "similar condition" after TMA IV (DOMAIN.md §1.6).
_SERVICE_FAMILIES: tuple[tuple[int, int, str], ...] = (
    (100, 1999, "anesthesia"),
    (10004, 69990, "surgery"),
    (70010, 79999, "radiology"),
    (80047, 89398, "pathology_lab"),
    (90281, 99199, "medicine"),
    (99202, 99499, "evaluation_management"),
)


def service_family(service_code: str) -> str:
    """Group a CPT/HCPCS/DRG code into the family used as "similar service"."""
    code = service_code.strip().upper()
    if code.isdigit() and len(code) == 5:
        number = int(code)
        for low, high, family in _SERVICE_FAMILIES:
            if low <= number <= high:
                return family
    if code.startswith("A0"):
        return "air_ambulance"
    # Anything else (HCPCS letters, DRGs, revenue codes) is only similar to itself.
    return f"code:{code}"


def other_party_key(funding: str, issuer_id: str, plan_id: str) -> str:
    if funding == PlanFunding.FULLY_INSURED:
        return f"issuer:{issuer_id}"
    return f"plan:{plan_id}"


@dataclass(frozen=True)
class CoolingOffPeriod:
    initiating_party_key: str
    other_party_key: str
    service_family: str
    starts_on: date  # the day after the determination
    ends_on: date  # last day of the period
    dispute_number: str

    def blocks(
        self, initiating_party_key: str, other_party_key: str, family: str, on: date
    ) -> bool:
        return (
            self.initiating_party_key == initiating_party_key
            and self.other_party_key == other_party_key
            and self.service_family == family
            and self.starts_on <= on <= self.ends_on
        )


def blocking_period(
    periods: Iterable[CoolingOffPeriod],
    initiating_party_key: str,
    other_party_key: str,
    family: str,
    on: date,
) -> CoolingOffPeriod | None:
    """The cooling-off period that forbids initiating on `on`, if any (the longest one)."""
    blocking = [p for p in periods if p.blocks(initiating_party_key, other_party_key, family, on)]
    return max(blocking, key=lambda p: p.ends_on, default=None)
