"""Background task: record `SettlementOverdue` for every tenant's settlements past their due date.

Runs in every replica; the aggregate records the event once (a concurrent duplicate loses the
version race and is skipped), so no leader election is needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from services.common.context import CommandContext, eastern_date
from services.common.errors import Conflict
from services.common.grpc_server import Blocking
from services.settlement.adapters.sql import SettlementReads
from services.settlement.application import FlagOverdue, SettlementApplication

log = logging.getLogger(__name__)


def overdue_scanner(
    app: SettlementApplication, reads: SettlementReads, blocking: Blocking, every_s: float
) -> Callable[[], Coroutine[Any, Any, None]]:
    async def scan_forever() -> None:
        while True:
            now = datetime.now(UTC)
            as_of = eastern_date(now)
            for tenant in await reads.tenants_with_unflagged_overdue(as_of):
                ctx = CommandContext(
                    tenant_id=tenant,
                    actor="system:settlement-overdue-scan",
                    now=now,
                    roles=frozenset({"system"}),
                    request_id=f"overdue-scan-{as_of.isoformat()}",
                )
                claim_ids = await reads.overdue_unflagged_claims(tenant, as_of)
                try:
                    command = FlagOverdue(tuple(claim_ids), as_of)
                    flagged = await blocking(app.flag_overdue, ctx, command)
                except Conflict:
                    continue  # another replica flagged them first
                log.info("tenant %s: %d settlements flagged overdue", tenant, flagged)
            await asyncio.sleep(every_s)  # scan period, not a wait for a condition

    return scan_forever
