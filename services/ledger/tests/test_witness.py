"""Checkpoints are witnessed where a database superuser cannot rewrite them, and the
checkpointer vouches only for what it can check (issue 14). Each test runs its own ledger."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import nats.js.errors
import pytest
import pytest_asyncio

from oonledger.ledger.v1 import ledger_pb2
from services.ledger.adapters.witness import WITNESS
from services.ledger.tests.factories import negotiated_claim
from services.ledger.tests.ledger_harness import Ledger, start_ledger
from services.ledger.tests.test_tamper import behind_the_back, signed_claim, verify
from tests.support.plugin import ServiceRunner, call_metadata

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _start(
    runner: ServiceRunner, factory: pytest.TempPathFactory, **env: str
) -> Ledger:
    return await start_ledger(
        runner, factory.mktemp("witness-keys"), namespace="wt" + uuid.uuid4().hex[:10],
        extra_env=env,
    )


@pytest_asyncio.fixture(loop_scope="session")
async def ledger(
    service_runner: ServiceRunner, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Ledger]:
    started = await _start(service_runner, tmp_path_factory)
    yield started
    await started.close(service_runner)


async def witnessed(ledger: Ledger, tenant: str) -> list[ledger_pb2.SignedCheckpoint]:
    response = await ledger.stub.ListWitnessedCheckpoints(
        ledger_pb2.ListWitnessedCheckpointsRequest(), metadata=call_metadata(tenant)
    )
    return list(response.checkpoints)


async def latest_checkpoint(ledger: Ledger, tenant: str) -> ledger_pb2.SignedCheckpoint:
    response = await ledger.stub.GetCheckpoint(
        ledger_pb2.GetCheckpointRequest(), metadata=call_metadata(tenant)
    )
    return response.checkpoint


async def test_every_signed_checkpoint_is_witnessed_outside_the_database(ledger: Ledger) -> None:
    tenant, _, _ = await signed_claim(ledger)
    latest = await latest_checkpoint(ledger, tenant)
    history = await witnessed(ledger, tenant)
    assert history and history[-1].tree_size == latest.tree_size
    assert history[-1].root_hash == latest.root_hash
    assert history[-1].signature == latest.signature
    assert [c.tree_size for c in history] == sorted(c.tree_size for c in history)

    # Nobody can take a witnessed checkpoint back, not even through NATS's own API.
    stream = ledger.runtime.settings.stream_for(WITNESS)
    with pytest.raises(nats.js.errors.Error):
        await ledger.js.purge_stream(stream)
    info = await ledger.js.stream_info(stream)
    with pytest.raises(nats.js.errors.Error):
        await ledger.js.delete_msg(stream, info.state.last_seq)


async def test_a_replaced_checkpoint_is_found_and_not_signed_over(ledger: Ledger) -> None:
    tenant, claim, _ = await signed_claim(ledger)
    latest = await latest_checkpoint(ledger, tenant)
    await behind_the_back(
        ledger,
        (
            "UPDATE checkpoints SET root_hash = $1 WHERE tree_size = $2",
            bytes(32),
            latest.tree_size,
        ),
    )
    result = await verify(ledger, tenant, claim)
    assert result.status == ledger_pb2.VERIFICATION_STATUS_BROKEN
    assert any("checkpoint was replaced" in p for p in result.log_problems), result.log_problems
    await ledger.publish(negotiated_claim(tenant, f"claim-{uuid.uuid4().hex[:8]}", start=500))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await ledger.stub.ExportClaim(
            ledger_pb2.ExportClaimRequest(claim_id=claim), metadata=call_metadata(tenant)
        )
    assert refused.value.code() == grpc.StatusCode.DATA_LOSS
    assert "replaced" in (refused.value.details() or "")


async def test_a_log_rolled_back_to_an_earlier_backup_is_found(ledger: Ledger) -> None:
    tenant, claim, entries = await signed_claim(ledger)
    keep = entries[3].log_index + 1  # "restore" a backup taken after the 4th entry
    await behind_the_back(
        ledger,
        ("DELETE FROM audit_entries WHERE log_index >= $1", keep),
        ("DELETE FROM merkle_nodes WHERE idx * (1::bigint << level) >= $1", keep),
        ("DELETE FROM checkpoints WHERE tree_size > $1", keep),
    )
    result = await verify(ledger, tenant, claim)
    assert result.status == ledger_pb2.VERIFICATION_STATUS_BROKEN
    assert any(
        f"but the log has only {keep} entries: the log was rolled back" in p
        for p in result.log_problems
    ), result.log_problems


async def test_the_checkpointer_refuses_to_sign_over_a_gap(
    service_runner: ServiceRunner, tmp_path_factory: pytest.TempPathFactory
) -> None:
    unsigned = await _start(service_runner, tmp_path_factory, LEDGER_CHECKPOINT_SECONDS="3600")
    try:
        tenant, claim = f"tenant-{uuid.uuid4().hex[:8]}", f"claim-{uuid.uuid4().hex[:8]}"
        events = negotiated_claim(tenant, claim)
        await unsigned.publish(events)
        entries = await unsigned.wait_for(tenant, claim, len(events))
        gone = entries[2]
        await behind_the_back(
            unsigned, ("DELETE FROM audit_entries WHERE event_id = $1", gone.event_id)
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await latest_checkpoint(unsigned, tenant)
        assert refused.value.code() == grpc.StatusCode.DATA_LOSS
        assert "1 without an entry" in (refused.value.details() or "")
    finally:
        await unsigned.close(service_runner)
