"""`ServiceApplication.find` of an aggregate that does not exist: a second look costs one cheap
query, and an aggregate created meanwhile (here or by another process) is found."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.context import CommandContext
from services.common.errors import NotFound
from services.common.tests.sample import Tally, TallyApp


def ctx(tenant: str, request_id: str | None = None) -> CommandContext:
    return CommandContext(tenant_id=tenant, actor="t", now=datetime.now(UTC),
                          request_id=request_id or uuid.uuid4().hex)


@pytest.fixture(scope="module")
def replicas(make_settings):
    # Two applications on one schema: two processes of one service.
    settings = make_settings("tallyabsent")
    first, second = TallyApp(settings), TallyApp(settings)
    yield first, second
    first.close()
    second.close()


def _counting(app: TallyApp) -> list[str]:
    """Record the kind of each query the application's recorder runs (still the real one)."""
    calls: list[str] = []
    recorder: Any = app.recorder
    select_events = recorder.select_events

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append("limit1" if kwargs.get("limit") == 1 else "select")
        return select_events(*args, **kwargs)

    recorder.select_events = counted
    return calls


def test_a_second_look_for_an_absent_aggregate_is_one_cheap_query(replicas):
    first, _ = replicas
    request = ctx("tenant-a")
    missing = Tally.open(request, "never saved", "Jane Roe").id
    assert first.find(missing, "tenant-a", Tally) is None
    calls = _counting(first)
    try:
        for _ in range(3):
            assert first.find(missing, "tenant-a", Tally) is None
    finally:
        del first.recorder.select_events  # type: ignore[attr-defined]
    assert calls == ["limit1"] * 3


def test_an_aggregate_another_process_creates_is_found(replicas):
    first, second = replicas
    request = ctx("tenant-a")
    tally = Tally.open(request, "made elsewhere", "Jane Roe")
    assert first.find(tally.id, "tenant-a", Tally) is None
    second.save_all(tally)  # the other process creates it
    found = first.find(tally.id, "tenant-a", Tally)
    assert found is not None and found.label == "made elsewhere"
    assert first.find(tally.id, "tenant-b", Tally) is None  # still invisible to other tenants


def test_an_aggregate_this_process_creates_is_found_without_a_query(replicas):
    first, _ = replicas
    request = ctx("tenant-a")
    tally = Tally.open(request, "made here", "Jane Roe")
    assert first.find(tally.id, "tenant-a", Tally) is None
    first.save_all(tally)
    calls = _counting(first)
    try:
        found = first.find(tally.id, "tenant-a", Tally)
    finally:
        del first.recorder.select_events  # type: ignore[attr-defined]
    assert found is not None and found.label == "made here"
    assert "limit1" not in calls


def test_another_tenants_aggregate_is_not_remembered_as_absent(replicas):
    first, _ = replicas
    tally = Tally.open(ctx("tenant-a"), "a's", "Jane Roe")
    first.save_all(tally)
    assert first.find(tally.id, "tenant-b", Tally) is None
    assert tally.id not in first._absent
    assert first.find(tally.id, "tenant-a", Tally) is not None


def test_an_id_a_batch_read_as_absent_is_not_asked_again_until_the_batch_creates_it(replicas):
    """`absent_in_batch` (a batch's prefetch found these ids absent): inside the batch `find`
    answers None and `load` NotFound with no query; an aggregate the batch creates is its own
    copy; after the batch, the database is asked again (another process may have created it)."""
    first, second = replicas
    request = ctx("tenant-a")
    absent = Tally.open(request, "absent", "Jane Roe")
    created = Tally.open(request, "created in the batch", "Jane Roe")
    calls = _counting(first)
    try:
        with first.reacting_in_batch() as overlay:
            first.absent_in_batch([absent.id, created.id])
            assert first.find(absent.id, "tenant-a", Tally) is None
            with pytest.raises(NotFound):
                first.load(absent.id, "tenant-a", Tally)
            overlay[created.id] = created  # what the batch's reaction returned
            assert first.find(created.id, "tenant-a", Tally) is created
        assert calls == []
        second.save_all(absent)  # created elsewhere after the batch read it
        found = first.find(absent.id, "tenant-a", Tally)
        assert found is not None and found.label == "absent"
    finally:
        del first.recorder.select_events  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError):
        first.absent_in_batch([absent.id])  # only inside a batch
