"""`make bench`: run every bench/<name>_bench.py and print figures with ratios to raw baselines.

Each module exposes `async def run(report)`; `report(name, value, unit, baseline_name=None)`
records a figure (printed with the 1-minute load average at that moment), and when
`baseline_name` names a figure recorded in the same run (e.g. a plain asyncpg insert or a plain
JetStream publish measured by that module), the ratio is printed beside it. Servers: embedded
PostgreSQL and NATS unless DATABASE_URL / NATS_URL are set. `python -m bench claims ledger`
runs only those modules; `python -m bench --long` runs the bench/<name>_long.py modules
instead (`make bench-long`: hours at full size, never part of `make bench`).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path

from services.common.localservers import LocalNats, LocalPostgres

HERE = Path(__file__).resolve().parent


class Report:
    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []
        self.values: dict[str, float] = {}
        self.module = ""

    def __call__(
        self, name: str, value: float, unit: str, baseline_name: str | None = None
    ) -> None:
        ratio = None
        if baseline_name and self.values.get(baseline_name):
            ratio = value / self.values[baseline_name]
        self.values[name] = value
        load = os.getloadavg()[0]  # the machine is shared: every figure carries its load
        row = {"module": self.module, "name": name, "value": value, "unit": unit,
               "baseline": baseline_name, "ratio": ratio, "load1": load}
        self.rows.append(row)
        ratio_text = f"  ({ratio:.2f}x {baseline_name})" if ratio is not None else ""
        print(f"  {name:<58} {value:>14,.2f} {unit:<10} load {load:>5.2f}{ratio_text}",
              flush=True)


async def main(selected: list[str]) -> int:
    # `--long`: the bench/<name>_long.py modules (`make bench-long`), kept out of `make bench`.
    long_runs = "--long" in selected
    selected = [s for s in selected if s != "--long"]
    suffix = "_long" if long_runs else "_bench"
    modules = sorted(p.stem for p in HERE.glob(f"*{suffix}.py"))
    if selected:
        modules = [m for m in modules if m.removesuffix(suffix) in selected]
    servers: list[LocalPostgres | LocalNats] = []
    tmp = Path(tempfile.mkdtemp(prefix="oonbench-"))
    if not os.environ.get("DATABASE_URL"):
        postgres = LocalPostgres(tmp / "pgdata")
        os.environ["DATABASE_URL"] = postgres.start()
        servers.append(postgres)
    if not os.environ.get("NATS_URL"):
        nats_server = LocalNats(tmp / "nats")
        os.environ["NATS_URL"] = nats_server.start()
        servers.append(nats_server)
    os.environ.setdefault("OON_DEV_MODE", "1")
    report = Report()
    failures = 0
    try:
        print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
        for name in modules:
            report.module = name
            # Each module in its own namespace: one module's events never reach another's services.
            os.environ["OON_NAMESPACE"] = "b" + uuid.uuid4().hex[:10]
            print(f"\n== {name} ==", flush=True)
            started = time.perf_counter()
            try:
                module = importlib.import_module(f"bench.{name}")
                await module.run(report)
            except Exception:
                failures += 1
                traceback.print_exc()
            print(f"  ({time.perf_counter() - started:.1f} s)")
    finally:
        for server in reversed(servers):
            server.stop()
    out = Path(os.environ.get("OON_BENCH_OUT", ".oonledger/bench.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report.rows, indent=2))
    print(f"\nfigures written to {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
