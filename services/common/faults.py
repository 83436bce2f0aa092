"""Infrastructure faults: the database, the broker or the network failed, not the request.

A fault is transient: the same request may succeed once the dependency is back, so the gRPC
layer answers UNAVAILABLE with retry information (and consumers retry instead of dead-lettering).
Anything else that escapes a handler is a bug (INTERNAL).
"""

from __future__ import annotations

import socket

import asyncpg
import eventsourcing.persistence as es
import nats.errors
import nats.js.errors
import psycopg

_FAULTS: tuple[type[BaseException], ...] = (
    # PostgreSQL through psycopg (eventsourcing's recorder) and through its pool.
    psycopg.OperationalError,  # includes psycopg_pool.PoolTimeout, AdminShutdown
    psycopg.InterfaceError,
    es.OperationalError,
    es.InterfaceError,
    es.ConnectionUnavailableError,
    es.ConnectionPoolClosedError,
    # PostgreSQL through asyncpg (read models).
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    # NATS.
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionDrainingError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoServersError,
    nats.errors.NoRespondersError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.TimeoutError,
    nats.js.errors.ServiceUnavailableError,
    # Sockets and deadlines (asyncio.TimeoutError is TimeoutError since Python 3.11).
    ConnectionError,
    socket.gaierror,
    TimeoutError,
)

# Any other OSError counts only when a database or broker client raised it (connecting to a
# PostgreSQL socket that is gone is FileNotFoundError); elsewhere PermissionError or
# FileNotFoundError are bugs or configuration, not outages.
_CLIENT_LIBRARIES = ("asyncpg", "psycopg", "psycopg_pool", "nats", "eventsourcing")


def is_infrastructure_fault(exc: BaseException) -> bool:
    """True when `exc`, or the exception it was explicitly raised from, is an infrastructure
    failure (only `raise ... from fault` counts: an error raised while handling one is a bug)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, _FAULTS):
            return True
        if isinstance(current, OSError) and _raised_in_client_library(current):
            return True
        seen.add(id(current))
        current = current.__cause__
    return False


def _raised_in_client_library(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module.split(".")[0] in _CLIENT_LIBRARIES:
            return True
        tb = tb.tb_next
    return False
