"""Rule 5 inside posting (pure): matched lines ride on the payment event, the rest are queued,
and an unmatched line never blocks the claim payment."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, UUIDAsHex

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.eventstore import DateAsISO
from services.settlement.adapters.x12 import read_remittances
from services.settlement.domain import (
    ClaimIndex,
    ClaimLine,
    ClaimReference,
    LineMatch,
    Settlement,
    UnmatchedServiceLine,
    check_remittance,
    match_remittance,
    post_remittance,
)
from services.x12.writer_835 import ClaimSpec, LineSpec, RemittanceSpec, build_835

from .builders import ctx, opened_settlement

DOS = date(2026, 8, 14)
CLAIM_LINES = (
    ClaimLine(1, "LCN-1", "99285", ("25",), DOS, 150_000),
    ClaimLine(2, "LCN-2", "93010", (), DOS, 8_000),
    ClaimLine(3, "LCN-3", "96372", (), DOS, 4_000),
    ClaimLine(4, "LCN-4", "96372", (), DOS, 4_000),
)
SVCS = (
    LineSpec("99285", 150_000, 90_000, 10_000, ("25",), line_control_number="LCN-1"),
    LineSpec("93010", 8_000, 5_000),  # no REF*6R: procedure + date + charge
    LineSpec("96372", 4_000, 2_500),  # fits lines 3 and 4: ambiguous
    LineSpec("36415", 1_500, 1_000),  # on no line of the claim: unmatched
)


def _remittance(*, reversal: bool = False) -> Any:
    paid = sum(x.paid_cents for x in SVCS)
    claim = ClaimSpec(
        "PCN-7",
        sum(x.charge_cents for x in SVCS),
        paid,
        DOS,
        patient_responsibility_cents=10_000,
        payer_claim_control_number="ICN-1",
        lines=SVCS,
    )
    claims = (claim.reversed(), claim) if reversal else (claim,)
    spec = RemittanceSpec("EFT-LINES", date(2026, 11, 2), claims)
    (remittance,) = read_remittances(build_835(spec))
    assert check_remittance(remittance) == []
    return remittance


def _post(*, lines: tuple[ClaimLine, ...] = CLAIM_LINES, reversal: bool = False) -> Any:
    index = ClaimIndex.build(
        [ClaimReference("claim-1", "PCN-7", frozenset({"ICN-1"}), lines=lines)]
    )
    settlement = opened_settlement(agreed=300_000, already_paid=0 if not reversal else 98_500)
    settlement.collect_events()
    remittance = _remittance(reversal=reversal)
    matches = match_remittance(remittance, index)
    outcome = post_remittance(ctx(), remittance, "rem-1", index, matches, {"claim-1": settlement})
    return remittance, outcome, settlement, settlement.collect_events()


def test_matched_lines_ride_on_the_payment_and_the_rest_are_queued() -> None:
    _, outcome, settlement, events = _post()
    (posted,) = [e for e in events if isinstance(e, Settlement.PaymentPosted)]
    # The claim payment is posted whole: line exceptions never hold the money back.
    assert posted.amount_cents == 98_500 and settlement.paid_cents == 98_500
    by_svc = {m["svc"]: m for m in posted.line_matches}
    assert [by_svc[n]["outcome"] for n in (1, 2, 3, 4)] == [
        "matched",
        "matched",
        "ambiguous",
        "unmatched",
    ]
    assert (by_svc[1]["rule"], by_svc[1]["claim_line_control_number"]) == (
        "line-control-number",
        "LCN-1",
    )
    assert (by_svc[2]["rule"], by_svc[2]["claim_line"]) == ("procedure-modifiers-date-charge", 2)
    assert by_svc[3]["candidates"] == [3, 4]
    assert sum(m["paid_cents"] for m in posted.line_matches) == posted.amount_cents
    assert [(e.line.svc, e.line.outcome) for e in outcome.line_exceptions] == [
        (3, "ambiguous"),
        (4, "unmatched"),
    ]
    assert outcome.exceptions == []  # the CLP itself is not an exception
    assert settlement.payments[posted.payment_id].line_matches == tuple(
        LineMatch.from_dict(m) for m in posted.line_matches)


def test_claim_without_known_lines_posts_and_records_but_queues_nothing() -> None:
    _, outcome, settlement, events = _post(lines=())
    assert settlement.paid_cents == 98_500
    (posted,) = [e for e in events if isinstance(e, Settlement.PaymentPosted)]
    assert {(m["outcome"], m["reason"]) for m in posted.line_matches} == {
        ("unmatched", "settlement knows no 837 lines for this claim")
    }
    assert outcome.line_exceptions == []


def test_reversal_records_its_lines_on_the_reversal_event() -> None:
    _, outcome, _, events = _post(reversal=True)
    (reversed_,) = [e for e in events if isinstance(e, Settlement.PaymentReversed)]
    assert [m["outcome"] for m in reversed_.line_matches] == [
        "matched",
        "matched",
        "ambiguous",
        "unmatched",
    ]
    assert reversed_.line_matches[0]["paid_cents"] == -90_000
    # The reversal's two unclear lines and the correction's two are queued separately.
    assert len(outcome.line_exceptions) == 4
    assert len({(e.ordinal, e.line.svc) for e in outcome.line_exceptions}) == 4


def test_line_exception_item_and_its_resolution() -> None:
    remittance, outcome, _, _ = _post()
    rid = UUID(int=7)
    ambiguous = outcome.line_exceptions[0]
    item = UnmatchedServiceLine.queue(
        ctx(), remittance_id=rid, trace_number=remittance.trace_number, item=ambiguous
    )
    again = UnmatchedServiceLine.queue(
        ctx(), remittance_id=rid, trace_number=remittance.trace_number, item=ambiguous
    )
    assert item.id == again.id  # deterministic: a retried import names the same item
    assert (item.claim_id, item.line_ordinal, item.outcome) == ("claim-1", 3, "ambiguous")
    assert (item.charge_cents, item.paid_cents, item.candidate_lines) == (4_000, 2_500, [3, 4])
    with pytest.raises(FailedPrecondition):
        item.resolve(ctx(), "claim-2", "LCN-3")
    with pytest.raises(InvalidArgument):
        item.resolve(ctx(), "claim-1", "")
    assert item.resolve(ctx(), "claim-1", "LCN-3") is True
    assert item.resolve(ctx(), "claim-1", "LCN-3") is False
    with pytest.raises(FailedPrecondition):
        item.resolve(ctx(), "claim-1", "LCN-4")


def _v1_round_trip(event: Any, drop: str) -> Any:
    """Store `event` the way a v1 writer did (no `drop` field, no class_version), read it back."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    mapper: Mapper[UUID] = Mapper(transcoder=transcoder)
    stored = mapper.to_stored_event(event)
    state = transcoder.decode(stored.state)
    del state[drop]
    state.pop("class_version", None)
    old = type(stored)(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=transcoder.encode(state),
    )
    return mapper.to_domain_event(old)


def test_payment_events_recorded_before_line_matching_upcast_to_no_lines() -> None:
    settlement = opened_settlement()
    settlement.post_payment(
        ctx(), payment_id="p1", amount_cents=5_000, method="check", reference="CHK-1",
        paid_on=date(2026, 11, 2),
    )  # fmt: skip
    settlement.reverse_payment(ctx(), payment_id="p1", reason="bounced", reversed_on=DOS)
    posted, reversed_ = settlement.collect_events()[-2:]
    old_posted = _v1_round_trip(posted, "line_matches")
    old_reversed = _v1_round_trip(reversed_, "line_matches")
    assert isinstance(old_posted, Settlement.PaymentPosted)
    assert old_posted.line_matches == [] and old_posted.amount_cents == 5_000
    assert isinstance(old_reversed, Settlement.PaymentReversed)
    assert old_reversed.line_matches == []
