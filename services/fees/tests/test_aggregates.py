"""Aggregates in memory: given recorded events, when a command, then these events (or error)."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.context import CommandContext
from services.common.errors import InvalidArgument
from services.fees.domain.assessment import (
    FeeCause,
    FeeLineKind,
    IdrFeeFact,
    PaymentKind,
    line_to_record,
)
from services.fees.domain.fee_account import FeeAccount
from services.fees.domain.invoicing import ClientBilling
from services.fees.domain.schedule import FeeSchedule, ResolutionStage
from services.fees.tests.builders import fee_line, flat_rate, payment, version


def ctx(request_id: str = "r1", tenant: str = "t1") -> CommandContext:
    return CommandContext(tenant_id=tenant, actor="tester", request_id=request_id,
                          now=datetime(2026, 11, 27, 12, tzinfo=UTC))


def new_events(aggregate) -> list:
    return aggregate.collect_events()


def test_publishing_versions_and_selecting_by_date() -> None:
    schedule = FeeSchedule.create(ctx("create"), "client-1")
    assert schedule.publish_version(ctx("v1"), dt.date(2026, 1, 1), None, flat_rate(2000)) == 1
    assert schedule.publish_version(ctx("v2"), dt.date(2026, 7, 1), None, flat_rate(2500)) == 2
    events = new_events(schedule)
    assert [type(e).__name__ for e in events] == [
        "FeeScheduleCreated", "FeeScheduleVersionPublished", "FeeScheduleVersionPublished"]
    assert events[2].supersedes_version == 1
    assert schedule.in_force_on(dt.date(2026, 6, 30)).version == 1  # type: ignore[union-attr]
    assert schedule.in_force_on(dt.date(2026, 7, 1)).version == 2  # type: ignore[union-attr]
    assert schedule.versions[0].effective_until == dt.date(2026, 6, 30)


def test_a_retried_publish_records_nothing_and_answers_the_same_version() -> None:
    schedule = FeeSchedule.create(ctx("v1"), "client-1")
    schedule.publish_version(ctx("v1"), dt.date(2026, 1, 1), None, flat_rate(2000))
    new_events(schedule)
    assert schedule.publish_version(ctx("v1"), dt.date(2026, 1, 1), None, flat_rate(2000)) == 1
    assert new_events(schedule) == []


def test_bad_terms_are_refused_with_field_violations_and_nothing_recorded() -> None:
    schedule = FeeSchedule.create(ctx(), "client-1")
    new_events(schedule)
    with pytest.raises(InvalidArgument) as raised:
        schedule.publish_version(ctx("bad"), dt.date(2026, 1, 1), None,
                                 flat_rate(-5, minimum_cents=500, cap_cents=100))
    assert {v.field for v in raised.value.violations} == {
        "terms.default_tiers[0].rate_bps", "terms.cap_cents"}
    assert new_events(schedule) == []


def test_overlapping_version_is_refused() -> None:
    schedule = FeeSchedule.create(ctx(), "client-1")
    schedule.publish_version(ctx("v1"), dt.date(2026, 1, 1), dt.date(2026, 12, 31),
                             flat_rate(2000))
    with pytest.raises(InvalidArgument):
        schedule.publish_version(ctx("v2"), dt.date(2026, 6, 1), None, flat_rate(2500))


def test_fee_account_records_each_upstream_event_once() -> None:
    account = FeeAccount.open(ctx(), "claim-1", "client-1")
    terms = version(flat_rate(2500))
    first = account.assess_payment(ctx("settlement:1"), payment(40_000, "settlement:1"), terms)
    again = account.assess_payment(ctx("settlement:1"), payment(40_000, "settlement:1"), terms)
    assert first is not None and first.line is not None and again is None
    events = new_events(account)
    assert [type(e).__name__ for e in events] == ["FeeAccountOpened", "FeeAssessed"]
    assert events[1].line == line_to_record(first.line)
    assert account.state.fee_billed_cents == 10_000


def test_fee_account_state_survives_replay_of_its_events() -> None:
    account = FeeAccount.open(ctx(), "claim-1", "client-1")
    terms = version(flat_rate(2500, pass_through_idr_fees=True))
    account.record_claim_facts(ctx("claims:1"), "claims:1", stage=ResolutionStage.IDR,
                               initial_payment_cents=30_000, payer_id="aetna",
                               service_code="99285")
    account.assess_payment(ctx("s:1"), payment(40_000, "s:1"), terms)
    account.assess_payment(ctx("s:2"), payment(-10_000, "s:2", kind=PaymentKind.RECOUPMENT),
                           terms)
    account.pass_through_idr_fee(ctx("n:1"), IdrFeeFact("n:1", 1_500, dt.date(2026, 3, 1)),
                                 terms)
    events = new_events(account)
    replayed: Any = None
    for event in events:
        replayed = event.mutate(replayed)
    assert replayed.state == account.state
    assert replayed.state.tenant_id == "t1"
    assert [(line.kind, line.cause, line.amount_cents) for line in replayed.lines] == [
        (FeeLineKind.INVOICE_LINE, FeeCause.PAYMENT, 10_000),
        (FeeLineKind.CREDIT_MEMO, FeeCause.RECOUPMENT, -2_500),
        (FeeLineKind.INVOICE_LINE, FeeCause.IDR_FEE_PASS_THROUGH, 1_500),
    ]


def test_closing_a_period_twice_issues_one_immutable_invoice() -> None:
    billing = ClientBilling.open(ctx(), "client-1")
    lines = [fee_line("a", dt.date(2026, 3, 2), 10_000), fee_line("b", dt.date(2026, 4, 2), 500)]
    march = billing.close_period(ctx("close-1"), dt.date(2026, 3, 1), dt.date(2026, 3, 31), lines)
    late = [*lines, fee_line("late", dt.date(2026, 3, 20), -10_000)]
    assert billing.close_period(ctx("close-2"), dt.date(2026, 3, 1), dt.date(2026, 3, 31),
                                late) == march
    assert [line.line_id for line in billing.invoices[march].lines] == ["a"]
    april = billing.close_period(ctx("close-3"), dt.date(2026, 4, 1), dt.date(2026, 4, 30), late)
    issued = billing.invoices[april]
    assert [line.line_id for line in issued.lines] == ["late", "b"]
    assert (issued.charges_cents, issued.credits_cents, issued.total_cents) == (
        500, -10_000, -9_500)
    assert [type(e).__name__ for e in new_events(billing)] == [
        "ClientBillingOpened", "InvoiceIssued", "InvoiceLinesRecorded", "InvoiceIssued",
        "InvoiceLinesRecorded"]
