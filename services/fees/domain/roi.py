"""Return on investment for a client: what the vendor recovered above the payers' initial payments,
what it charged, and what the client kept, in total and by payer and by service code."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from services.fees.domain.arithmetic import ratio_bps


@dataclass(frozen=True)
class RoiEntry:
    """One assessed fact of a claim within the period."""

    claim_id: str
    payer_id: str
    service_code: str
    initial_payment_cents: int
    recovered_delta_cents: int
    fee_delta_cents: int
    pass_through_delta_cents: int = 0
    interest_delta_cents: int = 0  # the payer's interest (not in recovered_delta_cents)


@dataclass(frozen=True)
class RoiFigures:
    claims: int = 0
    initial_payments_cents: int = 0
    recovered_cents: int = 0
    fees_cents: int = 0
    pass_through_cents: int = 0
    interest_cents: int = 0

    @property
    def recovered_with_interest_cents(self) -> int:
        return self.recovered_cents + self.interest_cents

    @property
    def net_to_client_cents(self) -> int:
        return self.recovered_cents - self.fees_cents - self.pass_through_cents

    @property
    def uplift_bps(self) -> int:
        return ratio_bps(self.recovered_cents, self.initial_payments_cents)


@dataclass(frozen=True)
class RoiReport:
    total: RoiFigures
    by_payer: dict[str, RoiFigures]
    by_service_code: dict[str, RoiFigures]


def figures(entries: Iterable[RoiEntry]) -> RoiFigures:
    """Totals of `entries`; a claim's initial payment counts once however many facts it has."""
    initial_by_claim: dict[str, int] = {}
    recovered = fees = pass_through = interest = 0
    for entry in entries:
        initial_by_claim[entry.claim_id] = entry.initial_payment_cents
        recovered += entry.recovered_delta_cents
        fees += entry.fee_delta_cents
        pass_through += entry.pass_through_delta_cents
        interest += entry.interest_delta_cents
    return RoiFigures(
        claims=len(initial_by_claim),
        initial_payments_cents=sum(initial_by_claim.values()),
        recovered_cents=recovered,
        fees_cents=fees,
        pass_through_cents=pass_through,
        interest_cents=interest,
    )


def _grouped(entries: list[RoiEntry], key: Callable[[RoiEntry], str]) -> dict[str, RoiFigures]:
    groups: dict[str, list[RoiEntry]] = defaultdict(list)
    for entry in entries:
        groups[key(entry)].append(entry)
    return {name: figures(group) for name, group in sorted(groups.items())}


def roi_report(entries: Iterable[RoiEntry]) -> RoiReport:
    collected = list(entries)
    return RoiReport(
        total=figures(collected),
        by_payer=_grouped(collected, lambda entry: entry.payer_id or "unknown"),
        by_service_code=_grouped(collected, lambda entry: entry.service_code or "unknown"),
    )
