"""Exactly-once processing of upstream events, guarded by the fee accounts themselves.

Why not the shared `ApplicationProcessor`: eventsourcing 9.5.6's `has_tracking_id` answers "a
notification id at least this high was tracked", so an event retried after later ones (a nak
after a version conflict, a payment that arrived before its claim) would be taken as processed
and silently dropped. Here every fee account records the upstream event ids it has applied and
ignores a repeat, so redelivery in any order has no second effect, and a crash before the commit
simply leaves the event to be redelivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

from services.common.consumer import Delivery
from services.common.eventstore import ServiceApplication
from services.fees.fee_account import FeeAccount

Reaction = Callable[[Delivery], Sequence[FeeAccount]]


class AccountGuardedProcessor:
    """Runs a reaction in a worker thread and saves the accounts it changed in one transaction
    (a version conflict raises `Conflict`; the consumer retries the delivery)."""

    def __init__(self, app: ServiceApplication, reaction: Reaction, executor: Executor) -> None:
        self.app = app
        self.reaction = reaction
        self.executor = executor

    def _process_sync(self, delivery: Delivery) -> bool:
        accounts = self.reaction(delivery)
        changed = [account for account in accounts if account.pending_events]
        if not changed:
            return False
        self.app.save_all(*changed)
        return True

    async def process(self, delivery: Delivery) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._process_sync, delivery)
