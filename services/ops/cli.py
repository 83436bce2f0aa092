"""What the operator commands share: the address of a service and how a report is printed."""

from __future__ import annotations

from collections.abc import Mapping

from oonledger.operations.v1 import operations_pb2 as pb
from services.common.settings import DEFAULT_GRPC_PORTS


def address_of(service: str, environ: Mapping[str, str]) -> str:
    """`<SVC>_ADDR` (or `<SVC>_ADDRESS`), default `127.0.0.1:<the service's default port>` — the
    same convention as the gateway's upstreams."""
    prefix = service.upper()
    address = environ.get(f"{prefix}_ADDR") or environ.get(f"{prefix}_ADDRESS")
    if address:
        return address
    if service not in DEFAULT_GRPC_PORTS:
        raise SystemExit(f"no address for {service}: set {prefix}_ADDR")
    return f"127.0.0.1:{DEFAULT_GRPC_PORTS[service]}"


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
