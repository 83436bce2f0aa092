"""End of the `make run` demo: replay and verify one negotiated claim with the auditor tool."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable

import grpc

from oonledger.ledger.v1 import ledger_pb2
from services.ledger.auditor import client
from services.ledger.domain.bundle import load_bundle_text
from services.ledger.domain.encoding import b64


async def audit_claim(
    ledger_channel: grpc.aio.Channel,
    tenant_id: str,
    claim_id: str,
    emit: Callable[[str], None] = print,
    api_key: str = "",
) -> bool:
    """Print the claim's timeline, verify it online, export it and verify the bundle offline.

    With `api_key`, `ledger_channel` is the partner gateway. Returns True when both
    verifications pass.
    """
    caller = client.Caller(tenant_id, actor="demo-auditor", api_key=api_key)
    for line in await client.replay_timeline(ledger_channel, caller, claim_id):
        emit(line)
    status, lines = await client.verify_claim(ledger_channel, caller, claim_id, wait=30)
    online_ok = status == ledger_pb2.VERIFICATION_STATUS_VERIFIED
    for line in lines:
        emit(line)
    key = await client.public_key(ledger_channel, caller)
    bundle = await client.export_bundle(ledger_channel, caller, claim_id)
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as handle:
        handle.write(bundle)
    report = load_bundle_text(bundle, key)
    entries = len(json.loads(bundle)["entries"])
    emit(
        f"bundle {handle.name}: {entries} entries, offline verification "
        f"{'PASSED' if report.ok else 'FAILED'}"
        + ("" if report.ok else ": " + "; ".join(report.findings()))
    )
    emit(
        f"(re-check offline any time: python -m services.ledger.auditor verify-bundle "
        f"{handle.name} --public-key {b64(key)})"
    )
    return online_ok and report.ok
