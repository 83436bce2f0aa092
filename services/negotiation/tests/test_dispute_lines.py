"""Line-level disputes, pure (domain/dispute_lines.py and the aggregate's use of it)."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.errors import FailedPrecondition, InvalidArgument
from services.negotiation.domain import ClaimFacts, FederalIdrDispute
from services.negotiation.domain.dispute_lines import (
    SPLIT,
    DisputedLine,
    LineAward,
    LineOffer,
    determine_lines,
    dispute_prevailing_party,
    lines_by_negotiation,
)
from services.negotiation.tests.builders import ENGINE, negotiator, opened
from services.negotiation.tests.test_federal_idr import idr_approved

LINES = [DisputedLine(1, 25_000, 3_000, 20_000), DisputedLine(3, 15_000, 2_000, 15_000)]
OFFERS = {"provider": [LineOffer(1, 60_000), LineOffer(3, 30_000)],
          "payer": [LineOffer(1, 30_000), LineOffer(3, 20_000)]}


def test_each_line_owes_its_award_less_its_cost_sharing_and_payment() -> None:
    awards, prevailing = determine_lines("D", LINES, OFFERS, {3: "payer"}, "provider")
    assert [(a.line_number, a.prevailing_party, a.award_cents, a.amount_owed_cents)
            for a in awards] == [(1, "provider", 60_000, 37_000), (3, "payer", 20_000, 3_000)]
    assert prevailing == SPLIT


def test_the_party_with_more_lines_prevails() -> None:
    def award(party: str) -> LineAward:
        return LineAward(1, party, 1, 0, 0, 1)

    assert dispute_prevailing_party([award("payer"), award("payer"), award("provider")]) == (
        "payer")
    assert dispute_prevailing_party([award("provider")]) == "provider"


def test_a_line_outside_the_dispute_is_refused_citing_the_rule() -> None:
    with pytest.raises(FailedPrecondition, match=r"DOMAIN §1\.6: line\(s\) 2 are not in dispute D"):
        determine_lines("D", LINES, OFFERS, {2: "payer"}, "provider")


def test_more_line_items_than_the_rule_sets_cap_are_refused() -> None:
    """The 2026 rule's cap (50 per dispute, from 2026-08-03) counts line items."""
    n = opened()

    def initiate(count: int) -> FederalIdrDispute:
        return FederalIdrDispute.initiate(
            negotiator(), negotiation_id=str(n.id), claim=n.disputed_claim,
            dispute_number=f"D-{count}", initiated_on=date(2026, 8, 17),
            initiating_party="provider", refusal=lambda on, party: None,
            lines=[DisputedLine(k, 1_000, 0, 0) for k in range(1, count + 1)])

    with pytest.raises(FailedPrecondition, match="51 line items exceed the cap of 50"):
        initiate(51)
    dispute = initiate(50)
    assert (dispute.batched, dispute.batch_line_items, len(dispute.lines)) == (True, 50, 50)


def test_malformed_lines_are_field_violations() -> None:
    case = idr_approved()
    with pytest.raises(InvalidArgument) as caught:
        case.initiate_idr(negotiator(), dispute_number="D-X", initiated_on=date(2026, 7, 17),
                          initiating_party="provider", engine=ENGINE, cooling_off=[],
                          lines=[DisputedLine(0, 0, 0, 0), DisputedLine(2, 1, 0, 0),
                                 DisputedLine(2, 1, 0, 0)])
    fields = {v.field for v in caught.value.violations}
    assert fields == {"lines[0].line_number", "lines[0].qpa_cents", "lines[2].line_number"}


def test_a_batchs_lines_are_grouped_by_negotiation_and_named_by_request_index() -> None:
    line = DisputedLine(2, 1_000, 0, 0)
    grouped = lines_by_negotiation(["lead", "other"], [("", line), ("other", line)])
    assert grouped == {"lead": (line,), "other": (line,)}  # line 2 of each claim
    with pytest.raises(InvalidArgument) as caught:
        lines_by_negotiation(["lead", "other"],
                             [("", line), ("other", line), ("other", line), ("stranger", line)])
    assert {v.field for v in caught.value.violations} == {
        "lines[2].line_number", "lines[3].negotiation_id"}


def test_a_line_beyond_its_claims_lines_is_a_field_violation_where_the_count_is_known() -> None:
    """Each claim's number of lines comes from ClaimRegistered (ClaimFacts.line_count); a claim
    negotiation never heard of, or noted before lines were counted (0), is not checked."""
    third = DisputedLine(3, 1_000, 0, 0)
    with pytest.raises(InvalidArgument) as caught:
        lines_by_negotiation(["lead", "other"], [("", third), ("other", third)],
                             {"lead": 3, "other": 2})
    assert [(v.field, v.description) for v in caught.value.violations] == [
        ("lines[1].line_number", "the claim has no line 3 (its lines: 1 to 2)")]
    grouped = lines_by_negotiation(["lead", "other"], [("", third), ("other", third)],
                                   {"lead": 3, "other": 0})
    assert grouped == {"lead": (third,), "other": (third,)}


def test_claim_facts_noted_before_lines_were_counted_upcast_to_unknown() -> None:
    state = {"claim_id": "c-1", "billed_cents": 1}
    ClaimFacts.ClaimFactsNoted.upcast_v1_v2(state)
    assert state["line_count"] == 0
