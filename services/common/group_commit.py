"""Group commit: concurrent callers' writes share one transaction (one round trip, one fsync).

Each caller hands a unit of work (the events it collected, or a whole save) to a single
committer thread, which commits everything queued so far together and wakes each caller with
its own outcome. A batch that fails for a reason that belongs to one caller (a version
conflict, a request id reused for another request: the `isolate` exceptions) is retried one
unit at a time, so one caller's conflict never fails the others; an outage (anything else)
fails every caller of the batch, each of whom retries or reports it as before.

Units must be re-committable: a failed commit may not consume them (hand over collected
events or stored rows, never an aggregate whose pending events a failed save drained).

`GroupCommit` is the general form (a unit type and a per-unit result); `GroupCommitter` the
claims service's original: a unit is a list of collected events, saved by `save_events`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from services.common.errors import AlreadyExists, Conflict

Events = Sequence[Any]
U = TypeVar("U")
R = TypeVar("R")

MAX_BATCH = 256


class GroupCommit(Generic[U, R]):
    """`commit(units)` commits the units together, all or nothing, and returns one result per
    unit, in order."""

    def __init__(
        self,
        commit: Callable[[list[U]], list[R]],
        name: str = "group-commit",
        isolate: tuple[type[BaseException], ...] = (Conflict, AlreadyExists),
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._commit_units = commit
        self._isolate = isolate
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[U, Future[R]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._closed = False
        self._thread.start()

    def submit(self, unit: U) -> R:
        """Commit one caller's unit (blocking until committed); raises what its commit raised."""
        if self._closed or threading.current_thread() is self._thread:
            return self._commit_units([unit])[0]  # re-entrant or closing: no queue
        done: Future[R] = Future()
        self._queue.put((unit, done))
        return done.result()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._commit(batch)
                    return
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[tuple[U, Future[R]]]) -> None:
        if len(batch) > 1:
            try:
                results = self._commit_units([unit for unit, _ in batch])
            except self._isolate:
                pass  # someone in the batch conflicts or reused a request id: find out who
            except BaseException as exc:  # an outage fails every caller of the batch
                for _, done in batch:
                    done.set_exception(exc)
                return
            else:
                for (_, done), result in zip(batch, results, strict=True):
                    done.set_result(result)
                return
        for unit, done in batch:
            try:
                result = self._commit_units([unit])[0]
            except BaseException as exc:
                done.set_exception(exc)
            else:
                done.set_result(result)


class GroupCommitter(GroupCommit[Events, None]):
    """Group commit of collected events through `save_events(events)` (one transaction)."""

    def __init__(self, save_events: Callable[[Events], None], name: str = "claims-commit"):
        def commit(units: list[Events]) -> list[None]:
            save_events([event for events in units for event in events])
            return [None] * len(units)

        super().__init__(commit, name)

    def save(self, events: Events) -> None:
        """Save one caller's events (blocking until committed); raises what its save raised."""
        self.submit(events)
