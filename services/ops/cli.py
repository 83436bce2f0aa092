"""What the operator commands share: the gateway's address, the admin key, the report's text."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from oonledger.operations.v1 import operations_pb2 as pb
from services.common.settings import DEFAULT_GRPC_PORTS


def gateway_parser(
    prog: str, description: str, environ: Mapping[str, str] | None = None
) -> argparse.ArgumentParser:
    """A parser with `--gateway` (GATEWAY_ADDR -- from the running `make run` when unset --,
    default 127.0.0.1:<the gateway's port>)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--gateway", default=(os.environ if environ is None else environ).get(
        "GATEWAY_ADDR", f"127.0.0.1:{DEFAULT_GRPC_PORTS['gateway']}"))
    parser.add_argument("--timeout", type=float, default=600.0)
    return parser


def key_metadata(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...] | None:
    """The call metadata for the tenant's admin key in OON_API_KEY (None, said why, if unset)."""
    key = environ.get("OON_API_KEY", "")
    if not key:
        print("OON_API_KEY (an admin key of the tenant) is required", file=sys.stderr)
        return None
    return (("authorization", f"Bearer {key}"),)


def format_report(report: pb.ReconciliationReport) -> str:
    lines = [f"tenant {report.tenant_id}: {'healthy' if report.healthy else 'NOT healthy'}"]
    for counts in report.services:
        line = f"  {counts.service}:"
        if counts.has_event_store:
            line += f" recorded {counts.recorded}, published {counts.published}"
        consumed = [f"{c.consumer} {c.consumed if c.tracked else '(untracked)'}"
                    for c in counts.consumers]
        if consumed:
            line += f"; consumed: {', '.join(consumed)}"
        if counts.ledger:
            line += "; in the ledger: " + ", ".join(
                f"{item.service} {item.appended}" for item in counts.ledger)
        if counts.HasField("payments"):
            line += f"; payments {counts.payments.payments}"
        lines.append(line)
    lines.extend(f"  GAP {gap.service} {gap.check}: expected {gap.expected}, got {gap.actual} "
                 f"({gap.gap}): {gap.detail}" for gap in report.gaps)
    lines.extend(f"  UNREACHABLE {name}" for name in report.unreachable)
    return "\n".join(lines)
