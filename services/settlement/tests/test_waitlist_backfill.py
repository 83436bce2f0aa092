"""Upgrade: payments queued for want of a settlement before the waitlist existed are listed on
their claims' waitlists by the backfill, and then post as any other (real PostgreSQL and NATS)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any
from uuid import UUID

import pytest

from oonledger.settlement.v1 import settlement_pb2 as pb
from services.common.runtime import ServiceRuntime
from services.ops import backfill_waitlists as backfill_waitlists_command
from services.settlement.adapters.waitlist_backfill import backfill_waitlists
from services.settlement.domain import (
    RESOLVED_ON_SETTLEMENT_OPENING,
    SettlementWaitlist,
    UnmatchedClaimPayment,
    waitlist_id_for,
)

from .conftest import DECIDED_ON
from .polling import wait_for
from .test_rematch_on_opening import (
    D_AGREED,
    D_PAID,
    _app,
    _exceptions,
    _in_thread,
    _settlement_or_none,
    _system,
    _waiting_item,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _queued_the_old_way(seeded: Any, app: Any, tag: str) -> UnmatchedClaimPayment:
    """An item queued by the code before the waitlist: the queue event alone, no listing."""
    ctx = _system(seeded.tenant, f"old-import-{tag}")
    item = _waiting_item(ctx, seeded.claim_id("D"), f"D{seeded.tag}", D_PAID,
                         UUID(int=0x01D), f"OLD{seeded.tag}")  # fmt: skip
    await _in_thread(app.save_all, item)

    async def listed() -> pb.PaymentException | None:
        return (await _exceptions(seeded)).get(f"D{seeded.tag}")

    await wait_for(listed)
    return item


async def _open_d(seeded: Any) -> None:
    d = replace(seeded.facts["D"], agreed_cents=D_AGREED)
    await seeded.upstream.agreed(seeded.claim_id("D"), d, DECIDED_ON)  # type: ignore[attr-defined]
    await wait_for(lambda: _settlement_or_none(seeded, "D"))


async def test_payments_queued_before_the_waitlist_post_once_backfilled(
    seed: Any, settlement_runtime: ServiceRuntime
) -> None:
    owner, other = await seed(), await seed(open_keys=())
    app = _app(settlement_runtime)
    settings = settlement_runtime.settings
    mine = await _queued_the_old_way(owner, app, "owner")
    theirs = await _queued_the_old_way(other, app, "other")
    # Both settlements open: the reaction to the opening finds no waitlist, posts nothing.
    await _open_d(owner)
    await _open_d(other)
    assert await _in_thread(app.post_waiting_payments, _system(owner.tenant, "before"),
                            owner.claim_id("D")) == []  # fmt: skip
    assert (await owner.settlement("D")).paid_cents == 0

    report = await _in_thread(backfill_waitlists, app, settings.database_url, settings.schema,
                              [owner.tenant])  # fmt: skip
    assert (report.tenants, report.listed) == (1, 1)

    async def posted() -> pb.Settlement | None:
        s = await owner.settlement("D")
        return s if s.paid_cents == D_PAID else None

    settlement = await wait_for(posted)
    (payment,) = settlement.payments
    assert payment.payment_id == f"{mine.remittance_id}:clp{mine.ordinal}"
    item = app.load(mine.id, owner.tenant, UnmatchedClaimPayment)
    assert item.resolution_cause == RESOLVED_ON_SETTLEMENT_OPENING
    waitlist = app.load(waitlist_id_for(owner.tenant, owner.claim_id("D")), owner.tenant,
                        SettlementWaitlist)  # fmt: skip
    assert waitlist.exception_ids == [str(mine.id)]

    # Again, as the operator runs it (services/ops/backfill_waitlists.py, its own application
    # on the service's database): nothing listed, nothing posted.
    printed: list[str] = []
    again = await _in_thread(backfill_waitlists_command.run, settings, [owner.tenant],
                             printed.append)  # fmt: skip
    assert again.listed == 0
    (line,) = printed  # the item, resolved, is no longer a candidate once the queue shows it
    assert line.startswith(f"tenant {owner.tenant}: ") and line.endswith(", 0 listed"), line
    assert app.load(waitlist.id, owner.tenant, SettlementWaitlist).version == waitlist.version
    await asyncio.sleep(0.5)  # a second posting would show by now
    assert (await owner.settlement("D")).paid_cents == D_PAID

    # The other tenant's item, not backfilled: no waitlist, still queued, nothing posted.
    assert app.find(waitlist_id_for(other.tenant, other.claim_id("D")), other.tenant,
                    SettlementWaitlist) is None  # fmt: skip
    assert not app.load(theirs.id, other.tenant, UnmatchedClaimPayment).resolved_claim_id
    assert (await other.settlement("D")).paid_cents == 0
    assert not (await _exceptions(other))[f"D{other.tag}"].resolved
