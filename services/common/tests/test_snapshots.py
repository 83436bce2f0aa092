"""Snapshots taken at save: from the saved aggregate in memory when the interval's event is its
last one; the library's rebuild from the database otherwise. Either way the snapshot is the
state a full replay gives."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from services.common.context import CommandContext
from services.common.tests.sample import Tally, TallyApp


class SnappingTallyApp(TallyApp):
    snapshotting_intervals: ClassVar[dict[type, int]] = {Tally: 5}  # type: ignore[misc]


def ctx(request_id: str | None = None) -> CommandContext:
    return CommandContext(tenant_id="tenant-a", actor="t", now=datetime.now(UTC),
                          request_id=request_id or uuid.uuid4().hex)


@pytest.fixture(scope="module")
def app(make_settings):
    application = SnappingTallyApp(make_settings("tallysnap"))
    yield application
    application.close()


def _latest_snapshot(app: SnappingTallyApp, tally_id: uuid.UUID) -> Any:
    assert app.snapshots is not None
    snapshots = list(app.snapshots.get(tally_id, desc=True, limit=1))
    assert snapshots, "no snapshot taken"
    return snapshots[0]


def _replayed(app: SnappingTallyApp, tally_id: uuid.UUID, version: int) -> Tally:
    aggregate: Tally = app.repository.get(tally_id, version=version)  # events, no cache
    return aggregate


def test_the_snapshot_is_taken_from_memory_and_equals_a_replay(app):
    tally = Tally.open(ctx(), "snap", "Jane Roe")
    app.save_all(tally)  # version 1
    reads: list[Any] = []
    select_events = app.recorder.select_events

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return select_events(*args, **kwargs)

    for amount in (100, 200, 300):  # versions 2..4
        tally.increment(ctx(), amount)
        app.save_all(tally)
    tally.increment(ctx(), 400)  # version 5: the interval
    app.recorder.select_events = counted  # type: ignore[method-assign]
    try:
        app.save_all(tally)
    finally:
        del app.recorder.select_events
    assert reads == [], "the snapshot was rebuilt from the database"
    snapshot = _latest_snapshot(app, tally.id)
    assert snapshot.originator_version == 5
    from_snapshot: Tally = snapshot.mutate(None)
    replayed = _replayed(app, tally.id, 5)
    assert from_snapshot.total_cents == replayed.total_cents == 1000
    assert vars(from_snapshot) == vars(replayed)


def test_an_interval_event_inside_a_save_is_snapshotted_by_a_replay(app):
    tally = Tally.open(ctx(), "middle", "Jane Roe")
    app.save_all(tally)  # version 1
    tally.increment(ctx(), 1)
    tally.increment(ctx(), 2)
    app.save_all(tally)  # versions 2, 3
    for amount in (10, 20, 30):
        tally.increment(ctx(), amount)  # versions 4, 5, 6: 5 is in the middle
    app.save_all(tally)
    snapshot = _latest_snapshot(app, tally.id)
    assert snapshot.originator_version == 5
    assert snapshot.mutate(None).total_cents == 1 + 2 + 10 + 20
    assert app.load(tally.id, "tenant-a", Tally).total_cents == 63
