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

from services.common.health import Part
from services.ledger.adapters.sql_rows import ENTRY_COLUMNS, entry_from_row, entry_record
from services.ledger.domain.appending import (
    ChainTip,
    Forgery,
    LogState,
    beyond_the_log,
    check_reloaded_head,
    check_remembered_head,
)
from services.ledger.domain.entry import AuditEntry, EventFacts
from services.ledger.domain.merkle import Frontier, perfect_subtrees

log = logging.getLogger(__name__)


class LruHeads(MutableMapping[str, ChainTip]):
    """Chain heads of recently active claims; a miss is reloaded from the table."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, ChainTip] = OrderedDict()

    def __getitem__(self, chain: str) -> ChainTip:
        value = self._items[chain]
        self._items.move_to_end(chain)
        return value

    def __setitem__(self, chain: str, head: ChainTip) -> None:
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
    held: frozenset[str] = frozenset()
    """Event ids not appended because their chain (or the whole log) is halted by a forgery:
    the caller must not acknowledge them."""



def _heads(columns: str) -> str:
    """Each chain's stored head (its highest sequence within the log's size): one backward
    step down the (chain, chain_seq) index per chain, whatever the chain's length. (A
    `DISTINCT ON (chain) ... ORDER BY chain, chain_seq DESC` read every entry of each chain:
    with chains of 1,000 entries the append p50 grew 20x over `make bench-long`'s run.)"""
    # `columns` is one of the two constant column lists below, never input.
    return (
        "SELECT h.* FROM unnest($1::text[]) AS c(chain) CROSS JOIN LATERAL (SELECT "  # noqa: S608
        + columns + " FROM audit_entries e WHERE e.chain = c.chain AND e.log_index < $2"
        " ORDER BY e.chain_seq DESC LIMIT 1) AS h"
    )


_REMEMBERED_HEADS = _heads("chain, chain_seq, entry_hash")
_RELOADED_HEADS = _heads(", ".join(ENTRY_COLUMNS))
_FOREIGN = (
    "SELECT log_index, chain, event_id FROM audit_entries WHERE log_index >= $1 "
    "ORDER BY log_index LIMIT 100"
)
_RECORD_FINDING = (
    "INSERT INTO integrity_findings (chain, log_index, event_id, detail) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
)


class Appender:
    def __init__(
        self, pool: asyncpg.Pool, schema: str, head_cache: int = 100_000, part: Part | None = None
    ) -> None:
        self.pool = pool
        self.part = part  # health: NOT_SERVING while anything is halted by a forgery
        self.schema = schema
        self.head_cache = head_cache
        self.state: LogState | None = None
        self._lease: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        # Chains halted by a forgery, with the first finding. Sticky for the life of the
        # process: once an operator has removed the forged rows, a restart resumes the chain
        # (its held events are then redelivered in stream order).
        self.halted: dict[str, Forgery] = {}
        self.log_blocked: Forgery | None = None

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
            if self._lease is None:
                raise RuntimeError("Appender.start() was not called")
            if self.state is None:
                # The reload after a failed append failed too (the database was away): load
                # now. Found by the fault suite (tests/faults): a PostgreSQL restart left the
                # ledger refusing every append, for good, until the process was restarted.
                await self._load()
                assert self.state is not None
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
            findings = await self._guard(conn, state, fresh)
            for finding in findings:
                await conn.execute(
                    _RECORD_FINDING,
                    finding.chain,
                    finding.log_index,
                    finding.event_id,
                    finding.detail,
                )
            if self.log_blocked is not None:
                placeable: list[EventFacts] = []
            else:
                placeable = [f for f in fresh if f.chain not in self.halted]
            held = frozenset(f.event_id for f in fresh) - {f.event_id for f in placeable}
            if not placeable:
                return AppendResult([], len(batch) - len(fresh), held)
            placement = state.place_all(placeable)
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
        return AppendResult(placement.entries, len(batch) - len(fresh), held)

    async def _guard(
        self, conn: asyncpg.Connection, state: LogState, fresh: Sequence[EventFacts]
    ) -> list[Forgery]:
        """Compare the table with what this appender wrote (services/ledger/domain/appending.py);
        halt what does not match and return the new findings."""
        found: list[Forgery] = []

        def halt(finding: Forgery) -> None:
            if finding.chain not in self.halted:
                self.halted[finding.chain] = finding
                found.append(finding)
                log.error("ledger: appending halted for %s", finding.describe())
                self._alarm()

        for row in await conn.fetch(_FOREIGN, state.size):
            halt(beyond_the_log(row["chain"], row["log_index"], row["event_id"], state.size))
            if row["log_index"] < state.size + len(fresh) and self.log_blocked is None:
                # The next log positions are taken: nothing can be appended without a gap.
                self.log_blocked = beyond_the_log(
                    row["chain"], row["log_index"], row["event_id"], state.size
                )
                found.append(self.log_blocked)
                log.error("ledger: appending halted for the whole log: %s",
                          self.log_blocked.detail)
                self._alarm()
        chains = sorted({f.chain for f in fresh} - self.halted.keys())
        if not chains:
            return found
        known = [c for c in chains if c in state.heads]
        unknown = [c for c in chains if c not in state.heads]
        if known:
            # Hot chains: compare (sequence, hash) only, without reading the entries.
            rows = await conn.fetch(_REMEMBERED_HEADS, known, state.size)
            stored_heads = {r["chain"]: (r["chain_seq"], bytes(r["entry_hash"])) for r in rows}
            for chain in known:
                problem = check_remembered_head(chain, state.heads[chain], stored_heads.get(chain))
                if problem is not None:
                    halt(problem)
        if unknown:
            rows = await conn.fetch(_RELOADED_HEADS, unknown, state.size)
            heads = [entry_from_row(row) for row in rows]
            leaves = await self._leaves(conn, [head.log_index for head in heads])
            for head in heads:  # a chain with no stored head is new: it starts at genesis
                problem = check_reloaded_head(head, state.size, leaves)
                if problem is None:
                    state.heads[head.chain] = (head.chain_seq, head.entry_hash)
                else:
                    halt(problem)
        return found

    def _alarm(self) -> None:
        if self.part is None:
            return
        what = "the whole log" if self.log_blocked else f"{len(self.halted)} chain(s)"
        first = self.log_blocked or next(iter(self.halted.values()))
        self.part.failed(f"appending halted for {what} by rows it did not write: "
                         f"{first.describe()}")

    @staticmethod
    async def _leaves(conn: asyncpg.Connection, indexes: list[int]) -> dict[int, bytes]:
        if not indexes:
            return {}
        rows = await conn.fetch(
            "SELECT idx, hash FROM merkle_nodes WHERE level = 0 AND idx = ANY($1::bigint[])",
            indexes,
        )
        return {row["idx"]: bytes(row["hash"]) for row in rows}
