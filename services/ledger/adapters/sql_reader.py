"""Reads of the audit log: chains, checkpoints, Merkle nodes and proofs (asyncpg)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import asyncpg

from services.ledger.adapters.replay_rows import REPLAY_SELECT, ReplayRow
from services.ledger.adapters.sql_rows import SELECT_ENTRIES, entry_from_row
from services.ledger.domain.checkpoint import Checkpoint, Signature, SignedCheckpoint
from services.ledger.domain.entry import AuditEntry
from services.ledger.domain.merkle import (
    NodeKey,
    assemble,
    consistency_ranges,
    inclusion_ranges,
    node_keys_for,
    perfect_subtrees,
    root_from_nodes,
)


class LogReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        """`pool` connects with the ledger schema on its search_path (see schema.writer_pool)."""
        self.pool = pool

    async def chain_entries(
        self, tenant_id: str, chain: str, up_to: datetime | None = None
    ) -> list[AuditEntry]:
        """A chain in order; with up_to, only events that occurred at or before it."""
        query = (
            SELECT_ENTRIES + " WHERE chain = $1 AND tenant_id = $2"
            " AND ($3::timestamptz IS NULL OR occurred_at <= $3) ORDER BY chain_seq"
        )
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(query, chain, tenant_id, up_to)
        return [entry_from_row(row) for row in rows]

    async def replay_rows(
        self, tenant_id: str, chain: str, up_to: datetime | None = None
    ) -> list[ReplayRow]:
        """chain_entries' rows in the shape ReplayClaim sends (replay_rows.replay_chunk)."""
        query = (
            REPLAY_SELECT + " WHERE chain = $1 AND tenant_id = $2"
            " AND ($3::timestamptz IS NULL OR occurred_at <= $3) ORDER BY chain_seq"
        )
        async with self.pool.acquire() as conn:
            return await conn.fetch(query, chain, tenant_id, up_to)

    async def entry_of_event(self, tenant_id: str, event_id: str) -> AuditEntry | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                SELECT_ENTRIES + " WHERE event_id = $1 AND tenant_id = $2",
                event_id,
                tenant_id,
            )
        return entry_from_row(row) if row else None

    async def tree_size(self) -> int:
        async with self.pool.acquire() as conn:
            size = await conn.fetchval(
                "SELECT coalesce(max(idx) + 1, 0) FROM merkle_nodes WHERE level = 0"
            )
        return int(size)

    async def leaves(self, indexes: Iterable[int]) -> dict[int, bytes]:
        """The stored Merkle leaf at each index (those that exist)."""
        nodes = await self.nodes((0, index) for index in indexes)
        return {index: digest for (_, index), digest in nodes.items()}

    async def accounted_positions(self, start: int, end: int) -> tuple[int, int]:
        """(entries at positions start..end-1, those whose leaf is the stored Merkle leaf)."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT count(*) AS entries, count(*) FILTER ("
                "  WHERE m.hash = sha256('\\x00'::bytea || a.entry_hash)) AS matching "
                "FROM audit_entries a "
                "LEFT JOIN merkle_nodes m ON m.level = 0 AND m.idx = a.log_index "
                "WHERE a.log_index >= $1 AND a.log_index < $2",
                start,
                end,
            )
        return int(row["entries"]), int(row["matching"])

    async def integrity_findings(self, chain: str) -> list[tuple[datetime, str]]:
        """What the appender found in this chain that it had not written (head_guard.py)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT found_at, detail FROM integrity_findings WHERE chain = $1 "
                "ORDER BY found_at",
                chain,
            )
        return [(row["found_at"], row["detail"]) for row in rows]

    async def tenant_integrity_findings(self, tenant_id: str) -> list[tuple[str, datetime, str]]:
        """(chain, when, what) the appender found in any chain of the tenant."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT chain, found_at, detail FROM integrity_findings "
                "WHERE split_part(chain, '/', 2) = $1 ORDER BY found_at",
                quote(tenant_id, safe=""),
            )
        return [(row["chain"], row["found_at"], row["detail"]) for row in rows]

    async def tenant_batches(
        self, tenant_id: str, size: int, limit: int
    ) -> AsyncIterator[ProvenBatch]:
        """Every entry of the tenant, chain by chain in chain order, in batches of one chain
        (at most `limit` entries), each entry with its inclusion proof in the tree of `size`
        or, beyond it, the leaf stored at its index.

        One connection throughout (a server-side cursor, and the proofs read on the same
        connection between fetches), so concurrent replays cannot starve the pool. A scan of
        the log: the table is keyed by position and chain, not by tenant.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            cursor = conn.cursor(
                SELECT_ENTRIES + " WHERE tenant_id = $1 ORDER BY chain, chain_seq",
                tenant_id,
                prefetch=limit,
            )
            batch: list[AuditEntry] = []
            async for row in cursor:
                entry = entry_from_row(row)
                if batch and (entry.chain != batch[0].chain or len(batch) >= limit):
                    yield await _proven(conn, batch, size, entry.chain != batch[0].chain)
                    batch = []
                batch.append(entry)
            if batch:
                yield await _proven(conn, batch, size, True)

    async def missing_log_indexes(self, size: int, limit: int = 10) -> list[int]:
        """Indexes below size with no entry: a log with holes had rows deleted."""
        async with self.pool.acquire() as conn:
            count = await conn.fetchval(
                "SELECT count(*) FROM audit_entries WHERE log_index < $1", size
            )
            if count == size:
                return []
            rows = await conn.fetch(
                "SELECT i FROM generate_series(0, $1 - 1) AS i WHERE NOT EXISTS "
                "(SELECT 1 FROM audit_entries WHERE log_index = i) ORDER BY i LIMIT $2",
                size,
                limit,
            )
        return [row["i"] for row in rows]

    async def nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        async with self.pool.acquire() as conn:
            return await _nodes(conn, keys)

    async def root(self, size: int) -> bytes:
        return root_from_nodes(size, await self.nodes(perfect_subtrees(0, size)))

    async def inclusion_proofs(self, indexes: Iterable[int], size: int) -> dict[int, list[bytes]]:
        """Proofs for many leaves with one query (a claim's entries share most nodes)."""
        plans = {index: inclusion_ranges(index, size) for index in indexes}
        nodes = await self.nodes(node_keys_for(r for plan in plans.values() for r in plan))
        return {index: assemble(plan, nodes) for index, plan in plans.items()}

    async def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        ranges = consistency_ranges(old_size, new_size)
        return assemble(ranges, await self.nodes(node_keys_for(ranges)))

    async def latest_checkpoint(self) -> SignedCheckpoint | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM checkpoints ORDER BY tree_size DESC LIMIT 1")
        return _checkpoint(row)

    async def checkpoint_of_size(self, size: int) -> SignedCheckpoint | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM checkpoints WHERE tree_size = $1", size)
        return _checkpoint(row)

    async def store_checkpoint(self, signed: SignedCheckpoint) -> SignedCheckpoint:
        """Insert unless one of that size exists; return the one that is stored."""
        c, sig = signed.checkpoint, signed.signature
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO checkpoints VALUES ($1, $2, $3, $4, $5, $6, $7) "
                "ON CONFLICT (tree_size) DO NOTHING",
                c.tree_size,
                c.origin,
                c.root_hash,
                c.issued_at,
                sig.key_id,
                sig.public_key,
                sig.value,
            )
        stored = await self.checkpoint_of_size(c.tree_size)
        return stored or signed

    async def checkpoints(self) -> list[SignedCheckpoint]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("SELECT * FROM checkpoints ORDER BY tree_size")
        return [c for c in map(_checkpoint, rows) if c is not None]

    async def whole_log(self, batch: int = 5000) -> AsyncIterator[AuditEntry]:
        """Every entry in log order, streamed with a server-side cursor."""
        async with self.pool.acquire() as conn, conn.transaction():
            cursor = conn.cursor(
                SELECT_ENTRIES + " ORDER BY log_index",
                prefetch=batch,
            )
            async for row in cursor:
                yield entry_from_row(row)


@dataclass(frozen=True)
class ProvenBatch:
    """Consecutive entries of one chain with what proves them (see tenant_batches)."""

    entries: list[AuditEntry]
    proofs: dict[int, list[bytes]]
    stored_leaves: dict[int, bytes]
    ends_chain: bool


async def _nodes(conn: asyncpg.Connection, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
    wanted = list(keys)
    if not wanted:
        return {}
    rows = await conn.fetch(
        "SELECT level, idx, hash FROM merkle_nodes "
        "WHERE (level, idx) IN (SELECT * FROM unnest($1::smallint[], $2::bigint[]))",
        [k[0] for k in wanted],
        [k[1] for k in wanted],
    )
    return {(r["level"], r["idx"]): bytes(r["hash"]) for r in rows}


async def _proven(
    conn: asyncpg.Connection, entries: list[AuditEntry], size: int, ends_chain: bool
) -> ProvenBatch:
    plans = {e.log_index: inclusion_ranges(e.log_index, size) for e in entries
             if 0 <= e.log_index < size}
    beyond = [(0, e.log_index) for e in entries if e.log_index >= size]
    nodes = await _nodes(conn, [*node_keys_for(r for p in plans.values() for r in p), *beyond])
    return ProvenBatch(
        entries,
        {index: assemble(plan, nodes) for index, plan in plans.items()},
        {index: nodes[(0, index)] for _, index in beyond if (0, index) in nodes},
        ends_chain,
    )


def _checkpoint(row: asyncpg.Record | None) -> SignedCheckpoint | None:
    if row is None:
        return None
    checkpoint = Checkpoint(
        row["origin"], row["tree_size"], bytes(row["root_hash"]), row["issued_at"]
    )
    signature = Signature(row["key_id"], bytes(row["public_key"]), bytes(row["signature"]))
    return SignedCheckpoint(checkpoint, signature)
