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


def verify_transactions(transactions: Iterable[JournalTransaction]) -> list[BookViolation]:
    """Each transaction balances; each reversing entry exactly negates one earlier transaction."""
    seen: dict[str, JournalTransaction] = {}
    reversed_ids: set[str] = set()
    violations: list[BookViolation] = []
    for tx in transactions:
        if tx.transaction_id in seen:
            violations.append(BookViolation(tx.transaction_id, "unique-id", "posted twice"))
            continue
        if not tx.postings:
            violations.append(BookViolation(tx.transaction_id, "non-empty", "no postings"))
        if not tx.is_balanced():
            total = sum(p.amount_cents for p in tx.postings)
            violations.append(
                BookViolation(tx.transaction_id, "balanced", f"debits - credits = {total} cents")
            )
        if tx.reverses:
            original = seen.get(tx.reverses)
            if original is None:
                violations.append(
                    BookViolation(tx.transaction_id, "reverses-existing", f"{tx.reverses} unknown")
                )
            elif tx.reverses in reversed_ids:
                violations.append(
                    BookViolation(tx.transaction_id, "reversed-once", f"{tx.reverses} again")
                )
            elif sorted((p.account, -p.amount_cents) for p in original.postings) != sorted(
                (p.account, p.amount_cents) for p in tx.postings
            ):
                violations.append(
                    BookViolation(tx.transaction_id, "exact-negation", f"of {tx.reverses}")
                )
            reversed_ids.add(tx.reverses)
        seen[tx.transaction_id] = tx
    return violations
