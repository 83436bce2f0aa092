"""Invoice drafting: which lines a closed period bills, totals, period rules."""

from __future__ import annotations

import datetime as dt

from services.fees.domain.assessment import FeeLine
from services.fees.domain.invoicing import draft_invoice, invoice_id_for, validate_period
from services.fees.tests.builders import fee_line


def line(line_id: str, day: int, amount: int, month: int = 3) -> FeeLine:
    return fee_line(line_id, dt.date(2026, month, day), amount)


def test_invoice_bills_uninvoiced_lines_up_to_the_period_end() -> None:
    candidates = [line("a", 2, 10_000), line("b", 31, -2_500), line("c", 1, 5_000, month=4)]
    draft = draft_invoice("inv", "client", dt.date(2026, 3, 1), dt.date(2026, 3, 31),
                          candidates, frozenset())
    assert [item.line_id for item in draft.lines] == ["a", "b"]
    assert (draft.charges_cents, draft.credits_cents, draft.total_cents) == (10_000, -2_500, 7_500)


def test_a_late_correction_dated_in_a_closed_period_lands_on_the_next_invoice() -> None:
    march_lines = [line("a", 2, 10_000)]
    march = draft_invoice("m", "client", dt.date(2026, 3, 1), dt.date(2026, 3, 31),
                          march_lines, frozenset())
    late_credit = line("late", 15, -10_000)
    april = draft_invoice("a", "client", dt.date(2026, 4, 1), dt.date(2026, 4, 30),
                          [*march_lines, late_credit, line("x", 3, 700, month=4)],
                          frozenset(item.line_id for item in march.lines))
    assert [item.line_id for item in april.lines] == ["late", "x"]
    assert april.total_cents == -9_300


def test_period_rules() -> None:
    today = dt.date(2026, 5, 1)
    assert validate_period(dt.date(2026, 4, 1), dt.date(2026, 4, 30), today) == []
    assert {v.field for v in validate_period(dt.date(2026, 4, 2), dt.date(2026, 4, 1), today)} == {
        "period_end"}
    assert validate_period(dt.date(2026, 4, 1), dt.date(2026, 5, 1), today)


def test_invoice_id_is_per_tenant_client_and_period() -> None:
    start, end = dt.date(2026, 3, 1), dt.date(2026, 3, 31)
    assert invoice_id_for("t1", "c", start, end) == invoice_id_for("t1", "c", start, end)
    assert invoice_id_for("t1", "c", start, end) != invoice_id_for("t2", "c", start, end)
