"""The single writer of the audit log: dedupes, places and stores a batch in one transaction.

Exactly one appender runs per schema (a PostgreSQL advisory lock held for its lifetime), so
log indexes, chain sequences and the Merkle frontier can be kept in memory between batches.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass

import asyncpg

from services.ledger.entry import AuditEntry, EventFacts
from services.ledger.log_state import ChainHead, LogState
from services.ledger.merkle import Frontier, perfect_subtrees
from services.ledger.rows import ENTRY_COLUMNS, entry_record

log = logging.getLogger(__name__)


class LruHeads(MutableMapping[str, ChainHead]):
    """Chain heads of recently active claims; a miss is reloaded from the table."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, ChainHead] = OrderedDict()

    def __getitem__(self, chain: str) -> ChainHead:
        value = self._items[chain]
        self._items.move_to_end(chain)
        return value

    def __setitem__(self, chain: str, head: ChainHead) -> None:
        self._items[chain] = head
        self._items.move_to_end(chain)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __delitem__(self, chain: str) -> None:
        del self._items[chain]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class AppendResult:
    appended: list[AuditEntry]
    duplicates: int


class Appender:
    def __init__(self, pool: asyncpg.Pool, schema: str, head_cache: int = 100_000) -> None:
        self.pool = pool
        self.schema = schema
        self.head_cache = head_cache
        self.state: LogState | None = None
        self._lease: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    async def start(self, poll: float = 0.5) -> None:
        """Take the writer lease (waiting while another replica holds it), then load state.

        Polls pg_try_advisory_lock rather than blocking in pg_advisory_lock: a cancelled
        shutdown then never leaves a lock wait running on the server.
        """
        conn = await self.pool.acquire()
        try:
            while True:
                taken = await conn.fetchval(
                    "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                    f"{self.schema}:appender",
                )
                if taken:
                    break
                await asyncio.sleep(poll)  # another replica holds the lease; ask again
        except BaseException:
            await self.pool.release(conn)
            raise
        self._lease = conn
        await self._load()

    async def close(self) -> None:
        lease, self._lease = self._lease, None
        if lease is None:
            return
        try:
            await lease.execute("SELECT pg_advisory_unlock_all()")
        finally:
            # Released even if the unlock failed: closing the connection drops the lock anyway.
            await self.pool.release(lease, timeout=5)

    async def _load(self) -> None:
        async with self.pool.acquire() as conn:
            size = await conn.fetchval(
                "SELECT coalesce(max(idx) + 1, 0) FROM merkle_nodes WHERE level = 0"
            )
            keys = perfect_subtrees(0, size)
            rows = await conn.fetch(
                "SELECT level, idx, hash FROM merkle_nodes "
                "WHERE (level, idx) IN (SELECT * FROM unnest($1::smallint[], $2::bigint[]))",
                [k[0] for k in keys],
                [k[1] for k in keys],
            )
        nodes = {(r["level"], r["idx"]): bytes(r["hash"]) for r in rows}
        self.state = LogState(Frontier.load(size, nodes.__getitem__), LruHeads(self.head_cache))

    @property
    def size(self) -> int:
        return self.state.size if self.state else 0

    async def append(self, batch: Sequence[EventFacts]) -> AppendResult:
        async with self._lock:
            if self.state is None:
                raise RuntimeError("Appender.start() was not called")
            try:
                return await self._append(self.state, batch)
            except BaseException:
                # Memory may be ahead of what committed: rebuild it from the table.
                self.state = None
                await self._load()
                raise

    async def _append(self, state: LogState, batch: Sequence[EventFacts]) -> AppendResult:
        unique: dict[str, EventFacts] = {}
        for facts in batch:
            unique.setdefault(facts.event_id, facts)
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetch(
                "SELECT event_id FROM audit_entries WHERE event_id = ANY($1::text[])",
                list(unique),
            )
            for row in existing:
                del unique[row["event_id"]]
            fresh = list(unique.values())
            if not fresh:
                return AppendResult([], len(batch))
            unknown = sorted({f.chain for f in fresh if f.chain not in state.heads})
            if unknown:
                heads = await conn.fetch(
                    "SELECT DISTINCT ON (chain) chain, chain_seq, entry_hash "
                    "FROM audit_entries WHERE chain = ANY($1::text[]) "
                    "ORDER BY chain, chain_seq DESC",
                    unknown,
                )
                for row in heads:
                    state.heads[row["chain"]] = (row["chain_seq"], bytes(row["entry_hash"]))
            placement = state.place_all(fresh)
            await conn.copy_records_to_table(
                "audit_entries",
                columns=ENTRY_COLUMNS,
                records=[entry_record(e) for e in placement.entries],
            )
            await conn.copy_records_to_table(
                "merkle_nodes",
                columns=("level", "idx", "hash"),
                records=placement.nodes,
            )
        return AppendResult(placement.entries, len(batch) - len(fresh))
