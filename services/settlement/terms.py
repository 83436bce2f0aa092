"""What an agreement or IDR determination makes the plan owe, and when (DOMAIN.md §0.4, T8)."""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

PAYMENT_DUE_CALENDAR_DAYS = 30  # T8: 30 calendar days after the determination or agreement


class SettlementSource(StrEnum):
    AGREEMENT = "agreement"  # open negotiation or post-initiation settlement
    IDR_DETERMINATION = "idr_determination"


class SettlementStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    PARTLY_PAID = "partly_paid"
    PAID = "paid"
    OVERPAID = "overpaid"
    OVERDUE = "overdue"


def payment_due_date(decided_on: date) -> date:
    """Raw calendar-day deadline; no weekend roll-forward is stated in the NSA rules."""
    return decided_on + timedelta(days=PAYMENT_DUE_CALENDAR_DAYS)


def amount_owed_cents(
    agreed_total_cents: int, patient_cost_sharing_cents: int, already_paid_cents: int
) -> int:
    """The plan owes the total OON rate minus patient cost sharing minus what it already paid.

    Negative when the plan already paid more than the award: the provider owes a refund.
    """
    return agreed_total_cents - patient_cost_sharing_cents - already_paid_cents


def settlement_status(
    *,
    plan_share_cents: int,
    paid_cents: int,
    already_paid_cents: int,
    due_date: date,
    as_of: date,
) -> SettlementStatus:
    """Status from the plan's share of the award and the net it has paid so far.

    `paid_cents` is the net paid in all (the initial adjudication's `already_paid_cents`
    included). OVERDUE means the due date passed and the plan has paid nothing toward the award
    since it was decided; once a payment lands, late or not, the settlement is partly paid, paid
    or overpaid. Money still owed after the due date stays in `ListOverdue` and is flagged by
    `SettlementOverdue` whatever the status says.
    """
    outstanding = plan_share_cents - paid_cents
    if outstanding == 0:
        return SettlementStatus.PAID
    if outstanding < 0:
        return SettlementStatus.OVERPAID
    paid_since_decision = paid_cents - already_paid_cents
    if as_of > due_date and paid_since_decision <= 0:
        return SettlementStatus.OVERDUE
    if paid_cents > 0:
        return SettlementStatus.PARTLY_PAID
    return SettlementStatus.AWAITING_PAYMENT
