"""Reconcile a tenant's pipeline through the gateway: `python -m services.ops.reconcile`.

Calls `oonledger.operations.v1.ReconciliationService/Reconcile` on the gateway (GATEWAY_ADDR,
default 127.0.0.1:<the gateway's port>) with an admin key of the tenant (OON_API_KEY) and
prints the report. Exit status 0 when healthy, 1 when there is a gap or a service did not
answer, 2 when the call failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

import grpc

from oonledger.operations.v1 import operations_pb2 as pb
from oonledger.operations.v1.operations_pb2_grpc import ReconciliationServiceStub
from services.ops.cli import address_of, format_report


async def run(argv: Sequence[str], environ: Mapping[str, str], out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.ops.reconcile",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", default=address_of("gateway", environ))
    parser.add_argument("--timeout", type=float, default=120.0)
    options = parser.parse_args(argv)
    key = environ.get("OON_API_KEY", "")
    if not key:
        print("OON_API_KEY (an admin key of the tenant) is required", file=sys.stderr)
        return 2
    async with grpc.aio.insecure_channel(options.gateway) as channel:
        try:
            report = await ReconciliationServiceStub(channel).Reconcile(
                pb.ReconcileRequest(), metadata=(("authorization", f"Bearer {key}"),),
                timeout=options.timeout)
        except grpc.aio.AioRpcError as exc:
            print(f"reconcile failed: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 2
    print(format_report(report), file=out)
    return 0 if report.healthy else 1


def main() -> int:
    return asyncio.run(run(sys.argv[1:], os.environ))


if __name__ == "__main__":
    sys.exit(main())
