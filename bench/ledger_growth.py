"""The ledger's append latency as the log grows from empty, against a durable raw COPY growing
beside it (issue 18's row "ledger append p99, empty -> 10M events").

Each step appends one batch of 500 to the ledger (dedupe, chain heads, hashes, Merkle nodes,
COPY, one transaction) and COPYs the same 500 rows into a plain table with only a primary key
(ordinary table, synchronous_commit on): baseline and measure interleaved, both tables growing
at the same pace, so the machine's noise moves both. The growth figures are the last tenth's
p99 (and p50) over the first tenth's. `make bench` runs it short (`bench/ledger_bench.py`:
100,000 events over 100 claims, chains of 1,000 entries); `make bench-long` to 10M
(`bench/ledger_long.py`). Also the synthetic events both use.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.stats import pct
from services.ledger.adapters.appender import Appender
from services.ledger.adapters.sql_rows import ENTRY_COLUMNS, entry_record
from services.ledger.adapters.sql_schema import migrate, writer_pool
from services.ledger.domain.entry import EventFacts

Report = Callable[..., None]
BATCH = 500
TENTHS = 10
START = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
PAYLOAD = b'{"amount_cents":240000,"offer_id":"o-1","party":"provider"}'


def event(tag: str, i: int, tenant: str, claim: str) -> EventFacts:
    moment = START + timedelta(milliseconds=i)
    return EventFacts(
        event_id=f"bench-{tag}:{i}",
        service="negotiation",
        notification_id=i,
        tenant_id=tenant,
        claim_id=claim,
        aggregate_type="Negotiation",
        aggregate_id=f"neg-{claim}",
        aggregate_version=i + 1,
        event_type="OfferMade",
        schema_version=1,
        occurred_at=moment,
        recorded_at=moment,
        actor="bench@example.com",
        request_id=f"r{i}",
        correlation_id=f"c{i}",
        causation_id="",
        traceparent="",
        tracestate="",
        payload=PAYLOAD,
        payload_content_type="application/json; canonical",
    )


@dataclass(frozen=True)
class EmptyLog:
    schema: str
    pool: asyncpg.Pool  # the ledger's writer role, as the service connects
    appender: Appender
    admin: asyncpg.Pool  # the owner's (baselines that create tables of their own)


@asynccontextmanager
async def empty_log(dsn: str, namespace: str, tag: str, writers: int = 4
                    ) -> AsyncIterator[EmptyLog]:  # fmt: skip
    """A ledger schema of its own (empty), its appender, dropped afterwards."""
    schema = f"{namespace}_{tag}_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    await migrate(admin, schema)
    pool = await writer_pool(dsn, schema, writers)
    appender = Appender(pool, schema)
    await appender.start()
    try:
        yield EmptyLog(schema, pool, appender, admin)
    finally:
        await appender.close()
        await pool.close()
        async with admin.acquire() as conn:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE; DROP ROLE "{schema}_writer"')
        await admin.close()


async def append_growth(report: Report, dsn: str, log: EmptyLog, total: int, claims: int,
                        tenth_rows: bool = True, label: str = "") -> None:
    """Append `total` events over `claims` claims from empty; report the growth rows (and, with
    `tenth_rows`, each tenth's p50/p99 beside the raw COPY's)."""
    total -= total % (BATCH * TENTHS)
    schema = log.schema
    raw = await asyncpg.connect(dsn)
    await raw.execute("SET synchronous_commit = on")
    await raw.execute(
        f'CREATE TABLE "{schema}".raw_copy AS SELECT * FROM "{schema}".audit_entries '
        f'WITH NO DATA; ALTER TABLE "{schema}".raw_copy ADD PRIMARY KEY (log_index)')
    per_tenth = total // TENTHS
    first: tuple[float, float, float, float] | None = None
    last = (0.0, 0.0, 0.0, 0.0)
    print(f"  appending {total:,} events over {claims:,} claims in batches of {BATCH}",
          flush=True)
    try:
        started_all = time.perf_counter()
        for tenth in range(TENTHS):
            ledger_ms: list[float] = []
            raw_ms: list[float] = []
            for start in range(tenth * per_tenth, (tenth + 1) * per_tenth, BATCH):
                batch = [event("long", i, "bench-tenant", f"claim-{i % claims}")
                         for i in range(start, start + BATCH)]
                began = time.perf_counter()
                result = await log.appender.append(batch)
                ledger_ms.append((time.perf_counter() - began) * 1000)
                if len(result.appended) != BATCH:
                    raise RuntimeError(f"appended {len(result.appended)} of {BATCH}")
                rows = [entry_record(e) for e in result.appended]
                began = time.perf_counter()
                async with raw.transaction():
                    await raw.copy_records_to_table("raw_copy", schema_name=schema,
                                                    columns=ENTRY_COLUMNS, records=rows)
                raw_ms.append((time.perf_counter() - began) * 1000)
            size = (tenth + 1) * per_tenth
            last = (pct(ledger_ms, 0.99), pct(raw_ms, 0.99),
                    pct(ledger_ms, 0.5), pct(raw_ms, 0.5))
            first = first or last
            if tenth_rows:
                p99, raw_p99, p50, raw_p50 = last
                report(f"raw COPY of 500 rows p99, log at {size:,}", raw_p99, "ms")
                report(f"ledger append of 500 p99, log at {size:,}", p99, "ms",
                       f"raw COPY of 500 rows p99, log at {size:,}")
                report(f"raw COPY of 500 rows p50, log at {size:,}", raw_p50, "ms")
                report(f"ledger append of 500 p50, log at {size:,}", p50, "ms",
                       f"raw COPY of 500 rows p50, log at {size:,}")
        elapsed = time.perf_counter() - started_all
    finally:
        await raw.close()
    assert first is not None
    what = f"{label}empty -> {total:,} events, chains of {total // claims:,}"
    report(f"ledger append rate ({what}, raw COPYs between)", total / elapsed, "events/s")
    report(f"raw COPY p99 growth, last tenth / first ({what})", last[1] / first[1], "x")
    report(f"ledger append p99 growth, last tenth / first ({what})", last[0] / first[0], "x",
           f"raw COPY p99 growth, last tenth / first ({what})")
    report(f"raw COPY p50 growth, last tenth / first ({what})", last[3] / first[3], "x")
    report(f"ledger append p50 growth, last tenth / first ({what})", last[2] / first[2], "x",
           f"raw COPY p50 growth, last tenth / first ({what})")
