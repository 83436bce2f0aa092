"""AuditService end to end: real JetStream in, real PostgreSQL underneath, gRPC on port 0."""

from __future__ import annotations

import io
import json
import pathlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial

import asyncpg
import grpc
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from oonledger.ledger.v1 import ledger_pb2
from services.ledger.adapters import mapping
from services.ledger.auditor import cli as auditor_cli
from services.ledger.domain.chain_verification import leaf_of, verify_chain
from services.ledger.domain.claim_state import fold_claim
from services.ledger.domain.encoding import b64
from services.ledger.domain.entry import claim_chain
from services.ledger.domain.merkle import verify_consistency, verify_inclusion
from services.ledger.tests.factories import BASE_TIME, facts, negotiated_claim
from services.ledger.tests.ledger_harness import Ledger, start_ledger
from tests.support.plugin import TEST_SIGNING_PEM, ServiceRunner, call_metadata, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ledger(
    service_runner: ServiceRunner, tmp_path_factory: pytest.TempPathFactory, namespace: str
) -> AsyncIterator[Ledger]:
    # Its own namespace: the session's streams and ledger schema belong to end-to-end tests.
    started = await start_ledger(
        service_runner, tmp_path_factory.mktemp("ledger-keys"), namespace=f"{namespace}lg"
    )
    yield started
    await started.close(service_runner)


def new_tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:8]}"


async def test_replay_returns_every_service_event_in_order_with_hashes(ledger: Ledger) -> None:
    tenant, claim = new_tenant(), f"claim-{uuid.uuid4().hex[:8]}"
    events = negotiated_claim(tenant, claim)
    await ledger.publish(events)
    entries = await ledger.wait_for(tenant, claim, len(events))
    assert {e.event_id for e in entries} == {f.event_id for f in events}
    assert [e.chain_seq for e in entries] == list(range(1, len(events) + 1))
    for service in ("claims", "negotiation", "settlement", "fees"):
        mine = [e.notification_id for e in entries if e.service == service]
        assert mine == sorted(mine), f"{service} events out of their published order"
    domain = [mapping.entry_from_message(m) for m in entries]
    assert verify_chain(claim_chain(tenant, claim), domain).ok
    assert all(m.leaf_hash == leaf_of(d) for m, d in zip(entries, domain, strict=True))


async def test_replay_up_to_an_instant_and_bad_requests(ledger: Ledger) -> None:
    tenant, claim = new_tenant(), f"claim-{uuid.uuid4().hex[:8]}"
    events = negotiated_claim(tenant, claim)
    await ledger.publish(events)
    await ledger.wait_for(tenant, claim, len(events))
    cutoff = BASE_TIME + timedelta(minutes=4, seconds=30)
    partial = await ledger.replay(tenant, claim, up_to=mapping.timestamp(cutoff))
    # Chain order is append order: each service's own order is kept, services interleave.
    assert {e.event_id for e in partial} == {f.event_id for f in events[:5]}

    with pytest.raises(grpc.aio.AioRpcError) as before:
        await ledger.replay(tenant, claim, up_to=mapping.timestamp(BASE_TIME - timedelta(days=1)))
    assert before.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "did not exist yet" in (before.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await ledger.replay(tenant, "no-such-claim")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await ledger.replay(tenant, "")
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(empty.value)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    status.details[0].Unpack(bad_request)
    assert [v.field for v in bad_request.field_violations] == ["claim_id"]


async def test_state_as_of_matches_folding_the_replay(ledger: Ledger) -> None:
    tenant, claim = new_tenant(), f"claim-{uuid.uuid4().hex[:8]}"
    events = negotiated_claim(tenant, claim)
    await ledger.publish(events)
    await ledger.wait_for(tenant, claim, len(events))
    metadata = call_metadata(tenant)
    for minutes in range(len(events)):
        moment = BASE_TIME + timedelta(minutes=minutes, seconds=30)
        response = await ledger.stub.GetClaimAsOf(
            ledger_pb2.GetClaimAsOfRequest(claim_id=claim, as_of=mapping.timestamp(moment)),
            metadata=metadata,
        )
        replayed = await ledger.replay(tenant, claim, up_to=mapping.timestamp(moment))
        expected = fold_claim(claim, [mapping.entry_from_message(m) for m in replayed], moment)
        assert response.state == mapping.state_message(expected)
    final = response.state
    assert final.billed_amount_cents == 480000 and final.qpa_cents == 90000
    assert [(o.party, o.amount_cents) for o in final.offers] == [
        ("provider", 360000),
        ("payer", 150000),
    ]
    assert final.agreed and final.agreed_amount_cents == 240000
    assert final.paid_total_cents == 100000 and final.fees_total_cents == 30000
    assert {d.name: d.due_date for d in final.deadlines}["payment_due"] == "2026-12-17"
    assert [u.event_type for u in final.unfolded_events] == ["UnheardOfEventHappened"]

    before_agreement = await ledger.stub.GetClaimAsOf(
        ledger_pb2.GetClaimAsOfRequest(
            claim_id=claim, as_of=mapping.timestamp(BASE_TIME + timedelta(minutes=5, seconds=1))
        ),
        metadata=metadata,
    )
    assert not before_agreement.state.agreed and len(before_agreement.state.offers) == 2


async def test_redelivered_events_are_not_appended_twice(ledger: Ledger) -> None:
    tenant, claim = new_tenant(), f"claim-{uuid.uuid4().hex[:8]}"
    events = negotiated_claim(tenant, claim)[:4]
    await ledger.publish(events)
    await ledger.wait_for(tenant, claim, 4)
    # A relay crash republishes under new message ids, so JetStream's own dedupe cannot help.
    await ledger.publish(events, msg_id_suffix=":again")
    # Each stream is consumed in order: once a marker behind the copies is in, so are they.
    markers = [
        facts(tenant, claim, "DocumentAttached", notification_id=77, service="claims"),
        facts(tenant, claim, "OfferMade", notification_id=78, service="negotiation"),
    ]
    await ledger.publish(markers)
    entries = await ledger.wait_for(tenant, claim, 6)
    assert sorted(e.event_id for e in entries) == sorted(f.event_id for f in events + markers)


async def test_tenants_never_see_each_other(ledger: Ledger) -> None:
    tenant_a, tenant_b, claim = new_tenant(), new_tenant(), "shared-claim-number"
    await ledger.publish(negotiated_claim(tenant_a, claim))
    await ledger.publish(negotiated_claim(tenant_b, claim, start=500)[:3])
    a = await ledger.wait_for(tenant_a, claim, 12)
    b = await ledger.wait_for(tenant_b, claim, 3)
    assert len(a) == 12 and {e.tenant_id for e in a} == {tenant_a}
    assert len(b) == 3 and {e.tenant_id for e in b} == {tenant_b}
    export = await ledger.stub.ExportClaim(
        ledger_pb2.ExportClaimRequest(claim_id=claim), metadata=call_metadata(tenant_b)
    )
    assert tenant_a not in export.bundle_json.decode()
    assert json.loads(export.bundle_json)["entries"].__len__() == 3
    other_event = a[0].event_id
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await ledger.stub.GetInclusionProof(
            ledger_pb2.GetInclusionProofRequest(event_id=other_event),
            metadata=call_metadata(tenant_b),
        )
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND


async def test_only_auditors_may_read_the_trail(ledger: Ledger) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await ledger.stub.VerifyClaim(
            ledger_pb2.VerifyClaimRequest(claim_id="any"),
            metadata=call_metadata(new_tenant(), roles=("negotiator",)),
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_checkpoints_are_signed_and_consistent_and_proofs_verify(ledger: Ledger) -> None:
    tenant, claim = new_tenant(), f"claim-{uuid.uuid4().hex[:8]}"
    events = negotiated_claim(tenant, claim)
    metadata = call_metadata(tenant)
    await ledger.publish(events[:3])
    await ledger.wait_for(tenant, claim, 3)
    key = await ledger.stub.GetPublicKey(ledger_pb2.GetPublicKeyRequest(), metadata=metadata)
    assert key.public_key == ledger.signer.public_key

    async def checkpoint_covering(count: int) -> ledger_pb2.SignedCheckpoint:
        entries = await ledger.replay(tenant, claim)
        response = await ledger.stub.GetCheckpoint(
            ledger_pb2.GetCheckpointRequest(), metadata=metadata
        )
        assert len(entries) >= count and response.checkpoint.tree_size > entries[-1].log_index
        return response.checkpoint

    first: ledger_pb2.SignedCheckpoint = await eventually(partial(checkpoint_covering, 3))
    await ledger.publish(events[3:])
    second: ledger_pb2.SignedCheckpoint = await eventually(
        partial(checkpoint_covering, len(events))
    )
    for signed in (first, second):
        assert mapping.checkpoint_from_message(signed).check(key.public_key) is None

    proof = await ledger.stub.GetConsistencyProof(
        ledger_pb2.GetConsistencyProofRequest(
            first_tree_size=first.tree_size, second_tree_size=second.tree_size
        ),
        metadata=metadata,
    )
    assert verify_consistency(
        first.tree_size, second.tree_size, first.root_hash, second.root_hash, list(proof.hashes)
    )
    assert len(proof.hashes) <= 2 * second.tree_size.bit_length()

    entry = (await ledger.replay(tenant, claim))[-1]
    inclusion = await ledger.stub.GetInclusionProof(
        ledger_pb2.GetInclusionProofRequest(event_id=entry.event_id), metadata=metadata
    )
    assert verify_inclusion(
        inclusion.log_index,
        inclusion.tree_size,
        entry.leaf_hash,
        list(inclusion.hashes),
        inclusion.checkpoint.root_hash,
    )

    with pytest.raises(grpc.aio.AioRpcError) as too_big:
        await ledger.stub.GetConsistencyProof(
            ledger_pb2.GetConsistencyProofRequest(
                first_tree_size=second.tree_size + 10, second_tree_size=second.tree_size
            ),
            metadata=metadata,
        )
    assert too_big.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_auditor_cli_replays_verifies_exports_and_checks_offline(
    ledger: Ledger, tmp_path: pathlib.Path
) -> None:
    tenant, claim = new_tenant(), f"claim-{uuid.uuid4().hex[:8]}"
    events = negotiated_claim(tenant, claim)
    await ledger.publish(events)
    await ledger.wait_for(tenant, claim, len(events))
    target = f"127.0.0.1:{ledger.runtime.port}"
    signing_key = tmp_path / "internal-signing.pem"
    signing_key.write_text(TEST_SIGNING_PEM)
    key = b64(ledger.signer.public_key)
    online = [
        "--target", target, "--tenant", tenant, "--public-key", key,
        "--signing-key", str(signing_key),
    ]

    async def cli(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        code = await auditor_cli.run(list(argv), out)
        return code, out.getvalue()

    code, text = await cli("replay", *online[:4], "--signing-key", "", "--claim", claim)
    assert code == 2 and "UNAUTHENTICATED" in text  # unsigned, straight to the ledger
    code, text = await cli("replay", *online, "--claim", claim)
    assert code == 0 and "OfferMade" in text and "amount=$3,600.00" in text
    code, text = await cli("verify", *online, "--claim", claim, "--wait", "15")
    assert code == 0 and "VERIFIED" in text
    bundle = tmp_path / "bundle.json"
    code, _ = await cli("export", *online, "--claim", claim, "--out", str(bundle))
    assert code == 0
    code, text = await cli("verify-bundle", str(bundle), "--public-key", key)
    assert code == 0 and f"{len(events)} entries" in text, text
    stranger = b64(bytes([0x11]) * 32)
    code, text = await cli("verify-bundle", str(bundle), "--public-key", stranger)
    assert code == 1 and "not by the trusted key" in text

    old = tmp_path / "old.json"
    assert (await cli("checkpoint", *online, "--out", str(old)))[0] == 0
    await ledger.publish([facts(tenant, claim, "OfferMade", notification_id=99)])
    await ledger.wait_for(tenant, claim, len(events) + 1)
    code, text = await cli("consistency", "--old", str(old), *online)
    assert code == 0 and "consistent" in text


async def test_garbage_on_a_stream_is_rejected_and_kept(ledger: Ledger) -> None:
    settings = ledger.runtime.settings
    subject = f"{settings.subject_prefix_for('claims')}.claim.Garbage"
    await ledger.js.publish(
        subject, b"\xff\x00 not a protobuf envelope", headers={"Nats-Msg-Id": uuid.uuid4().hex}
    )
    tenant, claim = new_tenant(), f"claim-{uuid.uuid4().hex[:8]}"
    await ledger.publish(negotiated_claim(tenant, claim)[:1])
    await ledger.wait_for(tenant, claim, 1)
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            f'SELECT subject, reason FROM "{ledger.schema}".rejected_messages WHERE subject = $1',
            subject,
        )
    finally:
        await conn.close()
    assert len(rows) == 1 and rows[0]["reason"]
    dead = await ledger.js.get_last_msg(
        settings.dead_letter_stream, f"{settings.subject_prefix_for('deadletter')}.ledger-audit"
    )
    assert dead.data == b"\xff\x00 not a protobuf envelope"
    assert dead.headers is not None and dead.headers["Oon-Original-Subject"] == subject


async def test_the_demo_replays_and_verifies_a_negotiated_claim(ledger: Ledger) -> None:
    from deploy.local.demo.ledger import audit_claim

    tenant, claim = new_tenant(), f"claim-{uuid.uuid4().hex[:8]}"
    events = negotiated_claim(tenant, claim)
    await ledger.publish(events)
    await ledger.wait_for(tenant, claim, len(events))
    lines: list[str] = []
    assert await audit_claim(ledger.channel, tenant, claim, emit=lines.append)
    assert lines[0].startswith(f"claim {claim}") and len(lines) >= len(events) + 3
    assert any("VERIFIED" in line for line in lines)
    assert any("offline verification PASSED" in line for line in lines)


async def test_the_operator_tool_verifies_an_intact_log(ledger: Ledger) -> None:
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
    assert code == 0 and "log VERIFIED" in out.getvalue(), out.getvalue()
