"""The recorder's `select_events` (its statement rendered once per shape) returns what the
library's own `select_events` returns, for every shape a caller can ask for."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from itertools import product

import pytest
from eventsourcing.postgres import PostgresAggregateRecorder

from services.common.context import CommandContext
from services.common.tests.sample import Tally, TallyApp


@pytest.fixture(scope="module")
def app(make_settings):
    app = TallyApp(make_settings("tallyselect"))
    yield app
    app.close()


def test_every_shape_selects_the_rows_the_library_selects(app):
    ctx = CommandContext(tenant_id="tenant-s", actor="t", now=datetime.now(UTC),
                         request_id=uuid.uuid4().hex)
    tally = Tally.open(ctx, "select shapes", "Jane Roe")
    for i in range(6):
        tally.increment(CommandContext(tenant_id="tenant-s", actor="t", now=datetime.now(UTC),
                                 request_id=uuid.uuid4().hex), i + 1)
    app.save_all(tally)
    recorder = app.recorder
    library = PostgresAggregateRecorder.select_events
    shapes = list(product((None, 2), (None, 5), (False, True), (None, 1, 3)))
    for gt, lte, desc, limit in shapes * 2:  # twice: the second time from the kept statements
        ours = recorder.select_events(tally.id, gt=gt, lte=lte, desc=desc, limit=limit)
        theirs = library(recorder, tally.id, gt=gt, lte=lte, desc=desc, limit=limit)
        assert ours == theirs, (gt, lte, desc, limit)
        assert ours, (gt, lte, desc, limit)
    assert len(recorder._selects) == len({(g is not None, lt is not None, d, lim is not None)
                                          for g, lt, d, lim in shapes})
    # Another aggregate: no rows, as the library says.
    assert recorder.select_events(uuid.uuid4()) == []
