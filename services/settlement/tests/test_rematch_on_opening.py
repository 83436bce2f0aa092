"""An 835 payment queued because its claim's settlement was not open yet posts itself once the
settlement opens (real PostgreSQL and NATS, the agreement published as negotiation does)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import grpc
import pytest

from oonledger.settlement.v1 import settlement_pb2 as pb

from .conftest import DECIDED_ON
from .polling import wait_for
from .scenario import scenario_835

pytestmark = pytest.mark.asyncio(loop_scope="session")

NO_SETTLEMENT = "no settlement is open for the matched claim"
D_PAID = 40_000  # scenario_835: D is paid 400.00, X (a claim nobody knows) 200.00


async def _exceptions(seeded: Any) -> dict[str, pb.PaymentException]:
    found = await seeded.stub.ListExceptions(pb.ListExceptionsRequest(), metadata=seeded.md())
    return {e.patient_control_number: e for e in found.exceptions}


async def _queued_d(seeded: Any) -> pb.PaymentException:
    async def probe() -> pb.PaymentException | None:
        return (await _exceptions(seeded)).get(f"D{seeded.tag}")

    item = await wait_for(probe)
    assert item.reason == NO_SETTLEMENT and item.candidate_claim_id == seeded.claim_id("D")
    assert not item.resolved
    return item


async def test_a_payment_queued_before_the_settlement_opened_posts_when_it_opens(
    seed: Any,
) -> None:
    seeded = await seed()  # A, B, C open; D registered and adjudicated, not settled yet
    response = await seeded.stub.ImportRemittance(
        pb.ImportRemittanceRequest(content=scenario_835(seeded.tag).encode(), file_name="e.835"),
        metadata=seeded.md(),
    )
    assert response.status == pb.IMPORT_STATUS_POSTED, response.reasons
    await _queued_d(seeded)
    d = replace(seeded.facts["D"], agreed_cents=150_000)  # the scenario's D agreed nothing yet
    await seeded.upstream.agreed(seeded.claim_id("D"), d, DECIDED_ON)  # type: ignore[attr-defined]

    async def posted() -> pb.Settlement | None:
        try:
            s = await seeded.settlement("D")
        except grpc.aio.AioRpcError as exc:  # not opened yet
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return s if s.paid_cents == D_PAID else None

    settlement = await wait_for(posted)
    (payment,) = settlement.payments
    assert payment.amount_cents == D_PAID and not payment.reversed

    async def resolved() -> dict[str, pb.PaymentException] | None:
        items = await _exceptions(seeded)
        return items if items[f"D{seeded.tag}"].resolved else None

    items = await wait_for(resolved)
    assert items[f"D{seeded.tag}"].resolved_claim_id == seeded.claim_id("D")
    # A CLP nobody's claim: still queued, its money still unapplied.
    assert not items[f"UNKNOWN{seeded.tag}"].resolved

    async def book() -> pb.CheckBookResponse | None:
        b = await seeded.stub.CheckBook(pb.CheckBookRequest(), metadata=seeded.md())
        return b if b.account_balances["unapplied_cash"] == -20_000 else None

    checked = await wait_for(book)
    assert list(checked.violations) == []
