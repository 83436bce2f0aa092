"""A row a database superuser appends with a correctly computed hash is found, and the appender
never extends a chain through it (issue 14). This module runs its own ledger: it forges rows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from oonledger.ledger.v1 import ledger_pb2
from services.ledger.adapters import mapping
from services.ledger.adapters.sql_rows import ENTRY_COLUMNS, entry_record
from services.ledger.domain.entry import place
from services.ledger.tests.factories import facts, negotiated_claim
from services.ledger.tests.ledger_harness import Ledger, start_ledger
from services.ledger.tests.test_tamper import behind_the_back, signed_claim, verify
from tests.support.plugin import ServiceRunner, call_metadata, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def ledger(
    service_runner: ServiceRunner, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Ledger]:
    """A ledger of its own per test: a forgery at the end of the log halts the whole log."""
    started = await start_ledger(
        service_runner,
        tmp_path_factory.mktemp("forgery-keys"),
        namespace="fg" + uuid.uuid4().hex[:10],
    )
    yield started
    await started.close(service_runner)


async def forge_after_head(
    ledger: Ledger, tenant: str, claim: str, entries: list[ledger_pb2.AuditEntry], log_index: int
) -> str:
    """Append a fake payer offer to the claim's chain, hashed exactly as the ledger would."""
    head = mapping.entry_from_message(entries[-1])
    fake = facts(
        tenant,
        claim,
        "PayerResponseReceived",
        notification_id=90_000 + len(entries),
        payload={"amount_cents": 1, "party": "payer"},
        aggregate_id=f"neg-{claim}",
    )
    forged = place(fake, log_index, head.chain_seq + 1, head.entry_hash)
    columns = ", ".join(ENTRY_COLUMNS)
    params = ", ".join(f"${i + 1}" for i in range(len(ENTRY_COLUMNS)))
    await behind_the_back(
        ledger,
        (f"INSERT INTO audit_entries ({columns}) VALUES ({params})", *entry_record(forged)),
    )
    return fake.event_id


async def log_size(ledger: Ledger, tenant: str) -> int:
    response = await ledger.stub.GetCheckpoint(
        ledger_pb2.GetCheckpointRequest(), metadata=call_metadata(tenant)
    )
    return int(response.checkpoint.tree_size)


async def appender_health(ledger: Ledger) -> int:
    stub = health_pb2_grpc.HealthStub(ledger.channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service="oonledger.ledger.appender"))
    return int(response.status)


@pytest.mark.parametrize("where", ["at_the_end", "far_beyond_the_log"])
async def test_a_forged_head_is_named_and_never_extended(ledger: Ledger, where: str) -> None:
    tenant, claim, entries = await signed_claim(ledger)
    size = await log_size(ledger, tenant)
    position = size if where == "at_the_end" else 9_000_000
    forged_id = await forge_after_head(ledger, tenant, claim, entries, position)

    # The claim's next real event arrives, and so does another claim's.
    real = facts(tenant, claim, "OfferMade", notification_id=80_000, aggregate_id=f"neg-{claim}")
    other_claim = f"claim-{uuid.uuid4().hex[:8]}"
    other = negotiated_claim(tenant, other_claim, start=70_000)
    await ledger.publish([real, *other])

    if where == "far_beyond_the_log":
        # Only the forged chain is halted: other claims keep flowing.
        await ledger.wait_for(tenant, other_claim, len(other))
    else:
        # The forged row holds the next log position: nothing can be appended without a gap,
        # so the whole log waits (its events are never acknowledged, never dropped).
        with pytest.raises(AssertionError):
            await ledger.wait_for(tenant, other_claim, len(other), timeout=3)
    replayed = await ledger.replay(tenant, claim)
    assert real.event_id not in {e.event_id for e in replayed}, "chained onto the forged head"

    result = await verify(ledger, tenant, claim)
    assert not result.ok
    assert result.status == ledger_pb2.VERIFICATION_STATUS_BROKEN
    forged_breaks = [b for b in result.breaks if b.event_id == forged_id]
    assert forged_breaks, result
    assert forged_breaks[0].kind == ledger_pb2.BREAK_KIND_FORGED
    assert str(position) in forged_breaks[0].detail
    assert any("appender" in problem and "halted" in problem for problem in result.log_problems)

    # ... and the alarm is up.
    async def alarmed() -> int:
        status = await appender_health(ledger)
        return status if status == health_pb2.HealthCheckResponse.NOT_SERVING else 0

    await eventually(alarmed, timeout=20)


async def test_an_intact_claim_is_verified_only_when_every_entry_is_proven(
    ledger: Ledger,
) -> None:
    tenant, claim, _ = await signed_claim(ledger)
    result = await verify(ledger, tenant, claim)
    assert result.status == ledger_pb2.VERIFICATION_STATUS_VERIFIED
    assert result.entries_pending == 0


async def test_entries_not_yet_checkpointed_are_pending_not_verified(
    service_runner: ServiceRunner, tmp_path_factory: pytest.TempPathFactory, namespace: str
) -> None:
    # A ledger that never signs on its own: what it appends stays pending.
    slow = await start_ledger(
        service_runner,
        tmp_path_factory.mktemp("pending-keys"),
        namespace=f"{namespace}pd",
        extra_env={"LEDGER_CHECKPOINT_SECONDS": "3600"},
    )
    try:
        tenant, claim = f"tenant-{uuid.uuid4().hex[:8]}", f"claim-{uuid.uuid4().hex[:8]}"
        events = negotiated_claim(tenant, claim)
        await slow.publish(events)
        await slow.wait_for(tenant, claim, len(events))
        result = await verify(slow, tenant, claim)
        assert result.ok  # nothing is broken ...
        assert result.status == ledger_pb2.VERIFICATION_STATUS_PENDING  # ... but not proven
        assert result.entries_pending == len(events)
    finally:
        await slow.close(service_runner)


async def test_health_is_serving_when_nothing_was_forged(ledger: Ledger) -> None:
    tenant, claim = f"tenant-{uuid.uuid4().hex[:8]}", f"claim-{uuid.uuid4().hex[:8]}"
    events = negotiated_claim(tenant, claim)
    await ledger.publish(events)
    await ledger.wait_for(tenant, claim, len(events))
    assert await appender_health(ledger) == health_pb2.HealthCheckResponse.SERVING
