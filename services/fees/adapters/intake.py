"""Exactly-once processing of upstream events, guarded by the fee accounts themselves.

Every fee account records the upstream event ids it has applied and ignores a repeat, so
redelivery in any order has no second effect, and a crash before the commit simply leaves the
events to be redelivered. A batch of deliveries is applied as one unit of work and saved in one
transaction: the lever that takes the service from one commit per payment to thousands of
payments per second. That is why fees does not use the shared `ApplicationProcessor`, which
saves each event in its own transaction with a tracking row (the accounts make tracking rows
unnecessary here).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from concurrent.futures import Executor

from services.common.consumer import Delivery
from services.fees.adapters.subscriptions import FeeReactions
from services.fees.application import FeesApplication

Outcome = bool | Exception
"""Per delivery: True applied, False already applied (a duplicate), or why it failed."""


class FeeIntake:
    def __init__(self, app: FeesApplication, executor: Executor) -> None:
        self.app = app
        self.executor = executor

    def apply(self, deliveries: Sequence[Delivery], *, from_cache: bool) -> list[Outcome]:
        """Apply every delivery, then save all changed accounts at once (a version conflict
        raises `Conflict` and nothing of the batch is stored)."""
        reactions = FeeReactions(self.app, from_cache=from_cache)
        if from_cache and len(deliveries) > 1:
            reactions.preload(deliveries)
        outcomes: list[Outcome] = []
        for delivery in deliveries:
            try:
                outcomes.append(reactions.react(delivery))
            except Exception as exc:  # reported per delivery; the consumer retries it alone
                outcomes.append(exc)
        changed = reactions.changed_accounts()
        if changed:
            self.app.save_accounts(*changed)
        return outcomes

    async def process_batch(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        """A fetched batch, read from the aggregate cache (no query per account)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, functools.partial(self.apply, deliveries, from_cache=True))

    async def process(self, delivery: Delivery) -> bool:
        """One delivery with fresh reads: the retry path after a batch failed (shared
        consumer's `Processor` protocol); failures raise."""
        loop = asyncio.get_running_loop()
        (outcome,) = await loop.run_in_executor(
            self.executor, functools.partial(self.apply, [delivery], from_cache=False))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
