"""A settlement's payments as the aggregate keeps them, and how money may be posted manually."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from uuid import UUID

from services.common.ids import deterministic_id
from services.settlement.domain.journal import Account, JournalTransaction, transfer
from services.settlement.domain.matching import LineMatch

INITIAL_PAYMENT_ID = "initial"


class ManualPaymentMethod(StrEnum):
    """How a payment posted by hand (PostPayment) was made."""

    CHECK = "check"
    EFT = "eft"
    VIRTUAL_CARD = "virtual_card"


class PaymentMethod:
    """Manual posting methods, plus the 835 BPR04 values an ERA payment carries."""

    CHECK = ManualPaymentMethod.CHECK.value
    EFT = ManualPaymentMethod.EFT.value
    VIRTUAL_CARD = ManualPaymentMethod.VIRTUAL_CARD.value
    MANUAL = frozenset(m.value for m in ManualPaymentMethod)


@dataclass
class PaymentRecord:
    """One payment on a settlement, as the aggregate keeps it.

    `payer_claim_control_number`: the CLP07 of an 835 payment; for the initial adjudication's
    payment, the ICN's keyed hash (the claims service publishes nothing else)."""

    payment_id: str
    amount_cents: int
    method: str
    reference: str
    payer_claim_control_number: str
    paid_on: date
    transaction: JournalTransaction
    reversed: bool = False
    line_matches: tuple[LineMatch, ...] = ()  # rule 5: which 837 line each SVC paid

    @property
    def cash_account(self) -> Account:
        """Where the payment's money came from: the account its transaction debited (provider
        cash, or unapplied cash for a queued CLP attached to the settlement later)."""
        return next(p.account for p in self.transaction.postings
                    if p.account != Account.PAYER_RECEIVABLE)  # fmt: skip

    def reversal(self, transaction_id: Callable[[str], str],
                 cash_from: Account | None = None) -> list[JournalTransaction]:  # fmt: skip
        """The reversal's journal: the payment's transaction exactly negated, which returns the
        money to where the payment took it from; and, when the money actually leaves from
        another account (`cash_from`: an 835's reversal takes it out of its deposit, provider
        cash; a queued CLP02 22 out of the unapplied cash it was queued into), a transfer from
        there. `transaction_id(kind)` names each entry."""
        entries = [self.transaction.reversed_by(transaction_id("reversal"),
                                                f"reversal of {self.payment_id}")]  # fmt: skip
        if cash_from is not None and cash_from != self.cash_account:
            entries.append(transfer(
                transaction_id("reversal-cash"),
                f"reversal of {self.payment_id}: taken from {cash_from.value}",
                self.cash_account, cash_from, self.amount_cents,
            ))  # fmt: skip
        return entries


def reversible_payment(
    payments: Iterable[PaymentRecord], icn: str, amount_cents: int, *, icn_key: str = ""
) -> PaymentRecord | None:
    """The unreversed payment a CLP02=22 undoes: same ICN and amount, else the same amount.

    The initial adjudication's ICN is known by its key only (the claims service publishes the
    keyed hash, services/common/phi.py): `icn_key` is the CLP07's key to compare it with.
    """
    candidates = [p for p in payments if not p.reversed and p.amount_cents == amount_cents]
    for payment in candidates:
        if icn and payment.payer_claim_control_number in {icn, icn_key}:
            return payment
    without_icn = [p for p in candidates if not p.payer_claim_control_number or not icn]
    return without_icn[0] if len(without_icn) == 1 else None


def settlement_id_for(tenant_id: str, claim_id: str) -> UUID:
    """One settlement per claim (or per IDR dispute line, which names its own claim)."""
    return deterministic_id(tenant_id, "settlement", claim_id)
