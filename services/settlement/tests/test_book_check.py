"""The journal rules catch every kind of broken book, whether checked in memory or streamed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.settlement.domain import (
    Account,
    BookCheck,
    JournalTransaction,
    Posting,
    transfer,
    verify_transactions,
)

CASH, RECEIVABLE = Account.PROVIDER_CASH, Account.PAYER_RECEIVABLE


def pay(tx_id: str, cents: int) -> JournalTransaction:
    return transfer(tx_id, f"payment {tx_id}", CASH, RECEIVABLE, cents)


def rules(journal: list[JournalTransaction]) -> list[tuple[str, str]]:
    return [(v.transaction_id, v.rule) for v in verify_transactions(journal)]


def test_a_sound_journal_with_a_reversal_has_no_violation() -> None:
    first = pay("t1", 10_000)
    assert rules([first, pay("t2", 500), first.reversed_by("r1", "bounced")]) == []


@pytest.mark.parametrize(
    ("journal", "expected"),
    [
        ([pay("t1", 100), pay("t1", 100)], [("t1", "unique-id")]),
        ([JournalTransaction("t1", "nothing", ())], [("t1", "non-empty")]),
        (
            [JournalTransaction("t1", "lopsided", (Posting(CASH, 100), Posting(RECEIVABLE, -99)))],
            [("t1", "balanced")],
        ),
        ([pay("t1", 100).reversed_by("r1", "undo"), pay("t1", 100)], [("r1", "reverses-existing")]),
        (
            [
                pay("t1", 100),
                pay("t1", 100).reversed_by("r1", "x"),
                pay("t1", 100).reversed_by("r2", "x"),
            ],
            [("r2", "reversed-once")],
        ),
        (
            [pay("t1", 100), JournalTransaction("r1", "half", pay("t1", -50).postings, "t1")],
            [("r1", "exact-negation")],
        ),
    ],
    ids=["twice", "empty", "unbalanced", "reverses-later", "reversed-twice", "not-negated"],
)
def test_each_rule_names_the_transaction_that_breaks_it(
    journal: list[JournalTransaction], expected: list[tuple[str, str]]
) -> None:
    assert rules(journal) == expected


amounts = st.integers(min_value=-(10**9), max_value=10**9).filter(bool)


@given(st.lists(amounts, min_size=1, max_size=40), st.data())
def test_streaming_with_known_unique_ids_finds_what_the_in_memory_check_finds(
    payments: list[int], data: st.DataObject
) -> None:
    journal = [pay(f"t{i}", cents) for i, cents in enumerate(payments)]
    for i in data.draw(st.lists(st.integers(0, len(payments) - 1), max_size=10)):
        original = journal[i]
        honest = data.draw(st.booleans())
        reversal = (
            original.reversed_by(f"r{len(journal)}", "undo")
            if honest
            else JournalTransaction(
                f"r{len(journal)}", "skewed", pay("x", 1).postings, original.transaction_id
            )
        )
        journal.append(reversal)
    streamed = BookCheck({tx.reverses for tx in journal if tx.reverses}, ids_unique=True)
    for tx in journal:
        streamed.add(tx)
    assert streamed.violations == verify_transactions(journal)
