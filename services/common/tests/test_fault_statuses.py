"""Which exceptions are infrastructure faults (UNAVAILABLE, retried) and which are bugs."""

from __future__ import annotations

import asyncpg
import eventsourcing.persistence as es
import grpc
import nats.errors
import psycopg
import psycopg_pool
import pytest

from services.common.errors import NotFound
from services.common.faults import is_fault
from services.common.grpc_server import status_for


@pytest.mark.parametrize("exc", [
    psycopg.OperationalError("server closed the connection"),
    psycopg_pool.PoolTimeout("couldn't get a connection after 30 sec"),
    es.OperationalError("terminating connection due to administrator command"),
    es.InterfaceError("connection already closed"),
    asyncpg.exceptions.ConnectionDoesNotExistError("closed in the middle of operation"),
    asyncpg.exceptions.TooManyConnectionsError("too many clients"),
    asyncpg.exceptions.AdminShutdownError("terminating connection"),
    asyncpg.InterfaceError("pool is closing"),
    nats.errors.NoServersError(),
    nats.errors.TimeoutError(),
    ConnectionRefusedError(111, "refused"),
    TimeoutError(),
])
def test_database_broker_and_network_failures_are_faults(exc: BaseException) -> None:
    assert is_fault(exc)
    status = status_for(exc)
    assert status is not None and status.code == grpc.StatusCode.UNAVAILABLE


def test_a_fault_a_caller_raised_from_is_a_fault_but_one_merely_being_handled_is_not() -> None:
    wrapped = RuntimeError("save failed")
    wrapped.__cause__ = es.OperationalError("gone")
    assert is_fault(wrapped)
    bug = ValueError("bug while handling")
    bug.__context__ = es.OperationalError("gone")
    assert not is_fault(bug)


def test_bugs_and_configuration_are_not_faults() -> None:
    for exc in (ValueError("x"), KeyError("k"), PermissionError("tenant"), NotFound("claim")):
        assert not is_fault(exc)
    with pytest.raises(FileNotFoundError) as caught:
        open("/nonexistent/oonledger/file")
    assert not is_fault(caught.value)
    assert status_for(ValueError("x")) is None
