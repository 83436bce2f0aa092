"""Event store behaviour: tenancy, idempotency, version conflicts, PHI at rest, tracking."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from eventsourcing.persistence import Tracking

from services.common.context import CommandContext
from services.common.errors import Conflict, NotFound
from services.common.eventstore import AlreadyProcessed
from services.common.tests.sample import Tally, TallyApp


def ctx(tenant: str, request_id: str | None = None) -> CommandContext:
    return CommandContext(tenant_id=tenant, actor="t", now=datetime.now(UTC),
                          request_id=request_id or uuid.uuid4().hex)


@pytest.fixture(scope="module")
def app(make_settings):
    application = TallyApp(make_settings("tally"))
    yield application
    application.close()


def test_other_tenant_cannot_load(app):
    tally = Tally.open(ctx("tenant-a"), "x", "Jane Roe")
    app.save_all(tally)
    assert app.load(tally.id, "tenant-a", Tally).label == "x"
    with pytest.raises(NotFound):
        app.load(tally.id, "tenant-b", Tally)


def test_retried_command_is_recorded_once(app):
    tally = Tally.open(ctx("tenant-a"), "retry", "Jane Roe")
    app.save_all(tally)
    command = ctx("tenant-a", "req-1")
    for _ in range(3):
        loaded = app.load(tally.id, "tenant-a", Tally)
        loaded.increment(command, 500)
        app.save_all(loaded)
    assert app.load(tally.id, "tenant-a", Tally).total_cents == 500


def test_concurrent_writers_conflict(app):
    tally = Tally.open(ctx("tenant-a"), "race", "Jane Roe")
    app.save_all(tally)
    first = app.load(tally.id, "tenant-a", Tally)
    second = app.load(tally.id, "tenant-a", Tally)
    first.increment(ctx("tenant-a"), 1)
    second.increment(ctx("tenant-a"), 2)
    app.save_all(first)
    with pytest.raises(Conflict):
        app.save_all(second)
    assert app.load(tally.id, "tenant-a", Tally).total_cents == 1


def test_phi_is_encrypted_at_rest(app, make_settings):
    tally = Tally.open(ctx("tenant-a"), "phi", "Unmistakable Patientname")
    app.save_all(tally)
    settings = make_settings("tally")
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            f'SELECT state FROM "{settings.schema}".{app.recorder.events_table_name} '
            "WHERE originator_id = %s",
            (tally.id,),
        ).fetchall()
    assert rows
    assert all(b"Unmistakable" not in bytes(row[0]) for row in rows)


def test_tracking_makes_reactions_exactly_once(app):
    tally = Tally.open(ctx("tenant-a"), "track", "Jane Roe")
    app.save_all(tally)
    tracking = Tracking("upstream/test", 4242 + hash(tally.id) % 100000)
    loaded = app.load(tally.id, "tenant-a", Tally)
    loaded.increment(ctx("tenant-a"), 7)
    app.save_tracked(tracking, loaded)
    again = app.load(tally.id, "tenant-a", Tally)
    again.increment(ctx("tenant-a"), 7)
    with pytest.raises(AlreadyProcessed):
        app.save_tracked(tracking, again)
    assert app.load(tally.id, "tenant-a", Tally).total_cents == 7
