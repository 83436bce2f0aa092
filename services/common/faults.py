"""Fault or poison: the one place that decides whether a failure is the infrastructure's.

A *fault* (PostgreSQL unreachable, restarting, out of connections or locked; the broker gone;
a timeout) says nothing about the message or request being processed: the same one succeeds
once the fault clears. Consumers retry it for as long as it takes and never dead-letter it
(services/common/consumer.py; docs/decisions.md §"Fault or poison"); the gRPC layer answers
UNAVAILABLE with retry information (services/common/grpc_server.py). Anything else may be the
message's own fault (a *poison*, dead-lettered with the reason) or a bug (INTERNAL).
"""

from __future__ import annotations

import socket

import asyncpg
import eventsourcing.persistence as es
import nats.errors
import nats.js.errors
import psycopg

# SQLSTATE classes that describe the server or the connection, not the statement's data:
# 08 connection exception, 53 insufficient resources, 57 operator intervention (admin
# shutdown, cannot connect now, statement/lock timeouts), 58 system error, 40 transaction
# rollback (serialization failure, deadlock), 55P03 lock not available, 25006 read-only
# transaction (a standby after fail-over).
_FAULT_SQLSTATE_CLASSES = ("08", "53", "57", "58", "40")
_FAULT_SQLSTATES = frozenset({"55P03", "25006"})

_FAULT_TYPES: tuple[type[BaseException], ...] = (
    ConnectionError,
    socket.gaierror,
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
# Any other OSError counts only when a database or broker client raised it (connecting to a
# PostgreSQL socket that is gone is FileNotFoundError); elsewhere PermissionError or
# FileNotFoundError are bugs or configuration, not outages.
_CLIENT_LIBRARIES = ("asyncpg", "psycopg", "psycopg_pool", "nats", "eventsourcing")

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
    if isinstance(exc, nats.js.errors.APIError):
        # JetStream answered: a 5xx is the server's trouble, a 4xx (not found, bad request)
        # is about what was asked.
        return isinstance(exc, nats.js.errors.ServerError | nats.js.errors.ServiceUnavailableError)
    if isinstance(exc, _FAULT_TYPES):
        return True
    if isinstance(exc, asyncpg.exceptions.InternalClientError) and str(exc).startswith(
            "cannot switch to state"):
        # The server ended the connection mid-operation (a shutdown's FATAL still being
        # consumed) and the next statement on it collides with that state: found by the fault
        # suite (tests/faults) when PostgreSQL stopped under load, answered INTERNAL until now.
        return True
    if isinstance(exc, OSError) and _raised_in_client_library(exc):
        return True
    sqlstate = _sqlstate(exc)
    return bool(sqlstate) and (
        sqlstate in _FAULT_SQLSTATES or sqlstate[:2] in _FAULT_SQLSTATE_CLASSES
    )


def _raised_in_client_library(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module.split(".")[0] in _CLIENT_LIBRARIES:
            return True
        tb = tb.tb_next
    return False


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
