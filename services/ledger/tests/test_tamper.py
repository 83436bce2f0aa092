"""Rows changed, removed or moved behind the service's back are named by VerifyClaim and by
the offline verifier. This module runs its own ledger (own namespace): it damages its log."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from oonledger.ledger.v1 import ledger_pb2
from services.ledger.adapters import mapping
from services.ledger.domain.bundle import load_bundle_text
from services.ledger.tests.factories import negotiated_claim, with_payload
from services.ledger.tests.ledger_harness import Ledger, start_ledger
from tests.support.plugin import ServiceRunner, call_metadata, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ledger(
    service_runner: ServiceRunner, tmp_path_factory: pytest.TempPathFactory, namespace: str
) -> AsyncIterator[Ledger]:
    started = await start_ledger(
        service_runner, tmp_path_factory.mktemp("tamper-keys"), namespace=f"{namespace}tp"
    )
    yield started
    await started.close(service_runner)


async def signed_claim(ledger: Ledger) -> tuple[str, str, list[ledger_pb2.AuditEntry]]:
    """A claim fully appended and covered by a signed checkpoint."""
    tenant, claim = f"tenant-{uuid.uuid4().hex[:8]}", f"claim-{uuid.uuid4().hex[:8]}"
    events = negotiated_claim(tenant, claim)
    await ledger.publish(events)
    entries = await ledger.wait_for(tenant, claim, len(events))

    async def covered() -> ledger_pb2.SignedCheckpoint:
        response = await ledger.stub.GetCheckpoint(
            ledger_pb2.GetCheckpointRequest(), metadata=call_metadata(tenant)
        )
        assert response.checkpoint.tree_size > entries[-1].log_index
        return response.checkpoint

    checkpoint: ledger_pb2.SignedCheckpoint = await eventually(covered)
    assert checkpoint.tree_size
    return tenant, claim, entries


async def behind_the_back(ledger: Ledger, *statements: tuple[Any, ...]) -> None:
    """What only a database superuser can do: switch the append-only triggers off and write."""
    conn = await asyncpg.connect(ledger.runtime.settings.database_url)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(f'SET LOCAL search_path = "{ledger.schema}"')
            for sql, *args in statements:
                await conn.execute(sql, *args)
    finally:
        await conn.close()


async def verify(ledger: Ledger, tenant: str, claim: str) -> ledger_pb2.VerifyClaimResponse:
    return await ledger.stub.VerifyClaim(
        ledger_pb2.VerifyClaimRequest(claim_id=claim), metadata=call_metadata(tenant)
    )


async def offline_findings(ledger: Ledger, tenant: str, claim: str) -> list[str]:
    export = await ledger.stub.ExportClaim(
        ledger_pb2.ExportClaimRequest(claim_id=claim), metadata=call_metadata(tenant)
    )
    report = load_bundle_text(export.bundle_json, ledger.signer.public_key)
    assert not report.ok
    return report.findings()


async def test_an_intact_claim_verifies(ledger: Ledger) -> None:
    tenant, claim, entries = await signed_claim(ledger)
    result = await verify(ledger, tenant, claim)
    assert result.ok, result
    assert result.entries_checked == result.entries_anchored == len(entries)


async def test_a_changed_row_is_named_online_and_offline(ledger: Ledger) -> None:
    tenant, claim, entries = await signed_claim(ledger)
    victim = entries[4]
    await behind_the_back(
        ledger,
        (
            "UPDATE audit_entries SET payload = $1 WHERE event_id = $2",
            b'{"amount_cents":1,"party":"provider"}',
            victim.event_id,
        ),
    )
    result = await verify(ledger, tenant, claim)
    assert not result.ok
    assert [(b.kind, b.chain_seq, b.event_id) for b in result.breaks] == [
        (ledger_pb2.BREAK_KIND_CONTENT_ALTERED, victim.chain_seq, victim.event_id)
    ]
    findings = await offline_findings(ledger, tenant, claim)
    assert any(
        f"entry #{victim.chain_seq} (event {victim.event_id}" in f and "content_altered" in f
        for f in findings
    ), findings


async def test_a_consistently_rehashed_rewrite_fails_against_the_signed_tree(
    ledger: Ledger,
) -> None:
    """The forger recomputes every chain hash after the change: only the Merkle proofs catch it."""
    tenant, claim, entries = await signed_claim(ledger)
    domain = [mapping.entry_from_message(m) for m in entries]
    forged = with_payload(domain[6], b'{"agreed_total_cents":999999}')
    statements: list[tuple[Any, ...]] = [
        (
            "UPDATE audit_entries SET payload = $1 WHERE event_id = $2",
            forged.facts.payload,
            forged.facts.event_id,
        )
    ]
    prev = domain[5].entry_hash
    for entry in [forged, *domain[7:]]:
        digest = hashlib.sha256(prev + entry.canonical_bytes()).digest()
        statements.append(
            (
                "UPDATE audit_entries SET prev_hash = $1, entry_hash = $2 WHERE event_id = $3",
                prev,
                digest,
                entry.facts.event_id,
            )
        )
        prev = digest
    await behind_the_back(ledger, *statements)
    result = await verify(ledger, tenant, claim)
    assert not result.ok
    kinds = {(b.kind, b.chain_seq) for b in result.breaks}
    assert (ledger_pb2.BREAK_KIND_NOT_IN_LOG, 7) in kinds
    assert all(kind == ledger_pb2.BREAK_KIND_NOT_IN_LOG for kind, _ in kinds)
    assert any(
        "entry #7" in f and "not_in_log" in f for f in await offline_findings(ledger, tenant, claim)
    )


async def test_reordered_entries_are_detected(ledger: Ledger) -> None:
    tenant, claim, entries = await signed_claim(ledger)
    first, second = entries[2], entries[3]
    await behind_the_back(
        ledger,
        ("UPDATE audit_entries SET chain_seq = -1 WHERE event_id = $1", first.event_id),
        (
            "UPDATE audit_entries SET chain_seq = $1 WHERE event_id = $2",
            first.chain_seq,
            second.event_id,
        ),
        (
            "UPDATE audit_entries SET chain_seq = $1 WHERE event_id = $2",
            second.chain_seq,
            first.event_id,
        ),
    )
    result = await verify(ledger, tenant, claim)
    assert not result.ok
    named = {b.event_id for b in result.breaks}
    assert {first.event_id, second.event_id} <= named
    findings = await offline_findings(ledger, tenant, claim)
    assert any(first.event_id in f for f in findings) and any(
        second.event_id in f for f in findings
    )


async def test_a_deleted_entry_is_detected_and_located(ledger: Ledger) -> None:
    tenant, claim, entries = await signed_claim(ledger)
    gone, after = entries[1], entries[2]
    await behind_the_back(ledger, ("DELETE FROM audit_entries WHERE event_id = $1", gone.event_id))
    result = await verify(ledger, tenant, claim)
    assert not result.ok
    assert (ledger_pb2.BREAK_KIND_MISSING_ENTRY, after.chain_seq, after.event_id) in {
        (b.kind, b.chain_seq, b.event_id) for b in result.breaks
    }
    assert any(f"log index {gone.log_index} is missing" in p for p in result.log_problems)
    assert any("entry #2 is missing" in f for f in await offline_findings(ledger, tenant, claim))


async def test_a_deleted_last_entry_is_detected_by_the_signed_size(ledger: Ledger) -> None:
    tenant, claim, entries = await signed_claim(ledger)
    last = entries[-1]
    await behind_the_back(ledger, ("DELETE FROM audit_entries WHERE event_id = $1", last.event_id))
    result = await verify(ledger, tenant, claim)
    assert not result.ok
    assert result.entries_checked == len(entries) - 1
    assert any(f"log index {last.log_index} is missing" in p for p in result.log_problems)


async def test_the_operator_tool_verifies_the_whole_log(ledger: Ledger) -> None:
    """Run last: this module's log has been damaged by the tests above."""
    import io

    from services.ledger.auditor import cli as auditor_cli
    from services.ledger.domain.encoding import b64

    out = io.StringIO()
    code = await auditor_cli.run(
        [
            "verify-log",
            "--database-url",
            ledger.runtime.settings.database_url,
            "--schema",
            ledger.schema,
            "--public-key",
            b64(ledger.signer.public_key),
        ],
        out,
    )
    assert code == 1, out.getvalue()
    assert "content does not match its hash" in out.getvalue()
    assert "entries missing or moved" in out.getvalue()
