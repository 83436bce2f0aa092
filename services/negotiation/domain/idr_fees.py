"""Who pays which federal IDR fee and what comes back, by outcome (DOMAIN.md §1.8).

The administrative fee is never refunded. Both parties pay the IDR entity's fee with their offer;
the prevailing party's is refunded (loser pays); a settlement after initiation returns half of
each party's; an ineligible dispute returns the IDRE fee. Amounts are per party per dispute.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from services.common.errors import Violations
from services.negotiation.domain.money import half_of
from services.negotiation.domain.rule_sets import RuleSet
from services.negotiation.domain.validation import check_cents, check_fact_date, enum_value
from services.negotiation.domain.vocabulary import Party


class IdrOutcome(enum.StrEnum):
    WON = "won"  # the client's offer was chosen
    LOST = "lost"
    SETTLED = "settled"  # settled after initiation, before the determination
    INELIGIBLE = "ineligible"
    CLOSED_WITHOUT_OFFERS = "closed_without_offers"
    # A determination of several lines that went evenly to both parties: each pays half the
    # IDRE fee (dispute_lines.dispute_prevailing_party).
    SPLIT = "split"


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
        IdrOutcome.SPLIT: half_of(paid),
        IdrOutcome.INELIGIBLE: paid,
        IdrOutcome.CLOSED_WITHOUT_OFFERS: paid,
    }[outcome]
    return FeeFacts(administrative_fee_cents, paid, refund)


# -- IDR money per party: what each party actually paid, got back and forfeited -------------


class IdrFeeKind(enum.StrEnum):
    ADMINISTRATIVE = "administrative"  # paid to the Departments, never refunded
    IDRE = "idre"  # paid to the IDR entity with the offer


class FeeMovement(enum.StrEnum):
    PAID = "paid"
    REFUNDED = "refunded"
    FORFEITED = "forfeited"  # kept by the Departments / the IDRE for good


class FeeSource(enum.StrEnum):
    INVOICE = "invoice"
    PORTAL_RECEIPT = "portal_receipt"


class FeeRuleError(ValueError):
    """A fee movement the rules of DOMAIN.md §1.8 do not allow (the message cites the rule)."""


@dataclass(frozen=True)
class FeeEntry:
    """One recorded fee movement of one party, with its date and the document it came from."""

    party: str
    kind: IdrFeeKind
    movement: FeeMovement
    amount_cents: int
    occurred_on: date
    source: FeeSource
    source_reference: str


@dataclass(frozen=True)
class PartyFees:
    """One party's IDR money in one dispute."""

    administrative_paid_cents: int = 0
    administrative_forfeited_cents: int = 0
    idre_paid_cents: int = 0
    idre_refunded_cents: int = 0
    idre_forfeited_cents: int = 0
    idre_refund_entitled_cents: int = 0
    """What §1.8 returns of what it paid, once the outcome is known (0 before)."""

    @property
    def paid_cents(self) -> int:
        return self.administrative_paid_cents + self.idre_paid_cents

    @property
    def net_cost_cents(self) -> int:
        """What the party bears once every refund it is entitled to has come back."""
        return self.paid_cents - self.idre_refund_entitled_cents

    @property
    def refund_outstanding_cents(self) -> int:
        return self.idre_refund_entitled_cents - self.idre_refunded_cents


def outcome_for_party(party: str, outcome: IdrOutcome | None, prevailing_party: str) -> (
        IdrOutcome | None):
    """A determination is WON for the prevailing party and LOST for the other (SPLIT for
    both when its lines went evenly to each)."""
    if outcome in (IdrOutcome.WON, IdrOutcome.LOST) and prevailing_party == IdrOutcome.SPLIT:
        return IdrOutcome.SPLIT
    if outcome in (IdrOutcome.WON, IdrOutcome.LOST):
        return IdrOutcome.WON if party == prevailing_party else IdrOutcome.LOST
    return outcome


@dataclass(frozen=True)
class IdrFeeLedger:
    """The fee movements recorded on a dispute, for both parties."""

    entries: tuple[FeeEntry, ...] = ()

    def __post_init__(self) -> None:
        # A snapshot gives the entries back as a list.
        object.__setattr__(self, "entries", tuple(self.entries))

    @property
    def recorded(self) -> bool:
        return any(e.movement is FeeMovement.PAID for e in self.entries)

    def total(self, party: str, kind: IdrFeeKind, movement: FeeMovement) -> int:
        return sum(
            e.amount_cents
            for e in self.entries
            if e.party == party and e.kind is kind and e.movement is movement
        )

    def party_fees(self, party: str, outcome: IdrOutcome | None) -> PartyFees:
        """`outcome` is this party's (outcome_for_party); None while the dispute runs."""
        admin, idre = IdrFeeKind.ADMINISTRATIVE, IdrFeeKind.IDRE
        idre_paid = self.total(party, idre, FeeMovement.PAID)
        entitled = client_fee_facts(outcome, 0, idre_paid).idre_fee_refund_cents if outcome else 0
        return PartyFees(
            administrative_paid_cents=self.total(party, admin, FeeMovement.PAID),
            administrative_forfeited_cents=self.total(party, admin, FeeMovement.FORFEITED),
            idre_paid_cents=idre_paid,
            idre_refunded_cents=self.total(party, idre, FeeMovement.REFUNDED),
            idre_forfeited_cents=self.total(party, idre, FeeMovement.FORFEITED),
            idre_refund_entitled_cents=entitled,
        )

    def with_entry(self, entry: FeeEntry) -> IdrFeeLedger:
        return IdrFeeLedger((*self.entries, entry))


def fee_entry(
    v: Violations,
    party: str,
    fee_kind: str,
    movement: str,
    amount_cents: int,
    occurred_on: date | None,
    source: str,
    source_reference: str,
    today: date,
) -> FeeEntry | None:
    """The entry a RecordIdrFee command describes (None, with field violations, if malformed)."""
    kinds = (("party", Party, party), ("fee_kind", IdrFeeKind, fee_kind),
             ("movement", FeeMovement, movement), ("source", FeeSource, source))
    for name, kind, value in kinds:
        enum_value(v, name, kind, value)
    v.check(amount_cents > 0, "amount_cents", "must be a positive number of cents")
    check_cents(v, "amount_cents", amount_cents)
    check_fact_date(v, "occurred_on", occurred_on, today)
    if v or occurred_on is None:
        return None
    return FeeEntry(party, IdrFeeKind(fee_kind), FeeMovement(movement), amount_cents,
                    occurred_on, FeeSource(source), source_reference.strip())


def check_fee_entry(
    ledger: IdrFeeLedger,
    entry: FeeEntry,
    *,
    outcome: IdrOutcome | None,
    rule_set: RuleSet,
    idre_fee_cents: int | None,
    batched: bool,
    line_items: int,
) -> None:
    """Refuse a movement §1.8 does not allow, citing the rule (nothing is recorded then).

    `outcome` is the party's own outcome (None while the dispute runs). A party pays at most
    the published fee: the rule set's administrative fee; the selected IDRE's fee (before the
    selection, the top of the era's range).
    """
    administrative_fee_cents = rule_set.administrative_fee_cents
    idre_fee_ceiling_cents = idre_fee_cents or 0
    if idre_fee_cents is None and rule_set.idre_fee_range is not None:
        idre_fee_ceiling_cents = rule_set.idre_fee_range.bounds(batched, line_items)[1]
    rule_set_version = rule_set.version
    party, kind = entry.party, entry.kind
    paid = ledger.total(party, kind, FeeMovement.PAID)
    refunded = ledger.total(party, kind, FeeMovement.REFUNDED)
    forfeited = ledger.total(party, kind, FeeMovement.FORFEITED)
    rule = f"DOMAIN §1.8 under {rule_set_version}"
    if entry.movement is FeeMovement.PAID:
        if outcome is not None:
            raise FeeRuleError(f"{rule}: fees are paid before the outcome (with the offer); "
                               "the dispute has ended")
        ceiling = administrative_fee_cents if kind is IdrFeeKind.ADMINISTRATIVE else (
            idre_fee_ceiling_cents)
        if paid + entry.amount_cents > ceiling:
            raise FeeRuleError(
                f"{rule}: the {party}'s {kind.value} fee payments would total "
                f"{paid + entry.amount_cents} cents, more than the published fee of {ceiling}"
            )
        return
    if paid == 0:
        raise FeeRuleError(f"{rule}: the {party} paid no {kind.value} fee, so none can be "
                           f"{entry.movement.value}")
    if outcome is None:
        raise FeeRuleError(f"{rule}: a fee is {entry.movement.value} only once the dispute has "
                           "an outcome (determination, settlement, ineligibility or closure)")
    entitled = client_fee_facts(outcome, 0, paid).idre_fee_refund_cents
    if kind is IdrFeeKind.ADMINISTRATIVE:
        entitled = 0
    if entry.movement is FeeMovement.REFUNDED:
        if kind is IdrFeeKind.ADMINISTRATIVE:
            raise FeeRuleError(f"{rule}: the administrative fee is non-refundable")
        if refunded + entry.amount_cents > entitled:
            raise FeeRuleError(
                f"{rule}: the {party} is owed {entitled - refunded} cents of its IDRE fee back "
                f"({outcome.value}: loser pays, half each on settlement, all if ineligible)"
            )
        return
    if forfeited + entry.amount_cents > paid - entitled:
        raise FeeRuleError(
            f"{rule}: only {paid - entitled - forfeited} cents of the {party}'s {kind.value} fee "
            f"are kept ({outcome.value})"
        )
