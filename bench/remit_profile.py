"""Settlement's 835 posting path alone: `python -m bench.remit_profile N [--cprofile FILE]`.

No gateway, no other service: an embedded PostgreSQL (or DATABASE_URL), one SettlementApplication,
N open settlements, and the file of tests/e2e/large_remittance.py (each claim's two lines paid in
full). Prints the time of each step of the import: the parse and checks (`prepare_import`), the
claim index (keyed hashes, as adapters/sql.py builds it from the read model), and the posting
(`import_remittance`: load, match, post, save in bounded chunks).
"""

from __future__ import annotations

import cProfile
import gc
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from services.common.context import CommandContext
from services.common.phi import PATIENT_CONTROL_NUMBER
from services.common.settings import Settings
from services.settlement.adapters.remittance_intake import prepare_import
from services.settlement.application import (
    ImportRemittance,
    OpeningTerms,
    SettlementApplication,
)
from services.settlement.domain import ClaimIndex, ClaimLine, ClaimReference, SettlementSource
from services.settlement.domain.matching import prefixes_of
from tests.e2e.large_remittance import PAID_CENTS, SERVICE_DATE, remittance

LINES = (ClaimLine(1, "", "99285", ("25",), SERVICE_DATE, 185_000),
         ClaimLine(2, "", "12002", (), SERVICE_DATE, 64_000))


def ctx(tenant: str, request_id: str) -> CommandContext:
    return CommandContext(tenant_id=tenant, actor="bench", now=datetime.now(UTC),
                          roles=frozenset({"finance"}), request_id=request_id)


def seed(app: SettlementApplication, tenant: str, claim_ids: list[str]) -> None:
    for start in range(0, len(claim_ids), 1000):
        app.save_all(*(app.open_settlement(ctx(tenant, "open"), OpeningTerms(
            claim_id=claim_id, source=SettlementSource.AGREEMENT, source_ref="bench",
            decided_on=date(2026, 11, 10), due_date=date(2026, 12, 10),
            amount_owed_cents=PAID_CENTS, agreed_total_cents=PAID_CENTS,
            patient_cost_sharing_cents=0, already_paid_cents=0, payer_id="87726"))
            for claim_id in claim_ids[start:start + 1000]))


def index_for(app: SettlementApplication, tenant: str, pcns: list[str],
              claim_ids: list[str]) -> ClaimIndex:
    keys = app.phi_keys

    def key(kind: str, value: str) -> str:
        return keys.index(tenant, kind, value)

    return ClaimIndex.build((
        ClaimReference(claim_id, key(PATIENT_CONTROL_NUMBER, pcn), frozenset(),
                       "1234567893", "", SERVICE_DATE, 249_000, LINES,
                       frozenset(key(PATIENT_CONTROL_NUMBER, p) for p in prefixes_of(pcn)),
                       adjudicated=True)
        for claim_id, pcn in zip(claim_ids, pcns, strict=True)), key=key)


class GcClock:
    """Time spent in the garbage collector (gc.callbacks), by generation."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.started = 0.0
        gc.callbacks.append(self.tick)

    def tick(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self.started


def main(claims: int, profile_to: str | None) -> None:
    if not os.environ.get("DATABASE_URL"):
        from services.common.localservers import LocalPostgres

        postgres = LocalPostgres(Path(tempfile.mkdtemp(prefix="remitprof-")) / "pgdata")
        os.environ["DATABASE_URL"] = postgres.start()
    os.environ.setdefault("NATS_URL", "nats://127.0.0.1:9")  # not used: no relay here
    os.environ.setdefault("OON_DEV_MODE", "1")
    os.environ.setdefault("OON_NAMESPACE", "p" + uuid.uuid4().hex[:8])
    app = SettlementApplication(Settings.from_env("settlement", grpc_port=0))
    built = app._message
    unbuilt: list[str] = []

    def message(event: object, recorded_at: datetime) -> object:
        stored = built(event, recorded_at)
        if stored is None:  # the save would leave it to the relay: a profile would lie
            unbuilt.append(type(event).__name__)
        return stored

    app._message = message  # type: ignore[method-assign,assignment]
    tenant = "prof-" + uuid.uuid4().hex[:6]
    pcns = [f"PCN{uuid.uuid4().hex[:12].upper()}" for _ in range(claims)]
    claim_ids = [f"claim-{pcn}" for pcn in pcns]
    started = time.perf_counter()
    seed(app, tenant, claim_ids)
    print(f"seeded {claims} settlements in {time.perf_counter() - started:.1f} s")
    content = remittance(pcns)
    if os.environ.get("REMIT_GC_FREEZE"):
        gc.freeze()
    clock = GcClock()
    profiler = cProfile.Profile() if profile_to else None
    if profiler:
        profiler.enable()
    cpu = [time.process_time()]
    started = time.perf_counter()
    prepared = prepare_import(content, "large.835")
    parsed = time.perf_counter()
    cpu.append(time.process_time())
    index = index_for(app, tenant, pcns, claim_ids)
    indexed = time.perf_counter()
    cpu.append(time.process_time())
    result = app.import_remittance(ctx(tenant, "import"), ImportRemittance(prepared, index))
    done = time.perf_counter()
    cpu.append(time.process_time())
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile_to)
    assert not unbuilt, f"integration messages not built at save: {unbuilt[:3]}"
    assert result.outcome == "posted", result.reasons[:3]
    (record,) = result.remittances
    assert (record.matched_count, record.exception_count) == (claims, 0)
    print(f"{claims} claims, {len(content) / 1e6:.1f} MB: parse+check {parsed - started:.2f} s, "
          f"index {indexed - parsed:.2f} s, post {done - indexed:.2f} s, "
          f"total {done - started:.2f} s ({claims / (done - started):,.0f} claims/s); "
          f"gc {' + '.join(f'{s:.2f}' for s in clock.seconds)} s (gen 0 + 1 + 2); CPU: parse+check "
          f"{cpu[1] - cpu[0]:.2f} s, post {cpu[3] - cpu[2]:.2f} s; load {os.getloadavg()[0]:.1f}")
    app.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    out = None
    if "--cprofile" in args:
        at = args.index("--cprofile")
        out = args[at + 1]
        del args[at:at + 2]
    main(int(args[0]) if args else 10_000, out)
