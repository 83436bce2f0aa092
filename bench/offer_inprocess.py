"""MakeOffer's use case in process, one caller: the CPU of `NegotiationApplication.make_offer`
(load, dispute lookup, domain, stored event, integration message, group-committed save) with
no gRPC, no relay, no projection, no second caller.

    python -m bench.offer_inprocess [CALLS]      (PYTHONPATH=<services dir>:<tree>:<tree>/gen)

Seeds 32 negotiations of 52 events (as the pipeline bench), warms the aggregate cache, then
three runs of CALLS (default 500) offers round-robin over them; prints each run's process CPU
(all threads: the group commit thread included) and wall time per call, and the least CPU of
the three. A single caller on one thread moves much less with the neighbours' load than the
32-caller bench, so it shows changes of tens of microseconds; run it alternately for two
versions of `services` (A/B). OFFER_INPROCESS_PROFILE=1 adds a cProfile of one more run.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time
import uuid
from datetime import UTC, date, datetime

from bench.seeded_negotiations import Seeded, seeded_negotiations


def main(calls: int) -> None:
    with seeded_negotiations("offerinproc") as seeded:
        run(seeded, calls)


def run(seeded: Seeded, calls: int) -> None:
    from services.common.context import CommandContext
    from services.negotiation.commands import MakeOffer
    from services.negotiation.domain import ProposedOffer

    app, tenant, ids = seeded.app, seeded.tenant, seeded.ids

    def call(i: int) -> None:
        ctx = CommandContext(tenant_id=tenant, actor="bench", now=datetime.now(UTC),
                             roles=frozenset({"negotiator"}), request_id=uuid.uuid4().hex)
        app.make_offer(ctx, MakeOffer(ids[i % len(ids)], ProposedOffer(
            offer_id=f"o{i}", party="payer", amount_cents=40_000 + i,
            basis={"qpa_cents": 40_000}, channel="email", notes="", document_refs=(),
            made_on=date(2026, 6, 10))))

    for i in range(200):
        call(i)  # every negotiation in the cache, every statement prepared
    least = float("inf")
    for r in range(3):
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(calls):
            call(1000 * (r + 1) + i)
        per_call = (time.process_time() - cpu) / calls * 1000
        least = min(least, per_call)
        print(f"run {r + 1}: {per_call:.3f} ms CPU per make_offer, "
              f"{(time.perf_counter() - wall) / calls * 1000:.3f} ms wall "
              f"(load {os.getloadavg()[0]:.2f})", flush=True)
    print(f"least: {least:.3f} ms CPU per make_offer (in process, one caller)")
    if os.environ.get("OFFER_INPROCESS_PROFILE"):
        profile = cProfile.Profile()
        profile.enable()
        for i in range(calls):
            call(50_000 + i)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(40)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
