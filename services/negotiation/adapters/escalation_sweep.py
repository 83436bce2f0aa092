"""Escalation sweeps: raise `EscalationRaised` on every case whose next NSA deadline is now
within a level of the client's escalation chain.

One sweep serves both the `EscalateDueDeadlines` RPC and the service's own timer, which runs
every `NEGOTIATION_ESCALATION_SWEEP_SECONDS` (default 3600; 0 turns it off) for every tenant
with an open deadline. It runs in every replica: the aggregate records each level once per
deadline, and a replica that loses the version race to another (or to a user's command) gets
a `Conflict` and leaves the case to the next sweep, so no leader election is needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime
from typing import Any

from services.common import auth
from services.common.context import CommandContext, eastern_date
from services.common.errors import Conflict
from services.common.grpc_server import Blocking
from services.negotiation.adapters.projections import WorkQueue
from services.negotiation.application import NegotiationApplication

log = logging.getLogger(__name__)
SWEEP_ACTOR = "system:escalation-sweep"


def utc_now() -> datetime:
    return datetime.now(UTC)


class EscalationSweep:
    def __init__(self, app: NegotiationApplication, work_queue: WorkQueue, blocking: Blocking):
        self.app = app
        self.work_queue = work_queue
        self.blocking = blocking

    async def sweep(self, ctx: CommandContext, as_of: date) -> int:
        """Escalations raised for `ctx.tenant_id` as of `as_of` (a US Eastern date)."""
        horizon = await self.blocking(self.app.escalation_horizon, ctx, as_of)
        due = await self.work_queue.due_between(ctx.tenant_id, as_of, horizon)
        if not due:
            return 0
        return await self.blocking(self.app.escalate, ctx, due, as_of)

    def every(
        self, seconds: float, clock: Callable[[], datetime] = utc_now
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        """The service's timer: sweep every tenant, then wait `seconds`."""

        async def sweep_forever() -> None:
            while True:
                now = clock()
                as_of = eastern_date(now)
                for tenant in await self.work_queue.tenants_with_deadlines_from(as_of):
                    ctx = CommandContext(
                        tenant_id=tenant,
                        actor=SWEEP_ACTOR,
                        now=now,
                        roles=frozenset({auth.SYSTEM}),
                        request_id=f"escalation-sweep-{as_of.isoformat()}",
                    )
                    try:
                        raised = await self.sweep(ctx, as_of)
                    except Conflict:
                        continue  # another replica or a command got there first
                    if raised:
                        log.info("tenant %s: %d escalations raised as of %s", tenant, raised, as_of)
                await asyncio.sleep(seconds)  # sweep period, not a wait for a condition

        return sweep_forever
