"""Fault or poison: the one place that decides whether a failure is the infrastructure's.

A *fault* (PostgreSQL unreachable, restarting, out of connections or locked; the broker gone;
a timeout) says nothing about the message being processed: the same message succeeds once the
fault clears, so it is retried for as long as it takes and never dead-lettered. Anything else
may be the message's own fault (a *poison*): retried a few times, then dead-lettered with the
reason (services/common/consumer.py; docs/decisions.md §"Fault or poison").
"""

from __future__ import annotations

import asyncpg
import eventsourcing.persistence as es
import nats.errors
import psycopg

# SQLSTATE classes that describe the server or the connection, not the statement's data:
# 08 connection exception, 53 insufficient resources, 57 operator intervention (admin
# shutdown, cannot connect now, statement/lock timeouts), 58 system error, 40 transaction
# rollback (serialization failure, deadlock), 55P03 lock not available, 25006 read-only
# transaction (a standby after fail-over).
_FAULT_SQLSTATE_CLASSES = ("08", "53", "57", "58", "40")
_FAULT_SQLSTATES = frozenset({"55P03", "25006"})

_FAULT_TYPES: tuple[type[BaseException], ...] = (
    OSError,  # includes ConnectionError
    TimeoutError,  # includes asyncio.TimeoutError (asyncpg pool acquire, nats requests)
    asyncpg.InterfaceError,  # connection closed / released under us
    asyncpg.PostgresConnectionError,
    psycopg.OperationalError,  # includes psycopg_pool.PoolTimeout
    psycopg.InterfaceError,
    es.OperationalError,
    es.InterfaceError,
    es.ConnectionUnavailableError,
    es.ConnectionPoolClosedError,
    nats.errors.Error,  # includes JetStream API errors (no leader, timeouts)
)
# Not a version `Conflict`: a concurrent writer resolves on a reload (the poison path's few
# retries do that), but a creation that collides with an existing aggregate never does.


def is_fault(exc: BaseException) -> bool:
    """True when `exc` (or what it was raised from) is an infrastructure failure."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_fault_itself(current):
            return True
        if isinstance(current, BaseExceptionGroup):
            return all(is_fault(inner) for inner in current.exceptions)
        current = current.__cause__  # an explicit `raise ... from fault` keeps its nature
    return False


def _is_fault_itself(exc: BaseException) -> bool:
    if isinstance(exc, _FAULT_TYPES):
        return True
    sqlstate = _sqlstate(exc)
    return bool(sqlstate) and (
        sqlstate in _FAULT_SQLSTATES or sqlstate[:2] in _FAULT_SQLSTATE_CLASSES
    )


def _sqlstate(exc: BaseException) -> str:
    if isinstance(exc, asyncpg.PostgresError):
        return str(getattr(exc, "sqlstate", "") or "")
    if isinstance(exc, psycopg.Error):
        return str(exc.sqlstate or "")
    if isinstance(exc, es.PersistenceError) and exc.__cause__ is not None:
        return _sqlstate(exc.__cause__)
    return ""


def describe(exc: BaseException) -> str:
    """A one-line reason for logs, health and dead letters."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def retry_delay(attempt: int, first: float = 0.2, cap: float = 5.0) -> float:
    """Capped exponential backoff for retrying a fault: 0.2, 0.4, 0.8 … 5 s."""
    return min(cap, first * 2 ** max(0, attempt - 1))
