"""A lease: one replica at a time runs a piece of work (a PostgreSQL session advisory lock).

`run_while_leased` waits for the lock (polling `pg_try_advisory_lock`, so a cancelled wait
never leaves a lock request on the server), runs the work while it holds it, and checks the
lease's connection every few seconds: when the connection is lost (the database restarted,
the lock with it), the work is cancelled and the lease is taken again before it resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg

log = logging.getLogger(__name__)


async def run_while_leased(
    pool: asyncpg.Pool, name: str, work: Callable[[], Coroutine[Any, Any, None]], *,
    poll_seconds: float = 1.0, check_seconds: float = 5.0,
) -> None:
    while True:
        try:
            conn = await pool.acquire()
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("lease %s: database unavailable (retrying): %r", name, exc)
            await asyncio.sleep(poll_seconds)
            continue
        try:
            await _take(conn, name, poll_seconds)
            log.info("lease %s: taken", name)
            task: asyncio.Task[None] = asyncio.create_task(work(), name=f"leased:{name}")
            try:
                while not task.done():
                    await asyncio.wait({task}, timeout=check_seconds)
                    if not task.done():
                        await conn.fetchval("SELECT 1")  # raises when the lease is gone
                task.result()
                return
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("lease %s: lost (%r); taking it again", name, exc)
            await asyncio.sleep(poll_seconds)
        finally:
            with contextlib.suppress(Exception):
                await pool.release(conn, timeout=5)


async def _take(conn: asyncpg.Connection, name: str, poll_seconds: float) -> None:
    """Wait until this session holds the lock (another replica may hold it meanwhile)."""
    while True:
        if await conn.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", name):
            return
        await asyncio.sleep(poll_seconds)
