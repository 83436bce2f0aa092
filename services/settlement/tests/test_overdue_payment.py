"""A payment that arrives after the due date posts like any other and lifts the settlement out
of OVERDUE (gateway end-to-end report: an 835 matched an overdue settlement and came back
POSTED, yet the settlement never reached the status the test waited for; a late partial payment
left it OVERDUE because the status put the due date before any payment)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from oonledger.settlement.v1 import settlement_pb2 as pb
from services.x12.writer_835 import ClaimSpec, RemittanceSpec, build_835

from .polling import wait_for
from .scenario import DOS, PAYEE_NPI, plan_share

pytestmark = pytest.mark.asyncio(loop_scope="session")

AFTER_DUE = date(2026, 11, 20)  # every seeded settlement is due 2026-10-31


async def test_payment_after_due_date_posts_on_an_overdue_settlement(seed: Any) -> None:
    seeded = await seed()
    flagged = await seeded.stub.FlagOverdueSettlements(
        pb.FlagOverdueSettlementsRequest(request_id="overdue-before-835", as_of="2026-11-15"),
        metadata=seeded.md(),
    )
    assert flagged.flagged_count == 3

    async def overdue_everywhere() -> list[pb.Settlement] | None:
        found = [await seeded.settlement(k) for k in "ABC"]
        listed = await seeded.stub.ListOverdue(
            pb.ListOverdueRequest(as_of="2026-11-15"), metadata=seeded.md()
        )
        ok = all(s.status == pb.SETTLEMENT_STATUS_OVERDUE for s in found) and len(listed.items) == 3
        return found if ok else None

    before = {s.claim_id: s for s in await wait_for(overdue_everywhere)}
    a, b, c = (seeded.facts[k] for k in "ABC")
    owed = {k: plan_share(f) - f.initial_paid_cents for k, f in zip("ABC", (a, b, c), strict=True)}
    for key in "ABC":
        assert before[seeded.claim_id(key)].outstanding_cents == owed[key]
    # A pays exactly what is owed, B 10,000 short, C 2,500 too much: paid, partly paid, overpaid.
    paid = {"A": owed["A"], "B": owed["B"] - 10_000, "C": owed["C"] + 2_500}
    claims = tuple(
        ClaimSpec(
            f.patient_control_number, f.charge_cents, paid[k], DOS,
            patient_responsibility_cents=f.cost_sharing_cents, payer_claim_control_number=f.icn,
        )
        for k, f in (("A", a), ("B", b), ("C", c))
    )  # fmt: skip
    trace = f"LATE{seeded.tag}"
    content = build_835(
        RemittanceSpec(trace_number=trace, payment_date=AFTER_DUE, payee_npi=PAYEE_NPI,
                       claims=claims)
    )  # fmt: skip
    response = await seeded.stub.ImportRemittance(
        pb.ImportRemittanceRequest(content=content.encode(), file_name="late.835"),
        metadata=seeded.md(),
    )
    assert response.status == pb.IMPORT_STATUS_POSTED, response.reasons
    (summary,) = response.remittances
    assert (summary.claim_count, summary.matched_count, summary.exception_count) == (3, 3, 0)
    total = sum(paid.values())
    assert summary.total_paid_cents == total

    async def posted() -> dict[str, pb.Settlement] | None:
        found = {k: await seeded.settlement(k) for k in "ABC"}
        ok = all(len(s.payments) == 2 for s in found.values())
        return found if ok else None

    after = await wait_for(posted)
    expected_status = {
        "A": pb.SETTLEMENT_STATUS_PAID,
        "B": pb.SETTLEMENT_STATUS_PARTLY_PAID,
        "C": pb.SETTLEMENT_STATUS_OVERPAID,
    }
    for key, facts in (("A", a), ("B", b), ("C", c)):
        s = after[key]
        initial, late = s.payments
        assert (initial.payment_id, initial.amount_cents) == ("initial", facts.initial_paid_cents)
        assert (late.amount_cents, late.reference, late.paid_on) == (
            paid[key], trace, AFTER_DUE.isoformat(),
        )  # fmt: skip
        assert not late.reversed
        assert s.paid_cents == facts.initial_paid_cents + paid[key]
        assert s.outstanding_cents == owed[key] - paid[key]
        assert s.status == expected_status[key], (key, s.status)
    assert after["B"].outstanding_cents == 10_000
    assert after["C"].outstanding_cents == -2_500

    still_overdue = await seeded.stub.ListOverdue(
        pb.ListOverdueRequest(as_of="2026-11-21"), metadata=seeded.md()
    )
    assert {i.claim_id for i in still_overdue.items} == {seeded.claim_id("B")}
    postings = await seeded.stub.ListPostings(
        pb.ListPostingsRequest(claim_id=seeded.claim_id("A")), metadata=seeded.md()
    )
    assert len(postings.transactions) == 3  # open, initial payment, the late payment

    initial_cash = sum(f.initial_paid_cents for f in (a, b, c))

    async def booked() -> pb.CheckBookResponse | None:
        book = await seeded.stub.CheckBook(pb.CheckBookRequest(), metadata=seeded.md())
        return book if book.account_balances["provider_cash"] == initial_cash + total else None

    book = await wait_for(booked)
    assert list(book.violations) == []
    receivable = sum(owed[k] - paid[k] for k in "ABC")
    assert book.account_balances["payer_receivable"] == receivable
    assert sum(book.account_balances.values()) == 0
