"""Group commit for claim creations: concurrent RegisterClaim calls share one transaction.

Each eventsourcing save takes the events table lock and waits for its own commit; under many
concurrent callers that serializes on the lock. Callers hand their new aggregate to a single
committer thread that saves everything queued so far in one `save` and wakes each caller
with its own outcome. A batch that fails is retried one aggregate at a time, so one caller's
conflict (a retried request id, or one reused for another claim) never fails the others.
Callers hand over the events they collected from their aggregates: a failed `save` has
already drained an aggregate's pending events, so a retry must reuse the collected events,
never the aggregate.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from services.common.errors import AlreadyExists, Conflict

Events = Sequence[Any]

MAX_BATCH = 256


class GroupCommitter:
    def __init__(self, save_events: Callable[[Events], None], name: str = "claims-commit"):
        self._save = save_events
        self._queue: queue.SimpleQueue[tuple[Events, Future[None]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def save(self, events: Events) -> None:
        """Save one caller's events (blocking until committed); raises what its save raised."""
        done: Future[None] = Future()
        self._queue.put((events, done))
        done.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._commit(batch)
                    return
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[tuple[Events, Future[None]]]) -> None:
        if len(batch) > 1:
            try:
                self._save([event for events, _ in batch for event in events])
            except (Conflict, AlreadyExists):
                pass  # someone in the batch conflicts or reused a request id: find out who
            except BaseException as exc:  # an outage fails every caller of the batch
                for _, done in batch:
                    done.set_exception(exc)
                return
            else:
                for _, done in batch:
                    done.set_result(None)
                return
        for events, done in batch:
            try:
                self._save(events)
            except BaseException as exc:
                done.set_exception(exc)
            else:
                done.set_result(None)
