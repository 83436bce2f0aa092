"""Settlement's vocabulary and status rule.

What the plan owes and by when (DOMAIN.md §0.4, T8) are negotiation's facts: they arrive in
SettlementAgreed / IdrDetermined and settlement keeps them as stated (docs/events.md).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum


class SettlementSource(StrEnum):
    AGREEMENT = "agreement"  # open negotiation or post-initiation settlement
    IDR_DETERMINATION = "idr_determination"


class SettlementStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    PARTLY_PAID = "partly_paid"
    PAID = "paid"
    OVERPAID = "overpaid"
    OVERDUE = "overdue"


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
