"""The append-only asyncpg store against real PostgreSQL: placement, dedupe, proofs, refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from services.common.faults import is_fault
from services.ledger.adapters import mapping, replay_rows
from services.ledger.adapters.appender import Appender
from services.ledger.adapters.sql_schema import writer_role
from services.ledger.domain.chain_verification import BreakKind, leaf_of, verify_chain
from services.ledger.domain.merkle import verify_consistency, verify_inclusion
from services.ledger.tests.conftest import LedgerStore
from services.ledger.tests.factories import claim_history, facts
from services.ledger.tests.memory_log import MemoryLog
from tests.support.plugin import InfraUrls

pytestmark = pytest.mark.asyncio(loop_scope="session")


def mixed_events(tenant: str = "tenant-a") -> list:
    one = claim_history(tenant, "claim-1", 6)
    two = claim_history(tenant, "claim-2", 3, start=100)
    fee = facts(
        tenant,
        "",
        "FeeScheduleVersionPublished",
        aggregate_type="FeeSchedule",
        aggregate_id="fs-1",
        service="fees",
        notification_id=900,
    )
    return [one[0], two[0], one[1], fee, one[2], two[1], *one[3:], two[2]]


async def test_batches_are_placed_like_the_reference_log(store: LedgerStore) -> None:
    events = mixed_events()
    reference = MemoryLog()
    reference.append(events)
    first = await store.appender.append(events[:5])
    second = await store.appender.append(events[5:])
    assert len(first.appended) + len(second.appended) == len(events)
    stored = await store.reader.chain_entries("tenant-a", events[0].chain)
    assert stored == reference.chain(events[0].chain)
    assert await store.reader.tree_size() == len(events)
    assert await store.reader.root(len(events)) == reference.tree.root()


async def test_redelivered_events_are_not_appended_twice(store: LedgerStore) -> None:
    events = mixed_events()
    await store.appender.append(events[:4])
    again = await store.appender.append([*events[:4], events[3], *events[4:6]])
    assert again.duplicates == 5 and len(again.appended) == 2
    async with store.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM audit_entries") == 6
        assert await conn.fetchval("SELECT count(DISTINCT event_id) FROM audit_entries") == 6


async def test_a_restarted_appender_continues_every_chain(store: LedgerStore) -> None:
    events = mixed_events()
    reference = MemoryLog()
    reference.append(events)
    await store.appender.append(events[:7])
    await store.appender.close()
    successor = Appender(store.pool, store.schema)
    await successor.start()
    try:
        await successor.append(events[7:])
    finally:
        await successor.close()
        store.appender = Appender(store.pool, store.schema)
        await store.appender.start()
    for chain in {e.chain for e in events}:
        entries = await store.reader.chain_entries("tenant-a", chain)
        assert verify_chain(chain, entries).ok
        assert entries == reference.chain(chain)
    assert await store.reader.root(len(events)) == reference.tree.root()


async def test_proofs_from_the_store_verify(store: LedgerStore) -> None:
    events = [f for i in range(5) for f in claim_history("tenant-a", f"c{i}", 4, start=10 * i)]
    await store.appender.append(events[:9])
    old_size, old_root = 9, await store.reader.root(9)
    await store.appender.append(events[9:])
    size, root = len(events), await store.reader.root(len(events))
    entries = await store.reader.chain_entries("tenant-a", events[0].chain)
    proofs = await store.reader.inclusion_proofs([e.log_index for e in entries], size)
    for entry in entries:
        assert verify_inclusion(
            entry.log_index, size, leaf_of(entry), proofs[entry.log_index], root
        )
    proof = await store.reader.consistency_proof(old_size, size)
    assert verify_consistency(old_size, size, old_root, root, proof)


async def test_the_writer_role_can_only_insert_and_select(store: LedgerStore) -> None:
    await store.appender.append(mixed_events()[:2])
    async with store.pool.acquire() as conn:
        assert await conn.fetchval("SELECT current_user") == f"{store.schema}_writer"
        for statement in (
            "UPDATE audit_entries SET actor = 'mallory'",
            "DELETE FROM audit_entries",
            "TRUNCATE merkle_nodes",
            "UPDATE checkpoints SET tree_size = 0",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)


async def test_triggers_refuse_update_and_delete_even_for_the_owner(store: LedgerStore) -> None:
    await store.appender.append(mixed_events()[:2])
    async with store.admin.acquire() as conn:
        for statement in (
            f"UPDATE \"{store.schema}\".audit_entries SET actor = 'mallory'",
            f'DELETE FROM "{store.schema}".merkle_nodes',
            f'TRUNCATE "{store.schema}".audit_entries',
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)


async def test_a_row_changed_behind_the_back_is_named(store: LedgerStore) -> None:
    events = mixed_events()
    await store.appender.append(events)
    victim = events[2]  # claim-1, entry #2
    async with store.admin.acquire() as conn, conn.transaction():
        # Only a superuser bypassing the triggers can do this: that is the threat modelled.
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            f'UPDATE "{store.schema}".audit_entries SET payload = $1 WHERE event_id = $2',
            b'{"amount_cents":1}',
            victim.event_id,
        )
    entries = await store.reader.chain_entries("tenant-a", victim.chain)
    verdict = verify_chain(victim.chain, entries)
    assert [(b.kind, b.chain_seq, b.event_id) for b in verdict.breaks] == [
        (BreakKind.CONTENT_ALTERED, 2, victim.event_id)
    ]


async def test_the_whole_log_verifies_against_its_checkpoints(store: LedgerStore) -> None:
    from datetime import UTC, datetime

    from services.ledger.adapters.checkpointer import Checkpointer
    from services.ledger.domain.log_verification import verify_stored_log
    from services.ledger.domain.signing import Signer

    signer = Signer.from_seed(bytes(32))
    checkpointer = Checkpointer(store.reader, signer, "test", lambda: datetime.now(UTC))
    events = mixed_events()
    await store.appender.append(events[:5])
    await checkpointer.checkpoint()
    await store.appender.append(events[5:])
    await checkpointer.checkpoint()
    verifier = await verify_stored_log(store.reader, signer.public_key)
    assert verifier.ok and verifier.checkpoints_verified == 2

    async with store.admin.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            f'UPDATE "{store.schema}".audit_entries SET actor = $1 WHERE log_index = 3', "mallory"
        )
    verifier = await verify_stored_log(store.reader, signer.public_key)
    assert not verifier.ok
    assert verifier.problems[0].startswith("log index 3 (event ")
    assert "content does not match its hash" in verifier.problems[0]
    other_key = Signer.from_seed(bytes(range(32))).public_key
    assert any(
        "not by the trusted key" in p
        for p in (await verify_stored_log(store.reader, other_key)).problems
    )


async def test_the_signer_refuses_a_tree_that_rewrote_signed_history(store: LedgerStore) -> None:
    from datetime import UTC, datetime

    from services.common.errors import DataLoss
    from services.ledger.adapters.checkpointer import Checkpointer
    from services.ledger.domain.signing import Signer

    checkpointer = Checkpointer(
        store.reader, Signer.from_seed(bytes(32)), "test", lambda: datetime.now(UTC)
    )
    events = mixed_events()
    await store.appender.append(events[:6])
    first = await checkpointer.checkpoint()
    assert first is not None and first.checkpoint.tree_size == 6
    async with store.admin.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            f'UPDATE "{store.schema}".merkle_nodes SET hash = $1 WHERE level = 2 AND idx = 0',
            bytes(32),
        )
    await store.appender.append(events[6:])
    with pytest.raises(DataLoss, match="does not extend the signed checkpoint"):
        await checkpointer.checkpoint()
    latest = await store.reader.latest_checkpoint()
    assert latest is not None and latest.checkpoint.tree_size == 6


async def test_an_append_whose_reload_failed_too_is_retried_once_the_database_answers(
    store: LedgerStore, infra_urls: InfraUrls
) -> None:
    """Found by the fault suite (tests/faults): PostgreSQL restarting failed an append and then
    the reload after it, and from then on every append raised "Appender.start() was not called"
    until the ledger was restarted. A lock held beyond `lock_timeout` stands in for the outage
    (the append and the reload both fail with a fault, 55P03)."""
    events = mixed_events()
    reference = MemoryLog()
    reference.append(events)
    await store.appender.close()  # the lease is ours now
    pool = await asyncpg.create_pool(
        infra_urls.database_url, min_size=1, max_size=2,
        server_settings={"role": writer_role(store.schema), "search_path": store.schema,
                         "lock_timeout": "200ms"})
    appender = Appender(pool, store.schema)
    await appender.start()
    try:
        await appender.append(events[:3])
        async with store.admin.acquire() as conn, conn.transaction():
            await conn.execute(f'LOCK TABLE "{store.schema}".audit_entries, '
                               f'"{store.schema}".merkle_nodes IN ACCESS EXCLUSIVE MODE')
            with pytest.raises(asyncpg.LockNotAvailableError) as away:
                await appender.append(events[3:6])
            assert is_fault(away.value)
        result = await appender.append(events[3:])
        assert len(result.appended) == len(events) - 3
    finally:
        await appender.close()
        await pool.close()
        store.appender = Appender(store.pool, store.schema)
        await store.appender.start()
    assert await store.reader.root(len(events)) == reference.tree.root()


async def test_replay_rows_build_the_messages_the_entries_give(store: LedgerStore) -> None:
    """ReplayClaim's rows (timestamps and leaf hash derived in SQL) against the domain path."""
    moments = [datetime(1969, 12, 31, 23, 59, 59, 250_001, tzinfo=UTC),
               datetime(2026, 3, 1, 12, 0, 0, 999_999, tzinfo=UTC),
               datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC)]
    events = [facts("tenant-a", "claim-r", notification_id=i + 1, version=i + 1, occurred_at=m)
              for i, m in enumerate(moments)]
    await store.appender.append(events)
    chain = events[0].chain
    entries = await store.reader.chain_entries("tenant-a", chain)
    rows = await store.reader.replay_rows("tenant-a", chain)
    built = list(replay_rows.replay_chunk(rows).entries)
    assert built == [mapping.entry_message(e) for e in entries] and len(built) == 3
    assert built[0].occurred_at.seconds == -1 and built[0].occurred_at.nanos == 250_001_000
    cut = await store.reader.replay_rows("tenant-a", chain, up_to=moments[1])
    assert [r[2] for r in cut] == [1, 2]
    assert await store.reader.replay_rows("tenant-b", chain) == []
