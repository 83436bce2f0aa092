"""Double-entry postings: every money movement is a balanced journal transaction.

Amounts are signed cents, debit positive and credit negative, so a transaction balances when
its amounts sum to zero. A correction is a reversing transaction (every amount negated) that
names the transaction it reverses; nothing is ever edited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Account(StrEnum):
    PAYER_RECEIVABLE = "payer_receivable"  # what the plan still owes on agreed settlements
    PATIENT_RESPONSIBILITY = "patient_responsibility"  # in-network cost sharing owed by patients
    PROVIDER_CASH = "provider_cash"  # money received by the provider
    SETTLEMENT_REVENUE = "settlement_revenue"  # agreed total out-of-network rates
    INTEREST_INCOME = "interest_income"  # prompt-pay interest, kept apart from recoveries
    UNAPPLIED_CASH = "unapplied_cash"  # paid on claims not (yet) matched: the exceptions queue
    UNAPPLIED_RECOUPMENTS = "unapplied_recoupments"  # recoupments naming no known claim
    PAYER_FORWARD_BALANCE = "payer_forward_balance"  # PLB FB carried between remittances
    PROVIDER_ADJUSTMENTS = "provider_adjustments"  # other provider-level (PLB) adjustments
    FEE_EXPENSE = "fee_expense"  # contingency fees charged on recoveries
    FEE_PAYABLE = "fee_payable"  # owed to the billing vendor


@dataclass(frozen=True, slots=True)
class Posting:
    account: Account
    amount_cents: int  # debit > 0, credit < 0

    def as_dict(self) -> dict[str, object]:
        return {"account": self.account.value, "amount_cents": self.amount_cents}


@dataclass(frozen=True, slots=True)
class JournalTransaction:
    """A balanced set of postings; `reverses` names the transaction a reversing entry undoes."""

    transaction_id: str
    description: str
    postings: tuple[Posting, ...]
    reverses: str = ""

    def is_balanced(self) -> bool:
        return sum(p.amount_cents for p in self.postings) == 0

    def reversed_by(self, transaction_id: str, description: str) -> JournalTransaction:
        return JournalTransaction(
            transaction_id=transaction_id,
            description=description,
            postings=tuple(Posting(p.account, -p.amount_cents) for p in self.postings),
            reverses=self.transaction_id,
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "transaction_id": self.transaction_id,
            "description": self.description,
            "reverses": self.reverses,
            "postings": [p.as_dict() for p in self.postings],
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> JournalTransaction:
        raw_postings: list[dict[str, object]] = data["postings"]  # type: ignore[assignment]
        return cls(
            transaction_id=str(data["transaction_id"]),
            description=str(data["description"]),
            reverses=str(data.get("reverses", "")),
            postings=tuple(
                Posting(Account(str(p["account"])), int(str(p["amount_cents"])))
                for p in raw_postings
            ),
        )


def transfer(
    transaction_id: str, description: str, debit: Account, credit: Account, amount_cents: int
) -> JournalTransaction:
    """Move `amount_cents` from `credit` to `debit` (a negative amount moves it the other way)."""
    return JournalTransaction(
        transaction_id,
        description,
        (Posting(debit, amount_cents), Posting(credit, -amount_cents)),
    )


def account_balances(transactions: Iterable[JournalTransaction]) -> dict[Account, int]:
    balances: dict[Account, int] = {}
    for transaction in transactions:
        for posting in transaction.postings:
            balances[posting.account] = balances.get(posting.account, 0) + posting.amount_cents
    return balances


@dataclass(frozen=True, slots=True)
class BookViolation:
    transaction_id: str
    rule: str
    detail: str


class BookCheck:
    """The journal rules, one transaction at a time in posting order, so a tenant's whole
    journal never has to be in memory: it remembers the postings only of transactions named in
    `reversed_ids` (those some later entry reverses) and, with `ids_unique`, no ids at all.

    Rules: each transaction has postings and balances; each id appears once; each reversing
    entry names an earlier transaction, reverses it once, and exactly negates it.
    """

    def __init__(self, reversed_ids: Iterable[str], *, ids_unique: bool = False) -> None:
        self._wanted = frozenset(reversed_ids)
        self._originals: dict[str, list[tuple[Account, int]]] = {}
        self._ids: set[str] | None = None if ids_unique else set()  # else the store's key holds
        self._reversed: set[str] = set()
        self.violations: list[BookViolation] = []

    def add(self, tx: JournalTransaction) -> None:
        if self._ids is not None:
            if tx.transaction_id in self._ids:
                detail = "posted twice"
                self.violations.append(BookViolation(tx.transaction_id, "unique-id", detail))
                return
            self._ids.add(tx.transaction_id)
        if not tx.postings:
            self.violations.append(BookViolation(tx.transaction_id, "non-empty", "no postings"))
        if not tx.is_balanced():
            total = sum(p.amount_cents for p in tx.postings)
            self.violations.append(
                BookViolation(tx.transaction_id, "balanced", f"debits - credits = {total} cents")
            )
        if tx.reverses:
            self._check_reversal(tx)
        if tx.transaction_id in self._wanted and tx.transaction_id not in self._originals:
            self._originals[tx.transaction_id] = sorted(
                (p.account, p.amount_cents) for p in tx.postings
            )

    def _check_reversal(self, tx: JournalTransaction) -> None:
        original = self._originals.get(tx.reverses)
        if original is None:
            detail = f"{tx.reverses} unknown"
            self.violations.append(BookViolation(tx.transaction_id, "reverses-existing", detail))
        elif tx.reverses in self._reversed:
            detail = f"{tx.reverses} again"
            self.violations.append(BookViolation(tx.transaction_id, "reversed-once", detail))
        elif sorted((account, -cents) for account, cents in original) != sorted(
            (p.account, p.amount_cents) for p in tx.postings
        ):
            detail = f"of {tx.reverses}"
            self.violations.append(BookViolation(tx.transaction_id, "exact-negation", detail))
        self._reversed.add(tx.reverses)


def verify_transactions(transactions: Iterable[JournalTransaction]) -> list[BookViolation]:
    """Each transaction balances; each reversing entry exactly negates one earlier transaction."""
    journal = list(transactions)
    check = BookCheck(tx.reverses for tx in journal if tx.reverses)
    for tx in journal:
        check.add(tx)
    return check.violations
