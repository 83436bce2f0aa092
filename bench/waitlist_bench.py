"""Settlement's awaiting-settlement reaction (docs/settlement.md): how fast it follows a burst
of openings, most with nothing waiting, with its batch prefetch of the claims' waitlists
(`waitlist_prefetch`: one query per batch, the absent waitlists known absent) and without it
(one look per opening), alternately over the same deliveries; against a plain asyncpg insert of
as many tracking rows in transactions of the consumer's batch size (what the reaction must at
least write).

Set-up (not timed): WAITLIST_BENCH_OPENINGS settlements (default 2,000) opened in one tenant,
one in a hundred with a queued payment listed on its claim's waitlist before the opening; the
deliveries are settlement's own stored events, as its relay publishes them.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from services.common.consumer import Delivery
from services.common.context import CommandContext
from services.common.processors import ApplicationProcessor
from services.common.settings import Settings
from services.common.tests.stored_deliveries import deliveries_since
from services.settlement.adapters.subscriptions import (
    WAITLIST_EVENTS,
    waitlist_prefetch,
    waitlist_reaction,
)
from services.settlement.application import OpeningTerms, SettlementApplication
from services.settlement.domain import (
    NO_SETTLEMENT,
    PaymentException,
    Remittance,
    SettlementSource,
    UnmatchedClaimPayment,
)

OPENINGS = int(os.environ.get("WAITLIST_BENCH_OPENINGS", "2000"))
BATCH = 100  # the consumer's fetch (services/common/consumer.py)
ROUNDS = 3


def _ctx(tenant: str) -> CommandContext:
    return CommandContext(tenant_id=tenant, actor="bench", now=datetime.now(UTC),
                          roles=frozenset({"finance"}), request_id=uuid.uuid4().hex)


def _waiting(ctx: CommandContext, claim_id: str) -> UnmatchedClaimPayment:
    remittance = Remittance(
        control_number="0001", handling_code="I", total_paid_cents=10_000, credit_debit="C",
        payment_method="ACH", payment_date=date(2026, 11, 3), trace_number=f"EFT-{claim_id}",
        payer_identifier="1877261234", payer_id="87726")
    return UnmatchedClaimPayment.queue(
        ctx, remittance_id=uuid.uuid4(), remittance=remittance, item=PaymentException(
            ordinal=1, patient_control_number=claim_id, payer_claim_control_number="",
            status_code="1", charge_cents=80_000, paid_cents=10_000,
            patient_responsibility_cents=0, first_service_date=date(2026, 9, 1),
            reason=NO_SETTLEMENT, candidate_claim_id=claim_id))


def _openings(app: SettlementApplication, tenant: str) -> list[Delivery]:
    start = int(app.recorder.max_notification_id() or 0)
    claim_ids = [f"claim-{n:06d}" for n in range(OPENINGS)]
    for claim_id in claim_ids[::100]:
        item = _waiting(_ctx(tenant), claim_id)
        app.save_all(item, *app.list_on_waitlists(_ctx(tenant), [(claim_id, item)]))
    for at in range(0, OPENINGS, 200):
        app.save_all(*(app.open_settlement(_ctx(tenant), OpeningTerms(
            claim_id=claim_id, source=SettlementSource.AGREEMENT, source_ref="bench",
            decided_on=date(2026, 10, 1), due_date=date(2026, 10, 31), amount_owed_cents=60_000,
            agreed_total_cents=60_000, patient_cost_sharing_cents=0, already_paid_cents=0,
            payer_id="87726")) for claim_id in claim_ids[at:at + 200]))
    return [d for d in deliveries_since(app, "settlement", start, tenant, limit=OPENINGS * 3)
            if d.event_type in WAITLIST_EVENTS]


def _follow(processor: ApplicationProcessor, deliveries: list[Delivery]) -> float:
    """Seconds for the processor to apply every delivery, a consumer's batch at a time."""
    started = time.perf_counter()
    for at in range(0, len(deliveries), BATCH):
        outcomes = processor._process_batch_sync(deliveries[at:at + BATCH])
        if not all(outcome is True for outcome in outcomes):
            raise RuntimeError(f"{processor.name}: not every delivery applied: {outcomes[:5]}")
    return time.perf_counter() - started


async def _raw_tracking_insert(settings: Settings, rows: int) -> float:
    """Seconds for a plain asyncpg insert of `rows` tracking-sized rows, BATCH per durable
    transaction."""
    conn = await asyncpg.connect(settings.database_url)
    table = f"bench_raw_tracking_{uuid.uuid4().hex[:8]}"
    try:
        await conn.execute("SET synchronous_commit = on")
        await conn.execute(f"CREATE TABLE {table} (application_name text, notification_id "
                           "bigint, PRIMARY KEY (application_name, notification_id))")
        started = time.perf_counter()
        for at in range(0, rows, BATCH):
            async with conn.transaction():
                await conn.executemany(f"INSERT INTO {table} VALUES ($1, $2)",
                                       [("raw", n) for n in range(at, min(rows, at + BATCH))])
        return time.perf_counter() - started
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()


async def run(report: Any) -> None:
    settings = Settings.from_env("settlement")
    app = await asyncio.to_thread(SettlementApplication, settings)
    try:
        tenant = f"bench-{uuid.uuid4().hex[:8]}"
        deliveries = await asyncio.to_thread(_openings, app, tenant)
        lines = lambda tenant_id, claim_id: ()  # noqa: E731 (no 837 lines: not measured here)
        seconds: dict[str, list[float]] = {"with": [], "without": [], "raw": []}
        for round_ in range(ROUNDS):
            # Each round's processors track under their own names: each applies every delivery.
            for kind in ("with", "without") if round_ % 2 == 0 else ("without", "with"):
                processor = ApplicationProcessor(
                    app, f"awaiting-{kind}-{round_}", waitlist_reaction(app, lines), None,
                    prefetch=waitlist_prefetch if kind == "with" else None)
                seconds[kind].append(await asyncio.to_thread(_follow, processor, deliveries))
            seconds["raw"].append(await _raw_tracking_insert(settings, len(deliveries)))
        count = len(deliveries)
        best = {kind: min(values) for kind, values in seconds.items()}
        report(f"plain asyncpg insert of {count:,} tracking rows, {BATCH} per transaction",
               count / best["raw"], "rows/s")
        for kind in ("without", "with"):
            report(f"awaiting-settlement reaction, {count:,} openings, {kind} the waitlist "
                   "prefetch", count / best[kind], "deliveries/s",
                   f"plain asyncpg insert of {count:,} tracking rows, {BATCH} per transaction")
    finally:
        app.close()
