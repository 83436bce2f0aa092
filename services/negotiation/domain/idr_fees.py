"""Who pays which federal IDR fee and what comes back, by outcome (DOMAIN.md §1.8).

The administrative fee is never refunded. Both parties pay the IDR entity's fee with their offer;
the prevailing party's is refunded (loser pays); a settlement after initiation returns half of
each party's; an ineligible dispute returns the IDRE fee. Amounts are per party per dispute.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from services.negotiation.domain.money import half_of
from services.negotiation.domain.rule_sets import RuleSet


class IdrOutcome(enum.StrEnum):
    WON = "won"  # the client's offer was chosen
    LOST = "lost"
    SETTLED = "settled"  # settled after initiation, before the determination
    INELIGIBLE = "ineligible"
    CLOSED_WITHOUT_OFFERS = "closed_without_offers"


@dataclass(frozen=True)
class FeeFacts:
    """What the client (one party) paid into a dispute and what it gets back."""

    administrative_fee_cents: int
    idre_fee_paid_cents: int
    idre_fee_refund_cents: int

    @property
    def paid_cents(self) -> int:
        return self.administrative_fee_cents + self.idre_fee_paid_cents

    @property
    def net_cost_cents(self) -> int:
        return self.paid_cents - self.idre_fee_refund_cents


class FeeOutOfRangeError(ValueError):
    """An IDRE fee outside the range the rule set allows."""


def check_idre_fee(
    rule_set: RuleSet, idre_fee_cents: int, batched: bool, line_items: int = 1
) -> None:
    fee_range = rule_set.idre_fee_range
    if idre_fee_cents < 0:
        raise FeeOutOfRangeError("the IDRE fee cannot be negative")
    if fee_range is None:
        return
    low, high = fee_range.bounds(batched, line_items)
    if not low <= idre_fee_cents <= high:
        kind = f"batched ({line_items} line items)" if batched else "single"
        raise FeeOutOfRangeError(
            f"{kind} IDRE fee must be between {low} and {high} cents under {rule_set.version}"
        )


def client_fee_facts(
    outcome: IdrOutcome,
    administrative_fee_cents: int,
    idre_fee_cents: int,
    client_paid_idre_fee: bool = True,
) -> FeeFacts:
    """The client's fee position once the dispute ends with `outcome`."""
    paid = idre_fee_cents if client_paid_idre_fee else 0
    refund = {
        IdrOutcome.WON: paid,
        IdrOutcome.LOST: 0,
        IdrOutcome.SETTLED: half_of(paid),
        IdrOutcome.INELIGIBLE: paid,
        IdrOutcome.CLOSED_WITHOUT_OFFERS: paid,
    }[outcome]
    return FeeFacts(administrative_fee_cents, paid, refund)
