"""Group commit, one-statement saves, messages built once, batched reactions (docs/decisions.md,
"Group commit, one statement, messages built once")."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.consumer import Delivery
from services.common.context import CommandContext
from services.common.errors import AlreadyExists, Conflict, DomainError
from services.common.processors import ApplicationProcessor
from services.common.relay import Relay
from services.common.tests.sample import Tally, TallyApp
from services.common.wire import build_envelope, decode_payload


def ctx(tenant: str = "t", request_id: str | None = None, fingerprint: str = "") -> CommandContext:
    return CommandContext(tenant_id=tenant, actor="t", now=datetime.now(UTC),
                          request_id=request_id or uuid.uuid4().hex,
                          request_fingerprint=fingerprint or uuid.uuid4().hex)


@pytest.fixture(scope="module")
def app(make_settings):
    application = TallyApp(make_settings("tally"))
    yield application
    application.close()


def grouped(app: TallyApp, jobs: list[Callable[[], None]]) -> tuple[list[int], list[Any]]:
    """Run `jobs` (each saves) so that all of them queue behind a held commit and are then
    committed as one group; (the sizes of the commits, each job's exception or None)."""
    sizes: list[int] = []
    gate, holding = threading.Event(), threading.Event()
    original = app._commits._commit_units

    def held(units: list[Any]) -> list[list[int]]:
        sizes.append(len(units))
        if len(sizes) == 1:
            holding.set()
            gate.wait(10)
        return original(units)

    app._commits._commit_units = held  # type: ignore[method-assign]
    outcomes: list[Any] = [None] * len(jobs)

    def run(index: int) -> None:
        try:
            jobs[index]()
        except Exception as exc:
            outcomes[index] = exc

    try:
        blocker = threading.Thread(target=lambda: app.save_all(Tally.open(ctx(), "b", "P")))
        blocker.start()
        deadline = time.monotonic() + 10
        assert holding.wait(10), "the first commit never started"
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
        for thread in threads:
            thread.start()
        while app._commits._queue.qsize() < len(jobs) and time.monotonic() < deadline:
            time.sleep(0.005)
        gate.set()
        for thread in [blocker, *threads]:
            thread.join(10)
    finally:
        app._commits._commit_units = original  # type: ignore[method-assign]
    return sizes, outcomes


def test_concurrent_saves_commit_together(app):
    tallies = [Tally.open(ctx(), f"g{i}", "P") for i in range(6)]
    for tally in tallies:
        app.save_all(tally)
    copies = [app.load(t.id, "t", Tally) for t in tallies]

    def increment(tally: Tally) -> Callable[[], None]:
        def job() -> None:
            tally.increment(ctx(), 5)
            app.save_all(tally)
        return job

    sizes, outcomes = grouped(app, [increment(c) for c in copies])
    assert outcomes == [None] * 6
    assert sizes == [1, 6]  # the held one, then all six in one statement
    assert [app.load(t.id, "t", Tally).total_cents for t in tallies] == [5] * 6


def test_a_version_conflict_in_a_group_fails_only_its_caller(app):
    contested = Tally.open(ctx(), "contested", "P")
    others = [Tally.open(ctx(), f"o{i}", "P") for i in range(3)]
    app.save_all(contested, *others)
    first, second = app.load(contested.id, "t", Tally), app.load(contested.id, "t", Tally)
    copies = [app.load(t.id, "t", Tally) for t in others]

    def increment(tally: Tally, cents: int) -> Callable[[], None]:
        def job() -> None:
            tally.increment(ctx(), cents)
            app.save_all(tally)
        return job

    sizes, outcomes = grouped(
        app, [increment(first, 1), *(increment(c, 7) for c in copies), increment(second, 2)])
    assert sizes[1] == 5 and sum(sizes[2:]) == 5  # the group failed, then one at a time
    failed = [o for o in outcomes if o is not None]
    assert len(failed) == 1 and isinstance(failed[0], Conflict)
    assert app.load(contested.id, "t", Tally).total_cents in (1, 2)
    assert [app.load(t.id, "t", Tally).total_cents for t in others] == [7, 7, 7]


def test_a_reused_request_id_in_a_group_fails_only_its_caller(app):
    one, two, three = (Tally.open(ctx(), f"r{i}", "P") for i in range(3))
    app.save_all(one, two, three)
    used = ctx(request_id="reused-" + uuid.uuid4().hex, fingerprint="first body")
    target = app.load(one.id, "t", Tally)
    target.increment(used, 1)
    app.save_all(target)
    again = ctx(request_id=used.request_id, fingerprint="another body")
    copies = [app.load(t.id, "t", Tally) for t in (two, three)]

    def reuse() -> None:
        copies[0].increment(again, 3)
        app.save_all(copies[0])

    def honest() -> None:
        copies[1].increment(ctx(), 4)
        app.save_all(copies[1])

    _, outcomes = grouped(app, [reuse, honest])
    assert isinstance(outcomes[0], AlreadyExists) and outcomes[1] is None
    assert app.load(two.id, "t", Tally).total_cents == 0
    assert app.load(three.id, "t", Tally).total_cents == 4


def test_notification_ids_become_visible_in_order_under_concurrent_writers(make_settings):
    """Two applications (two pools, two committers: like two replicas) save from many threads
    while a reader tails the log as the relay does; nothing it passed appears later."""
    settings = make_settings("ordering")
    writers = [TallyApp(settings), TallyApp(settings)]
    reader = writers[0].recorder
    start = reader.max_notification_id() or 0
    stop = threading.Event()
    seen: list[int] = []

    def tail() -> None:
        position = start
        while True:
            finished = stop.is_set()
            batch = reader.select_notifications(start=position, limit=500,
                                                inclusive_of_start=False)
            seen.extend(n.id for n in batch)
            if batch:
                position = batch[-1].id
            elif finished:
                return

    def write(application: TallyApp) -> None:
        for _ in range(40):
            application.save_all(*(Tally.open(ctx(), "w", "P") for _ in range(3)))

    tailer = threading.Thread(target=tail)
    tailer.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in writers for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    stop.set()
    tailer.join(30)
    everything = [n.id for n in reader.select_notifications(start=start, limit=10_000,
                                                             inclusive_of_start=False)]
    for application in writers:
        application.close()
    assert len(everything) == 2 * 6 * 40 * 3
    assert seen == everything  # never skipped one that committed later with a lower id


def test_the_relay_publishes_the_bytes_stored_at_save(app, make_settings):
    tally = Tally.open(ctx(), "wire", "Patient Name")
    tally.increment(ctx(), 250)
    position = app.recorder.max_notification_id() or 0
    app.save_all(tally)
    relay = Relay(app, app.settings, None, None)  # type: ignore[arg-type]
    try:
        outgoing = relay._read_batch(position)
    finally:
        relay.close()
    notifications = app.recorder.select_notifications(start=position, limit=10,
                                                      inclusive_of_start=False)
    # A sequence can skip values (a rolled-back save consumes one), so compare ids, not counts.
    assert [n.originator_id for n in notifications] == [tally.id, tally.id]
    assert [o.notification_id for o in outgoing] == [n.id for n in notifications]
    for item, notification in zip(outgoing, notifications, strict=True):
        published = EventEnvelope.FromString(item.data)
        event = app.mapper.to_domain_event(notification)
        rebuilt = build_envelope("tally", notification.id, event,
                                 published.recorded_at.ToDatetime(UTC), app.published_language)
        assert published == rebuilt  # what the old relay built, field for field
        assert decode_payload(published) == decode_payload(rebuilt)
        assert item.headers["Nats-Msg-Id"] == f"tally:{notification.id}"
        assert item.subject.endswith(f".tally.{published.event_type}")
        assert b"Patient Name" not in item.data  # PHI stays out of the message


def test_an_event_saved_without_its_message_is_built_by_the_relay(app):
    tally = Tally.open(ctx(), "legacy", "P")
    position = app.recorder.max_notification_id() or 0
    original = app._message
    app._message = lambda event, at: None  # type: ignore[method-assign]
    try:
        app.save_all(tally)
    finally:
        app._message = original  # type: ignore[method-assign]
    relay = Relay(app, app.settings, None, None)  # type: ignore[arg-type]
    try:
        (item,) = relay._read_batch(position)
    finally:
        relay.close()
    published = EventEnvelope.FromString(item.data)
    (stored,) = app.recorder.select_notifications(start=position, limit=10,
                                                  inclusive_of_start=False)
    assert (published.event_id, published.event_type) == (f"tally:{stored.id}", "TallyOpened")


def test_a_saved_aggregate_is_the_next_commands_copy(app):
    tally = Tally.open(ctx(), "cached", "P")
    app.save_all(tally)
    decoded: list[Any] = []
    original = app.mapper.to_domain_event

    def counting(stored: Any) -> Any:
        decoded.append(stored)
        return original(stored)

    app.mapper.to_domain_event = counting  # type: ignore[method-assign]
    try:
        for cents in (1, 2, 3):
            copy = app.load(tally.id, "t", Tally)
            copy.increment(ctx(), cents)
            app.save_all(copy)
        assert app.load(tally.id, "t", Tally).total_cents == 6
    finally:
        app.mapper.to_domain_event = original  # type: ignore[method-assign]
    assert decoded == []  # nothing just written was read back and decrypted


def test_a_changed_but_unsaved_cached_aggregate_is_not_served(app):
    tally = Tally.open(ctx(), "dirty", "P")
    app.save_all(tally)
    tally.increment(ctx(), 99)  # the saved object, changed and never saved
    assert app.load(tally.id, "t", Tally).total_cents == 0


def delivery(upstream: str, notification_id: int, event_type: str, aggregate_id: str
             ) -> Delivery:
    envelope = EventEnvelope(event_id=f"{upstream}:{notification_id}", service=upstream,
                             notification_id=notification_id, tenant_id="t",
                             request_id=f"req-{upstream}-{notification_id}",
                             event_type=event_type, aggregate_id=aggregate_id,
                             payload=b"{}", payload_content_type="application/json; canonical")
    return Delivery(envelope, {}, datetime.now(UTC))


def test_a_batch_of_reactions_commits_once_and_later_ones_see_earlier_changes(app):
    """Open a tally on the first event, add to it on the next ones (which must see the open
    tally of the same batch); a refused one is tracked without effect, alone."""
    upstream = "up" + uuid.uuid4().hex[:6]
    label = uuid.uuid4().hex
    opened: dict[str, Any] = {}

    def react(d: Delivery) -> list[Tally]:
        if d.event_type == "Open":
            tally = Tally.open(d.context(actor="system:test"), label, "P")
            opened["id"] = tally.id
            return [tally]
        if d.event_type == "Refuse":
            raise DomainError("not today")
        tally = app.load(opened["id"], "t", Tally)
        tally.increment(d.context(actor="system:test"), 10)
        return [tally]

    processor = ApplicationProcessor(app, "batch", react, None)
    kinds = ["Open", "Add", "Add", "Refuse", "Add", "Add"]
    batch = [delivery(upstream, n + 1, kind, "a") for n, kind in enumerate(kinds)]
    saves: list[int] = []
    original = app.save_tracked_batch

    def counting(*args: Any, **kwargs: Any) -> None:
        saves.append(len(args[0]))
        original(*args, **kwargs)

    app.save_tracked_batch = counting  # type: ignore[method-assign]
    try:
        outcomes = processor._process_batch_sync(batch)
        again = processor._process_batch_sync(batch)  # a redelivery of all of it
    finally:
        app.save_tracked_batch = original  # type: ignore[method-assign]
    assert outcomes == [True] * 6
    assert saves == [3, 2]  # before the refused one, and after it (which went alone)
    assert again == [False] * 6
    assert app.load(opened["id"], "t", Tally).total_cents == 40
    for n in range(1, 7):
        assert app.is_processed(Tracking(f"{upstream}/batch", n))
