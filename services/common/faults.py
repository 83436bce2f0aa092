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
    # Sockets and deadlines (asyncio.TimeoutError is TimeoutError since Python 3.11). Not every
    # OSError: PermissionError or FileNotFoundError are bugs or configuration, not outages.
    ConnectionError,
    socket.gaierror,
    TimeoutError,
)


def is_infrastructure_fault(exc: BaseException) -> bool:
    """True when `exc`, or the exception it was explicitly raised from, is an infrastructure
    failure (only `raise ... from fault` counts: an error raised while handling one is a bug)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, _FAULTS) or type(current) is OSError:  # e.g. ENETUNREACH
            return True
        seen.add(id(current))
        current = current.__cause__
    return False
