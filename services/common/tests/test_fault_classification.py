"""Which failures are the infrastructure's (retried for ever) and which may be a poison."""

from __future__ import annotations

import asyncpg
import eventsourcing.persistence as es
import nats.errors
import nats.js.errors
import psycopg
import psycopg_pool
import pytest

from services.common.consumer import PermanentFailure
from services.common.errors import Conflict, InvalidArgument
from services.common.faults import is_fault, retry_delay
from services.common.health import Part, ProgressMonitor


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(111, "connection refused"),
    ConnectionResetError(),
    TimeoutError(),
    asyncpg.exceptions.ConnectionDoesNotExistError("closed"),
    asyncpg.exceptions.AdminShutdownError("terminating connection"),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.LockNotAvailableError("lock timeout"),
    asyncpg.exceptions.DeadlockDetectedError("deadlock"),
    asyncpg.exceptions.TooManyConnectionsError("too many"),
    asyncpg.InterfaceError("connection is closed"),
    # What a pooled connection raises when PostgreSQL shut it down mid-operation.
    asyncpg.exceptions.InternalClientError(
        "cannot switch to state 12; another operation (2) is in progress"),
    psycopg.OperationalError("server closed the connection"),
    psycopg_pool.PoolTimeout("couldn't get a connection"),
    es.OperationalError("wrapped"),
    es.InterfaceError("wrapped"),
    nats.errors.NoRespondersError(),
    nats.errors.TimeoutError(),
    nats.js.errors.ServiceUnavailableError(),
])
def test_infrastructure_failures_are_faults(exc: BaseException) -> None:
    assert is_fault(exc)


@pytest.mark.parametrize("exc", [
    ValueError("bad payload"),
    KeyError("claim"),
    PermanentFailure("malformed"),
    InvalidArgument("nope", field="x"),
    Conflict("version moved"),  # may never resolve (a colliding creation): poison path
    asyncpg.exceptions.UniqueViolationError("duplicate"),
    asyncpg.exceptions.UndefinedColumnError("no such column"),
    psycopg.errors.NumericValueOutOfRange("out of range"),
    nats.js.errors.BadRequestError(),  # JetStream answered about what was asked (4xx)
    nats.js.errors.NotFoundError(),
    asyncpg.exceptions.InternalClientError("unexpected codec"),  # other client errors: bugs
])
def test_other_failures_may_be_poison(exc: BaseException) -> None:
    assert not is_fault(exc)


def test_a_fault_keeps_its_nature_through_raise_from() -> None:
    try:
        try:
            raise asyncpg.exceptions.AdminShutdownError("terminating connection")
        except asyncpg.PostgresError as inner:
            raise RuntimeError("projection failed") from inner
    except RuntimeError as outer:
        assert is_fault(outer)


def test_backoff_is_exponential_and_capped() -> None:
    assert [retry_delay(n) for n in (1, 2, 3)] == [0.2, 0.4, 0.8]
    assert retry_delay(50) == 5.0


async def test_monitor_reports_a_stall_once_and_the_recovery() -> None:
    now = [0.0]
    changes: list[tuple[str, bool]] = []

    async def sink(name: str, serving: bool) -> None:
        changes.append((name, serving))

    monitor = ProgressMonitor("svc", stall_seconds=30, sink=sink, clock=lambda: now[0])
    part: Part = monitor.part("oonledger.relay")
    part.busy("publishing 7")
    part.blocked("nats: maximum payload exceeded")
    now[0] = 29.0
    await monitor.check()
    assert changes == [] and monitor.status()["serving"]
    now[0] = 31.0
    await monitor.check()
    now[0] = 40.0
    await monitor.check()
    assert changes == [("oonledger.relay", False)]
    status = monitor.status()
    assert not status["serving"]
    assert status["parts"]["oonledger.relay"]["reason"] == (
        "publishing 7: nats: maximum payload exceeded")
    part.progressed()
    await monitor.check()
    assert changes == [("oonledger.relay", False), ("oonledger.relay", True)]
    monitor.close()


async def test_an_item_waiting_for_its_predecessor_stalls_even_while_others_progress() -> None:
    now = [0.0]
    monitor = ProgressMonitor("svc", stall_seconds=30, clock=lambda: now[0])
    part = monitor.part("oonledger.consumer.x")
    part.waiting(17, "claims:17 waits for an earlier event")
    for second in range(1, 40):
        now[0] = float(second)
        part.busy("another event")
        part.progressed()
        part.waiting(17, "claims:17 waits for an earlier event")
    await monitor.check()
    assert monitor.status()["parts"]["oonledger.consumer.x"]["reason"] == (
        "claims:17 waits for an earlier event")
    part.resolved(17)
    await monitor.check()
    assert monitor.status()["serving"]
    monitor.close()
