"""A restarted ledger continues every chain and never appends an event twice."""

from __future__ import annotations

import uuid

import pytest

from oonledger.ledger.v1 import ledger_pb2
from services.ledger.adapters import mapping
from services.ledger.domain.chain_verification import verify_chain
from services.ledger.domain.entry import claim_chain
from services.ledger.tests.factories import negotiated_claim
from services.ledger.tests.ledger_harness import start_ledger
from tests.support.plugin import ServiceRunner, call_metadata

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_restart_continues_chains_exactly_once(
    service_runner: ServiceRunner, tmp_path_factory: pytest.TempPathFactory, namespace: str
) -> None:
    keys = tmp_path_factory.mktemp("restart-keys")
    own = f"{namespace}rs"
    tenant, claim = f"tenant-{uuid.uuid4().hex[:8]}", f"claim-{uuid.uuid4().hex[:8]}"
    events = negotiated_claim(tenant, claim)
    seed = uuid.uuid4().bytes * 2
    first = await start_ledger(service_runner, keys, seed, namespace=own)
    await first.publish(events[:6])
    await first.wait_for(tenant, claim, 6)
    await first.close(service_runner)

    second = await start_ledger(service_runner, keys, seed, namespace=own)
    try:
        # The stream still holds the first six: they are redelivered to nobody (acked) and,
        # republished under new message ids, deduplicated by event id.
        await second.publish(events[:6], msg_id_suffix=":after-restart")
        await second.publish(events[6:])
        entries = await second.wait_for(tenant, claim, len(events))
        assert sorted(e.event_id for e in entries) == sorted(f.event_id for f in events)
        assert [e.chain_seq for e in entries] == list(range(1, len(events) + 1))
        domain = [mapping.entry_from_message(m) for m in entries]
        assert verify_chain(claim_chain(tenant, claim), domain).ok
        result = await second.stub.VerifyClaim(
            ledger_pb2.VerifyClaimRequest(claim_id=claim), metadata=call_metadata(tenant)
        )
        assert result.ok and result.entries_checked == len(events)
    finally:
        await second.close(service_runner)


async def test_after_a_key_rotation_old_checkpoints_need_the_retired_key(
    service_runner: ServiceRunner, tmp_path_factory: pytest.TempPathFactory, namespace: str
) -> None:
    keys = tmp_path_factory.mktemp("rotation-keys")
    own = f"{namespace}rk"
    tenant, claim = f"tenant-{uuid.uuid4().hex[:8]}", f"claim-{uuid.uuid4().hex[:8]}"
    events = negotiated_claim(tenant, claim)[:3]
    old = await start_ledger(service_runner, keys, namespace=own)
    await old.publish(events)
    await old.wait_for(tenant, claim, 3)
    await old.stub.ExportClaim(  # forces a checkpoint signed with the old key
        ledger_pb2.ExportClaimRequest(claim_id=claim), metadata=call_metadata(tenant)
    )
    await old.close(service_runner)

    request = ledger_pb2.VerifyClaimRequest(claim_id=claim)
    rotated = await start_ledger(service_runner, keys, namespace=own)
    try:
        result = await rotated.stub.VerifyClaim(request, metadata=call_metadata(tenant))
        assert not result.ok and not result.breaks
        assert any("does not trust" in p for p in result.log_problems)
    finally:
        await rotated.close(service_runner)

    trusting = await start_ledger(
        service_runner,
        keys,
        namespace=own,
        extra_env={"LEDGER_RETIRED_PUBLIC_KEYS": old.signer.public_key.hex()},
    )
    try:
        result = await trusting.stub.VerifyClaim(request, metadata=call_metadata(tenant))
        assert result.ok, result
    finally:
        await trusting.close(service_runner)
