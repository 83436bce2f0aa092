"""`make bench-long`: the ledger's append p99 from an empty log to LEDGER_LONG_EVENTS events
(default 10,000,000; synthetic negotiation events over 50,000 claims), against a durable raw
baseline growing beside it, then the verification time and proof sizes for that log.

Each step appends one batch of 500 to the ledger (dedupe, chain heads, hashes, Merkle nodes,
COPY, one transaction) and COPYs the same 500 rows into a plain table with only a primary key
(ordinary table, synchronous_commit on): baseline and measure interleaved, both tables growing
at the same pace, so the machine's noise moves both. Per tenth of the run: the p99 of each,
their ratio and the load average; the growth figure is the last tenth's p99 over the first's
(goal ≤ 1.5x). Then the stored log is verified from PostgreSQL (every chain, the Merkle root,
the checkpoint's signature) and the worst inclusion and consistency proofs are sized.

The sizes are environment settings: LEDGER_LONG_EVENTS, LEDGER_LONG_CLAIMS (the events are
spread over this many claims, so each claim's chain grows to EVENTS / CLAIMS entries: fewer
claims test longer chains), LEDGER_LONG_VERIFY (0 skips the stored verification, which reads
the whole log back). On a shared machine a tenth's p99 moves with the neighbours' load: read it
beside the raw COPY's p99 of the same tenth and the p50s.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from bench.ledger_bench import event
from bench.stats import pct
from services.ledger.adapters.appender import Appender
from services.ledger.adapters.checkpointer import Checkpointer
from services.ledger.adapters.sql_reader import LogReader
from services.ledger.adapters.sql_rows import ENTRY_COLUMNS, entry_record
from services.ledger.adapters.sql_schema import migrate, writer_pool
from services.ledger.domain.log_verification import verify_stored_log
from services.ledger.domain.merkle import consistency_ranges, inclusion_ranges
from services.ledger.domain.signing import Signer

Report = Callable[..., None]
BATCH = 500
TENTHS = 10
CLAIMS = int(os.environ.get("LEDGER_LONG_CLAIMS", "50000"))


def worst_proofs(size: int) -> tuple[int, int]:
    """Bytes of the worst inclusion proof (sampled leaves) and consistency proof to `size`."""
    step = max(1, size // 4099)
    inclusion = max(len(inclusion_ranges(i, size)) for i in range(0, size, step))
    consistency = max(len(consistency_ranges(m, size)) for m in range(1, size, step))
    return inclusion * 32, consistency * 32


async def run(report: Report) -> None:
    total = int(os.environ.get("LEDGER_LONG_EVENTS", "10000000"))
    total -= total % (BATCH * TENTHS)
    dsn = os.environ["DATABASE_URL"]
    schema = f"{os.environ.get('OON_NAMESPACE', 'bench')}_ledgerlong_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    await migrate(admin, schema)
    pool = await writer_pool(dsn, schema, 4)
    appender = Appender(pool, schema)
    await appender.start()
    raw = await asyncpg.connect(dsn)
    await raw.execute("SET synchronous_commit = on")
    await raw.execute(
        f'CREATE TABLE "{schema}".raw_copy AS SELECT * FROM "{schema}".audit_entries '
        f'WITH NO DATA; ALTER TABLE "{schema}".raw_copy ADD PRIMARY KEY (log_index)')
    per_tenth = total // TENTHS
    first_p99 = first_raw = first_p50 = p50 = first_raw_p50 = raw_p50 = 0.0
    try:
        print(f"  appending {total:,} events in batches of {BATCH} (a tenth: {per_tenth:,})",
              flush=True)
        started_all = time.perf_counter()
        for tenth in range(TENTHS):
            ledger_ms: list[float] = []
            raw_ms: list[float] = []
            for start in range(tenth * per_tenth, (tenth + 1) * per_tenth, BATCH):
                batch = [event("long", i, "bench-tenant", f"claim-{i % CLAIMS}")
                         for i in range(start, start + BATCH)]
                began = time.perf_counter()
                result = await appender.append(batch)
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
            p99, raw_p99 = pct(ledger_ms, 0.99), pct(raw_ms, 0.99)
            p50, raw_p50 = pct(ledger_ms, 0.5), pct(raw_ms, 0.5)
            if tenth == 0:
                first_p99, first_raw, first_p50, first_raw_p50 = p99, raw_p99, p50, raw_p50
            report(f"raw COPY of 500 rows p99, log at {size:,}", raw_p99, "ms")
            report(f"ledger append of 500 p99, log at {size:,}", p99, "ms",
                   f"raw COPY of 500 rows p99, log at {size:,}")
            report(f"raw COPY of 500 rows p50, log at {size:,}", raw_p50, "ms")
            report(f"ledger append of 500 p50, log at {size:,}", p50, "ms",
                   f"raw COPY of 500 rows p50, log at {size:,}")
        elapsed = time.perf_counter() - started_all
        report(f"ledger append rate over the whole run ({total:,} events, with the raw COPYs "
               "between)", total / elapsed, "events/s")
        report("ledger append p99 growth, last tenth / first tenth", p99 / first_p99, "x")
        report("raw COPY p99 growth, last tenth / first tenth", raw_p99 / first_raw, "x")
        report("ledger append p50 growth, last tenth / first tenth", p50 / first_p50, "x")
        report("ledger / raw p50 ratio growth, last tenth / first tenth",
               (p50 / raw_p50) / (first_p50 / first_raw_p50), "x")
        if os.environ.get("LEDGER_LONG_VERIFY", "1") != "0":
            reader = LogReader(pool)
            signer = Signer.from_seed(bytes(32))
            await Checkpointer(reader, signer, "bench", lambda: datetime.now(UTC)).checkpoint()
            began = time.perf_counter()
            verifier = await verify_stored_log(reader, signer.public_key)
            verify_s = time.perf_counter() - began
            assert verifier.ok, verifier.problems[:3]
            report(f"verify the stored log from PostgreSQL ({verifier.frontier.size:,} events)",
                   verify_s, "s")
        inclusion, consistency = worst_proofs(total)
        report(f"worst inclusion proof at {total:,} events", inclusion, "bytes")
        report(f"worst consistency proof to {total:,} events", consistency, "bytes")
        inclusion, consistency = worst_proofs(10_000_000)
        report("worst inclusion proof at 10,000,000 events (computed)", inclusion, "bytes")
        report("worst consistency proof to 10,000,000 events (computed)", consistency, "bytes")
    finally:
        await raw.close()
        await appender.close()
        await pool.close()
        async with admin.acquire() as conn:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE; DROP ROLE "{schema}_writer"')
        await admin.close()
