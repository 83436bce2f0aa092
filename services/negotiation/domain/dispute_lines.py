"""Line-level federal IDR disputes (DOMAIN.md §1.6, §1.8): a dispute is a set of claim lines.

A dispute initiated with no lines is over its claim as one item (what every dispute was before
lines existed: offers and the award are the claim's totals). A dispute initiated with lines is
over exactly those lines of its claim (possibly some of them): each party offers an amount per
line, the IDR entity determines each line (the prevailing offer, never a midpoint), and what the
plan owes is computed per line (award - the line's cost sharing - what the payer paid on it)
and summed per claim. The IDRE fee tier counts the line items of the whole dispute.

Pure: the aggregate (federal_idr_dispute.py) records what these functions return.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TypedDict

from services.common.errors import FailedPrecondition, Violations
from services.negotiation.domain.idr_fees import IdrOutcome
from services.negotiation.domain.money import amount_owed_cents
from services.negotiation.domain.validation import check_cents
from services.negotiation.domain.vocabulary import Party

# The prevailing "party" of a batched determination whose lines went evenly to both parties.
SPLIT = IdrOutcome.SPLIT.value


@dataclass(frozen=True)
class DisputedLine:
    """One claim line in dispute, with the amounts the initiation notice states for it."""

    line_number: int  # the claim's service line, 1-based (837 LX)
    qpa_cents: int
    patient_cost_sharing_cents: int
    already_paid_cents: int


@dataclass(frozen=True)
class LineOffer:
    line_number: int
    amount_cents: int


@dataclass(frozen=True)
class LineAward:
    """The IDR entity's determination of one line and what the plan owes on it."""

    line_number: int
    prevailing_party: str
    award_cents: int
    patient_cost_sharing_cents: int
    already_paid_cents: int
    amount_owed_cents: int


# The line value objects in snapshots (application.py registers them); state keeps lists,
# which is what a snapshot gives back.
LINE_TYPES: tuple[type, ...] = (DisputedLine, LineOffer, LineAward)


# Events store plain records of these (the published contract copies them by name).
class DisputedLineRecord(TypedDict):
    line_number: int
    qpa_cents: int
    patient_cost_sharing_cents: int
    already_paid_cents: int


class LineOfferRecord(TypedDict):
    line_number: int
    amount_cents: int


class LineAwardRecord(TypedDict):
    line_number: int
    prevailing_party: str
    award_cents: int
    patient_cost_sharing_cents: int
    already_paid_cents: int
    amount_owed_cents: int


def disputed_line_records(lines: Sequence[DisputedLine]) -> list[DisputedLineRecord]:
    return [DisputedLineRecord(**asdict(line)) for line in lines]  # type: ignore[typeddict-item]


def disputed_lines_of(records: Sequence[DisputedLineRecord]) -> list[DisputedLine]:
    return [DisputedLine(**r) for r in records]


def line_offer_records(offers: Sequence[LineOffer]) -> list[LineOfferRecord]:
    return [LineOfferRecord(line_number=o.line_number, amount_cents=o.amount_cents)
            for o in offers]


def line_offers_of(records: Sequence[LineOfferRecord]) -> list[LineOffer]:
    return [LineOffer(**r) for r in records]


def line_award_records(awards: Sequence[LineAward]) -> list[LineAwardRecord]:
    return [LineAwardRecord(**asdict(a)) for a in awards]  # type: ignore[typeddict-item]


def line_awards_of(records: Sequence[LineAwardRecord]) -> list[LineAward]:
    return [LineAward(**r) for r in records]


def check_disputed_lines(v: Violations, field: str, lines: Sequence[DisputedLine],
                         at: Sequence[int] | None = None, claim_lines: int = 0) -> None:
    """Field violations for malformed lines (a number below 1, a line twice, bad cents, a line
    the claim does not have when `claim_lines`, its number of service lines, is known: > 0);
    `at`: each line's index in the request (default: its index in `lines`)."""
    seen: set[int] = set()
    for i, line in enumerate(lines):
        where = f"{field}[{at[i] if at is not None else i}]"
        v.check(line.line_number >= 1, f"{where}.line_number", "must be 1 or more")
        v.check(not claim_lines or line.line_number <= claim_lines, f"{where}.line_number",
                f"the claim has no line {line.line_number} (its lines: 1 to {claim_lines})")
        v.check(line.line_number not in seen, f"{where}.line_number",
                f"line {line.line_number} is listed twice")
        seen.add(line.line_number)
        v.check(line.qpa_cents > 0, f"{where}.qpa_cents", "each disputed line needs its QPA")
        for name in ("qpa_cents", "patient_cost_sharing_cents", "already_paid_cents"):
            check_cents(v, f"{where}.{name}", getattr(line, name), allow_zero=True)


def lines_by_negotiation(
    negotiation_ids: Sequence[str], lines: Sequence[tuple[str, DisputedLine]],
    claim_lines: Mapping[str, int] | None = None,
) -> dict[str, tuple[DisputedLine, ...]]:
    """Each negotiation's disputed lines ("" names the first, the lead); field violations for
    a line of a negotiation the dispute does not hold, a malformed line, or a line its claim
    does not have (`claim_lines`: each negotiation's claim's number of lines, where known)."""
    v = Violations()
    found: dict[str, list[tuple[int, DisputedLine]]] = {nid: [] for nid in negotiation_ids}
    for i, (negotiation_id, line) in enumerate(lines):
        nid = negotiation_id.strip() or negotiation_ids[0]
        v.check(nid in found, f"lines[{i}].negotiation_id",
                "is not the negotiation or one of the batch's")
        found.setdefault(nid, []).append((i, line))
    for nid in negotiation_ids:
        check_disputed_lines(v, "lines", [line for _, line in found[nid]],
                             [i for i, _ in found[nid]], (claim_lines or {}).get(nid, 0))
    v.raise_if_any()
    return {nid: tuple(line for _, line in found[nid]) for nid in negotiation_ids}


def line_items(lines: Sequence[DisputedLine]) -> int:
    """How many line items a dispute's item counts for the IDRE fee tier (a whole claim: 1)."""
    return max(1, len(lines))


def not_in_dispute(dispute_number: str, line_numbers: Sequence[int],
                   lines: Sequence[DisputedLine]) -> None:
    """Refuse per-line facts for lines the dispute was not initiated with (§1.6)."""
    disputed = {line.line_number for line in lines}
    if not disputed:
        raise FailedPrecondition(
            f"DOMAIN §1.6: dispute {dispute_number} is over its whole claim; line-level offers "
            "and determinations need a dispute initiated with its lines")
    strangers = sorted(set(line_numbers) - disputed)
    if strangers:
        raise FailedPrecondition(
            f"DOMAIN §1.6: line(s) {', '.join(map(str, strangers))} are not in dispute "
            f"{dispute_number} (its lines: {', '.join(map(str, sorted(disputed)))})")


def offer_total(dispute_number: str, lines: Sequence[DisputedLine],
                offers: Sequence[LineOffer], stated_total_cents: int) -> int:
    """The total of a line-level offer, which must price every disputed line once."""
    not_in_dispute(dispute_number, [o.line_number for o in offers], lines)
    numbers = [o.line_number for o in offers]
    missing = sorted({line.line_number for line in lines} - set(numbers))
    if missing or len(numbers) != len(set(numbers)):
        raise FailedPrecondition(
            "DOMAIN §1.3: an offer to the IDR entity prices each disputed line once "
            f"(missing: {', '.join(map(str, missing)) or 'none'}; lines: {numbers})")
    total = sum(o.amount_cents for o in offers)
    if stated_total_cents and stated_total_cents != total:
        raise FailedPrecondition(
            f"the offer's total {stated_total_cents} is not the sum of its lines ({total})")
    return total


def line_awards(
    dispute_number: str,
    lines: Sequence[DisputedLine],
    offers: Mapping[str, Sequence[LineOffer]],
    prevailing: Mapping[int, str],
    default_party: str,
) -> list[LineAward]:
    """Each line's award: the prevailing party's offer on it (`default_party` for lines the
    determination does not name one for); a party that offered nothing cannot prevail."""
    not_in_dispute(dispute_number, list(prevailing), lines)
    by_party = {party: {o.line_number: o.amount_cents for o in made}
                for party, made in offers.items()}
    awards = []
    for line in lines:
        party = prevailing.get(line.line_number, default_party)
        if not party:
            raise FailedPrecondition(
                f"the determination names no prevailing party for line {line.line_number}")
        if party not in by_party:
            raise FailedPrecondition(
                f"the {party} submitted no offer, so it cannot prevail on line {line.line_number}")
        award = by_party[party][line.line_number]
        awards.append(LineAward(
            line.line_number, party, award, line.patient_cost_sharing_cents,
            line.already_paid_cents,
            amount_owed_cents(award, line.patient_cost_sharing_cents, line.already_paid_cents)))
    return awards


def dispute_prevailing_party(awards: Sequence[LineAward]) -> str:
    """Who prevailed in a determination of several lines: the party with more lines in its
    favour (the other pays the IDRE fee); an even split is `SPLIT` (each pays half). CMS
    guidance for batched determinations (verify, DOMAIN §8: kept in this one function)."""
    provider = sum(1 for a in awards if a.prevailing_party == Party.PROVIDER)
    payer = len(awards) - provider
    if provider == payer:
        return SPLIT
    return Party.PROVIDER.value if provider > payer else Party.PAYER.value


def determine_lines(
    dispute_number: str,
    lines: Sequence[DisputedLine],
    offers: Mapping[str, Sequence[LineOffer]],
    line_parties: Mapping[int, str],
    prevailing_party: str,
) -> tuple[list[LineAward], str]:
    """The awards of a line-level determination and the dispute's prevailing party. A lone
    offer wins every line by default (DOMAIN §1.3: the IDRE picks the other party's offer)."""
    if len(offers) == 1:
        lone = next(iter(offers))
        line_parties, prevailing_party = dict.fromkeys(line_parties, lone), lone
    awards = line_awards(dispute_number, lines, offers, line_parties, prevailing_party)
    return awards, dispute_prevailing_party(awards)
