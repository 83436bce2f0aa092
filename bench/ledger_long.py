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
from collections.abc import Callable
from datetime import UTC, datetime

from bench.ledger_growth import append_growth, empty_log
from services.ledger.adapters.checkpointer import Checkpointer
from services.ledger.adapters.sql_reader import LogReader
from services.ledger.domain.log_verification import verify_stored_log
from services.ledger.domain.merkle import consistency_ranges, inclusion_ranges
from services.ledger.domain.signing import Signer

Report = Callable[..., None]
CLAIMS = int(os.environ.get("LEDGER_LONG_CLAIMS", "50000"))


def worst_proofs(size: int) -> tuple[int, int]:
    """Bytes of the worst inclusion proof (sampled leaves) and consistency proof to `size`."""
    step = max(1, size // 4099)
    inclusion = max(len(inclusion_ranges(i, size)) for i in range(0, size, step))
    consistency = max(len(consistency_ranges(m, size)) for m in range(1, size, step))
    return inclusion * 32, consistency * 32


async def run(report: Report) -> None:
    total = int(os.environ.get("LEDGER_LONG_EVENTS", "10000000"))
    dsn = os.environ["DATABASE_URL"]
    namespace = os.environ.get("OON_NAMESPACE", "bench")
    async with empty_log(dsn, namespace, "ledgerlong") as log:
        await append_growth(report, dsn, log, total, CLAIMS)
        if os.environ.get("LEDGER_LONG_VERIFY", "1") != "0":
            reader = LogReader(log.pool)
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
