"""Small constructors for test inputs (schedules, facts, accounts)."""

from __future__ import annotations

import datetime as dt

from services.fees.domain.assessment import (
    AccountState,
    FeeCause,
    FeeLine,
    FeeLineKind,
    PaymentFact,
    PaymentKind,
)
from services.fees.domain.schedule import FeeTerms, ScheduleVersion, Tier

JAN_1 = dt.date(2026, 1, 1)


def flat_rate(rate_bps: int, **overrides: object) -> FeeTerms:
    return FeeTerms(default_tiers=(Tier(0, rate_bps),), **overrides)  # type: ignore[arg-type]


def version(terms: FeeTerms, number: int = 1, start: dt.date = JAN_1,
            until: dt.date | None = None) -> ScheduleVersion:
    return ScheduleVersion(number, start, until, terms)


def account(**overrides: object) -> AccountState:
    values: dict[str, object] = {"tenant_id": "t1", "claim_id": "c1", "client_id": "client-1"}
    values.update(overrides)
    return AccountState(**values)  # type: ignore[arg-type]


def payment(amount_cents: int, event_id: str = "settlement:1", *,
            kind: PaymentKind = PaymentKind.PAYMENT, day: dt.date = dt.date(2026, 3, 2),
            interest_cents: int = 0, trn: str = "EFT-1") -> PaymentFact:
    return PaymentFact(source_event_id=event_id, kind=kind, amount_cents=amount_cents,
                       posting_date=day, remittance_trn=trn, interest_cents=interest_cents,
                       payer_id="payer-1")


def fee_line(line_id: str, day: dt.date, amount_cents: int, *, claim_id: str = "c1",
             client_id: str = "client-1") -> FeeLine:
    """A billed line (an invoice line, or a credit memo when negative) of a payment."""
    return FeeLine(
        line_id=line_id,
        kind=FeeLineKind.INVOICE_LINE if amount_cents > 0 else FeeLineKind.CREDIT_MEMO,
        cause=FeeCause.PAYMENT if amount_cents > 0 else FeeCause.RECOUPMENT,
        amount_cents=amount_cents, line_date=day, claim_id=claim_id, client_id=client_id,
        remittance_trn="EFT-1", schedule_version=1, source_event_id=f"settlement:{line_id}",
        cumulative_recovered_cents=0, cumulative_fee_cents=0)
