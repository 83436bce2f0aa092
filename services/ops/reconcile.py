"""Reconcile a tenant's pipeline through the gateway: `python -m services.ops.reconcile`.

Calls `oonledger.operations.v1.OperatorService/Reconcile` on the gateway (GATEWAY_ADDR,
default 127.0.0.1:<the gateway's port>) with an admin key of the tenant (OON_API_KEY) and
prints the report. Exit status 0 when healthy, 1 when there is a gap or a service did not
answer, 2 when the call failed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

import grpc

from oonledger.operations.v1 import operations_pb2 as pb
from oonledger.operations.v1.operations_pb2_grpc import OperatorServiceStub
from services.common.local_env import local_settings
from services.ops.cli import format_report, gateway_parser, key_metadata


async def run(argv: Sequence[str], environ: Mapping[str, str], out: TextIO = sys.stdout) -> int:
    options = gateway_parser("python -m services.ops.reconcile",
                             "Reconcile the tenant's pipeline (OperatorService).",
                             environ).parse_args(argv)
    metadata = key_metadata(environ)
    if metadata is None:
        return 2
    async with grpc.aio.insecure_channel(options.gateway) as channel:
        try:
            report = await OperatorServiceStub(channel).Reconcile(
                pb.ReconcileRequest(), metadata=metadata, timeout=options.timeout)
        except grpc.aio.AioRpcError as exc:
            print(f"reconcile failed: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 2
    print(format_report(report), file=out)
    return 0 if report.healthy else 1


def main() -> int:
    environ = local_settings(os.environ, tool="services.ops.reconcile")
    return asyncio.run(run(sys.argv[1:], environ))


if __name__ == "__main__":
    sys.exit(main())
