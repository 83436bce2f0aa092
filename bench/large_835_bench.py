"""Large 835s end to end through the gateway (issue 13): an 835 of 5,000 claims and one of
50,000 claims posted, every payment billed exactly one fee, every settlement event in the ledger.

Every service and the gateway run in this process, on the bench's PostgreSQL and NATS. Sizes:
LARGE_835_CLAIMS (comma-separated, default "5000,50000"). The checks are those of the
end-to-end test (tests/e2e/large_remittance.py); each step's time is reported, the import's
as the figure. The gateway's deadline ceiling is raised for the bench only, so the figure says
how long a 50,000-claim import takes rather than failing at the default 60 s.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from typing import Any

import grpc

from gateway.catalog import UPSTREAMS
from gateway.server import make_builder, process_of
from services.common.runtime import Builder, ServiceRuntime
from services.common.settings import Settings
from tests.e2e.conftest import Stack
from tests.e2e.journey import Vendor
from tests.e2e.large_remittance import Timings, post_large_835

SIZES = [int(n) for n in os.environ.get("LARGE_835_CLAIMS", "5000,50000").split(",") if n]


async def start(service: str, builder: Builder, **overrides: Any) -> ServiceRuntime:
    runtime = ServiceRuntime(Settings.from_env(service, grpc_port=0, **overrides), builder)
    await runtime.start()
    return runtime


async def stop(runtime: ServiceRuntime) -> None:
    if runtime.infra is not None:  # see bench/gateway_bench.py: nats-py's drain timeout
        runtime.infra.nc.options["drain_timeout"] = 2
    await runtime.stop(grace=1)


async def run(report: Any) -> None:
    services = {name: await start(name, importlib.import_module(f"services.{name}.main").build)
                for name in UPSTREAMS}
    env = {f"{name.upper()}_ADDR": f"127.0.0.1:{runtime.port}"
           for name, runtime in services.items()}
    env.update(GATEWAY_HTTP_PORT="0", GATEWAY_MAX_DEADLINE_SECONDS="1800")
    gateway = await start("gateway", make_builder(env))
    stack = Stack(gateway, process_of(gateway), services, {})
    try:
        async with grpc.aio.insecure_channel(stack.grpc_address) as channel:
            for claims in SIZES:
                vendor = await Vendor.enrol(stack, channel)
                timings = Timings()
                await post_large_835(vendor, claims, timings)
                for name, value in timings.figures.items():
                    unit = "MB" if name.endswith("(MB)") else "s"
                    report(f"{claims:,}-claim 835: {name.removesuffix(' (MB)')}", value, unit)
                report(f"{claims:,}-claim 835: import throughput",
                       claims / timings.figures["ImportRemittance through the gateway"],
                       "claims/s")
    finally:
        await asyncio.gather(*(stop(runtime) for runtime in (gateway, *services.values())))
