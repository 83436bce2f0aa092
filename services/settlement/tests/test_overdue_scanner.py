"""The background overdue scan records SettlementOverdue once per late settlement."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import pytest

from oonledger.settlement.v1 import settlement_pb2 as pb
from services.common.context import CommandContext
from services.settlement.adapters.overdue_scanner import overdue_scanner
from services.settlement.adapters.sql import SettlementReads

from .polling import wait_for

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_scan_flags_every_late_settlement_once(seed: Any, settlement_runtime: Any) -> None:
    seeded = await seed()  # decided 2026-10-01, due 2026-10-31: late by the test clock
    parts, infra = settlement_runtime.parts, settlement_runtime.infra
    reads = SettlementReads(infra.pool, settlement_runtime.settings.schema)
    scan = asyncio.create_task(overdue_scanner(parts.app, reads, infra.blocking, 3600)())
    ctx = CommandContext(tenant_id=seeded.tenant, actor="t", now=datetime.now(UTC))

    async def all_flagged() -> bool:
        settlements = [parts.app.settlement(ctx, seeded.claim_id(k)) for k in "ABC"]
        return all(s.overdue_flagged for s in settlements)

    try:
        await wait_for(all_flagged)
    finally:
        scan.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scan
    again = await seeded.stub.FlagOverdueSettlements(
        pb.FlagOverdueSettlementsRequest(request_id="after-scan"), metadata=seeded.md()
    )
    # Nothing left to flag (the read model may lag; the aggregates refuse a second flag anyway).
    assert again.flagged_count == 0
