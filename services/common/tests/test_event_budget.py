"""The message size budget: an event whose wire envelope could exceed OON_MAX_EVENT_BYTES is
refused before anything is stored, and the cheap bound used for it really bounds the envelope."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from services.common.context import CommandContext
from services.common.errors import EventTooLarge, FailedPrecondition, NotFound
from services.common.settings import DEFAULT_MAX_EVENT_BYTES, ConfigurationError, Settings
from services.common.tests.sample import Tally, TallyApp
from services.common.wire import build_envelope

BUDGET = 8 * 1024


def ctx(tenant: str = "tenant-budget") -> CommandContext:
    return CommandContext(tenant_id=tenant, actor="t", now=datetime.now(UTC),
                          request_id=uuid.uuid4().hex)


@pytest.fixture(scope="module")
def app(make_settings):
    application = TallyApp(make_settings("tally", max_event_bytes=BUDGET))
    yield application
    application.close()


def test_an_event_over_the_budget_is_refused_and_nothing_is_stored(app):
    before = app.recorder.max_notification_id()
    tally = Tally.open(ctx(), "x" * (BUDGET + 1), "Jane Roe")
    with pytest.raises(EventTooLarge) as refused:
        app.save_all(tally)
    assert isinstance(refused.value, FailedPrecondition)  # → gRPC FAILED_PRECONDITION
    message = str(refused.value)
    assert "TallyOpened event would be about 9 KiB" in message
    assert "over the 8 KiB message budget (OON_MAX_EVENT_BYTES)" in message
    assert app.recorder.max_notification_id() == before
    with pytest.raises(NotFound):
        app.load(tally.id, "tenant-budget", Tally)


def test_one_oversized_event_refuses_the_whole_save(app):
    small = Tally.open(ctx(), "small", "Jane Roe")
    large = Tally.open(ctx(), "y" * BUDGET, "Jane Roe")
    before = app.recorder.max_notification_id()
    with pytest.raises(EventTooLarge):
        app.save_all(small, large)
    assert app.recorder.max_notification_id() == before
    with pytest.raises(NotFound):
        app.load(small.id, "tenant-budget", Tally)
    again = Tally.open(ctx(), "small", "Jane Roe")
    app.save_all(again)  # a small one alone still fits
    assert app.load(again.id, "tenant-budget", Tally).label == "small"


def test_the_bound_covers_the_wire_envelope_just_under_the_budget(app):
    """The largest event the budget lets through still has an envelope within the budget."""
    label_size = BUDGET // 2
    while True:  # grow the label until the next byte would be refused
        tally = Tally.open(ctx(), "z" * (label_size + 64), "Jane Roe")
        try:
            app.mapper.to_stored_event(tally.collect_events()[0])
        except EventTooLarge:
            break
        label_size += 64
    tally = Tally.open(ctx(), "z" * label_size, "Jane Roe")
    (event,) = tally.collect_events()
    app.mapper.to_stored_event(event)  # accepted
    envelope = build_envelope("tally", 2**62, event, datetime.now(UTC))
    assert BUDGET - 1024 < len(envelope.SerializeToString()) <= BUDGET


def test_the_check_costs_no_second_encoding(app):
    """Measured: serialising with the check is as fast as eventsourcing's own mapper."""
    events = [Tally.open(ctx(), f"label-{n}", "Jane Roe").collect_events()[0]
              for n in range(2000)]
    plain = app.factory.mapper(transcoder=app.construct_transcoder())

    def timed(mapper) -> float:
        started = time.perf_counter()
        for event in events:
            mapper.to_stored_event(event)
        return time.perf_counter() - started

    timed(app.mapper), timed(plain)  # warm up
    checked, unchecked = min(timed(app.mapper) for _ in range(3)), min(
        timed(plain) for _ in range(3))
    assert checked < unchecked * 1.5 + 0.01, (checked, unchecked)


def test_the_budget_is_a_setting():
    env = {"DATABASE_URL": "postgresql://x", "NATS_URL": "nats://x", "OON_DEV_MODE": "1"}
    assert Settings.from_env("claims", env).max_event_bytes == DEFAULT_MAX_EVENT_BYTES == 262144
    assert Settings.from_env(
        "claims", {**env, "OON_MAX_EVENT_BYTES": "65536"}).max_event_bytes == 65536
    with pytest.raises(ConfigurationError):
        Settings.from_env("claims", {**env, "OON_MAX_EVENT_BYTES": "lots"})
    with pytest.raises(ConfigurationError):
        Settings.from_env("claims", {**env, "OON_MAX_EVENT_BYTES": "100"})
