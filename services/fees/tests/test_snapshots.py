"""Long-lived fee aggregates save and reload exactly past their snapshot interval."""

from __future__ import annotations

import datetime as dt
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.context import CommandContext
from services.fees.domain.fee_account import FeeAccount
from services.fees.domain.invoicing import ClientBilling
from services.fees.tests.builders import fee_line, flat_rate, payment, version
from services.fees.tests.conftest import FeesHarness

pytestmark = pytest.mark.asyncio(loop_scope="session")


def ctx(tenant: str, request_id: str) -> CommandContext:
    return CommandContext(tenant_id=tenant, actor="tester", request_id=request_id,
                          now=datetime(2026, 11, 27, 12, tzinfo=UTC))


def _reloaded(app: Any, aggregate: Any) -> Any:
    app.save_all(aggregate)
    app.repository.cache = None  # from the database (and its snapshot), not the cache
    return app.repository.get(aggregate.id)


async def test_a_client_billed_every_month_for_two_years_reloads(fees: FeesHarness) -> None:
    assert fees.runtime.parts is not None
    tenant = fees.tenant()
    billing = ClientBilling.open(ctx(tenant, "open"), "client-1")
    for month in range(1, 25):
        year, m = 2025 + (month - 1) // 12, (month - 1) % 12 + 1
        first = dt.date(year, m, 1)
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        line = fee_line(f"l{month}", first, 100 * month)
        billing.close_period(ctx(tenant, f"close-{month}"), first, last, [line])
    reloaded = _reloaded(fees.runtime.parts.app, billing)
    # Opened, then each month's InvoiceIssued and its InvoiceLinesRecorded.
    assert reloaded.version == billing.version == 1 + 24 * 2
    assert reloaded.invoices == billing.invoices


async def test_a_claim_paid_in_sixty_instalments_reloads(fees: FeesHarness) -> None:
    assert fees.runtime.parts is not None
    tenant = fees.tenant()
    account = FeeAccount.open(ctx(tenant, "open"), f"claim-{uuid.uuid4().hex[:6]}", "client-1")
    terms = version(flat_rate(2500))
    for i in range(60):
        account.assess_payment(ctx(tenant, f"s:{i}"), payment(1_000, f"s:{i}"), terms)
    reloaded = _reloaded(fees.runtime.parts.app, account)
    assert reloaded.version == account.version
    assert reloaded.state == account.state
    assert reloaded.lines == account.lines
