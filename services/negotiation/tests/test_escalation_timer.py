"""The service's own timer raises escalations: nobody has to call EscalateDueDeadlines."""

from __future__ import annotations

import asyncio
import functools
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.common.context import CommandContext
from services.negotiation.client import Client
from services.negotiation.main import build
from services.negotiation.tests.requests import open_request
from tests.support.plugin import ServiceRunner, channel_to, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

# 10:00 Eastern on Friday 2026-11-06. A case paid on Oct 1 has T1 due on Nov 13: 4 business
# days left (Veterans Day skipped), inside the negotiator's level (5), not the supervisor's (3).
NOW = datetime(2026, 11, 6, 15, 0, tzinfo=UTC)
SWEEP_SECONDS = 0.2


async def test_the_timer_escalates_every_tenants_due_cases_once_per_level(
    service_runner: ServiceRunner, namespace: str
) -> None:
    runtime = await service_runner.start(
        "negotiation",
        functools.partial(build, clock=lambda: NOW),
        extra={"NEGOTIATION_ESCALATION_SWEEP_SECONDS": str(SWEEP_SECONDS)},
        namespace=f"{namespace}es",
    )
    assert runtime.parts is not None and runtime.parts.app is not None
    app: Any = runtime.parts.app

    def escalations(tenant: str, nid: str) -> list[tuple[str, date, int]]:
        ctx = CommandContext(tenant, "test", NOW, frozenset({"negotiator"}))
        return [
            (e.deadline_code, e.due_on, e.level)
            for e in app.negotiation(ctx, nid).escalations
        ]

    try:
        async with channel_to(runtime) as channel:
            due: dict[str, str] = {}
            far: dict[str, str] = {}
            for tenant in (f"tenant-{uuid.uuid4().hex[:8]}" for _ in range(2)):
                client = Client(channel, tenant)
                for cases, paid_on in ((due, "2026-10-01"), (far, "2026-10-20")):
                    request = open_request(
                        f"claim-{uuid.uuid4().hex[:8]}", initial_payment_received_on=paid_on
                    )
                    opened = await client.call("OpenNegotiation", request)
                    cases[tenant] = opened.negotiation.negotiation_id

        for tenant, nid in due.items():
            raised = await eventually(functools.partial(escalations, tenant, nid), timeout=20)
            assert raised == [("T1", date(2026, 11, 13), 1)]  # level 1: the negotiator
        await asyncio.sleep(5 * SWEEP_SECONDS)  # later sweeps the same day add nothing
        for tenant, nid in due.items():
            assert escalations(tenant, nid) == [("T1", date(2026, 11, 13), 1)]
            assert escalations(tenant, far[tenant]) == []  # T1 on Dec 2: 17 business days left
    finally:
        await service_runner.stop(runtime)
