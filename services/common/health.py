"""Progress monitoring: nothing stalls silently.

The relay and each consumer are *parts* of a service. A part says when it starts on work
(`busy`), when it is held up and why (`blocked`), and when it made progress (`progressed`).
A part with unfinished work and no progress for longer than `Settings.stall_seconds`
(OON_STALL_SECONDS) is *stalled*: the monitor reports it NOT_SERVING under its own gRPC health
name (and the service's overall "" status with it), logs one ERROR line saying what and where
(repeated at most once a minute while it lasts), and shows it in the metrics
(`oonledger_part_blocked`, `oonledger_part_stalled_seconds`) and on the /status endpoint.
When progress resumes: SERVING again and one INFO line. The monitor never skips anything; it
only makes the stall visible.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

log = logging.getLogger(__name__)

RELAY_PART = "oonledger.relay"
ERROR_REPEAT_SECONDS = 60.0
WAITING_FORGET_SECONDS = 300.0


def consumer_part(durable: str) -> str:
    """The health service name of a consumer."""
    return f"oonledger.consumer.{durable}"


class Part:
    """What one relay or consumer reports; cheap to call on every message."""

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self.since: float | None = None  # oldest moment of unfinished work without progress
        self.doing = ""
        self.reason = ""
        # Items set aside to wait for something else (an event that arrived early), which
        # must not be forgotten while other work progresses: key → (since, last seen, reason).
        self._waiting: dict[Hashable, tuple[float, float, str]] = {}
        # A condition no retry heals (a forged audit row, a refused checkpoint): reported at
        # once, without waiting for the stall threshold, until `recovered()`.
        self.failure = ""

    def failed(self, reason: str) -> None:
        """Cannot make progress until someone acts: NOT_SERVING at the monitor's next tick."""
        if self.since is None:
            self.since = self._clock()
        self.failure = reason

    def recovered(self) -> None:
        """The condition given to `failed` is gone."""
        self.failure = ""

    def busy(self, doing: str) -> None:
        """Work started (a message to process, a batch to publish)."""
        if self.since is None:
            self.since = self._clock()
        self.doing = doing

    def blocked(self, reason: str) -> None:
        """The current work cannot proceed now (a fault being retried, a refusal)."""
        if self.since is None:
            self.since = self._clock()
        self.reason = reason

    def progressed(self) -> None:
        """Work done (or nothing left to do): not stalled."""
        self.since = None
        self.doing = ""
        self.reason = ""

    def waiting(self, key: Hashable, reason: str) -> None:
        """The current work, `key`, is set aside to be retried later: no longer what the
        part is busy with, but stalled from the first time it was set aside."""
        now = self._clock()
        first = now if self.since is None else self.since
        since = self._waiting[key][0] if key in self._waiting else first
        self._waiting[key] = (since, now, reason)
        self.since = None
        self.doing = ""
        self.reason = ""

    def resolved(self, key: Hashable) -> None:
        """`key` is done (processed or dead-lettered)."""
        self._waiting.pop(key, None)

    def _oldest_waiting(self, now: float) -> tuple[float, str] | None:
        # Forget an item not seen for a long while (another replica took it over).
        for key, (_, seen, _) in list(self._waiting.items()):
            if now - seen > WAITING_FORGET_SECONDS:
                del self._waiting[key]
        if not self._waiting:
            return None
        since, _, reason = min(self._waiting.values())
        return since, reason

    def stalled_for(self, now: float | None = None) -> float:
        now = self._clock() if now is None else now
        waiting = self._oldest_waiting(now)
        starts = [t for t in (self.since, waiting[0] if waiting else None) if t is not None]
        return max(0.0, now - min(starts)) if starts else 0.0

    def describe(self, now: float | None = None) -> str:
        if self.failure:
            return self.failure
        now = self._clock() if now is None else now
        waiting = self._oldest_waiting(now)
        if waiting is not None and (self.since is None or waiting[0] < self.since):
            return waiting[1]
        what = self.doing or "work"
        return f"{what}: {self.reason}" if self.reason else f"{what}: no progress"


HealthSink = Callable[[str, bool], Awaitable[None]]


@dataclass
class PartStatus:
    name: str
    serving: bool
    stalled_seconds: float
    reason: str


class ProgressMonitor:
    """Watches a service's parts and reports the stalled ones (see the module docstring)."""

    def __init__(self, service: str, stall_seconds: float, sink: HealthSink | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.stall_seconds = stall_seconds
        self.sink = sink
        self._clock = clock
        self._parts: dict[str, Part] = {}
        self._alarmed: dict[str, float] = {}  # part name → when its last ERROR line was logged
        _MONITORS.add(self)

    def part(self, name: str) -> Part:
        if name not in self._parts:
            self._parts[name] = Part(name, self._clock)
        return self._parts[name]

    @property
    def parts(self) -> Iterable[Part]:
        return list(self._parts.values())

    def is_stalled(self, part: Part, now: float | None = None) -> bool:
        return bool(part.failure) or part.stalled_for(now) > self.stall_seconds

    async def run(self) -> None:
        interval = max(0.05, min(1.0, self.stall_seconds / 5))
        while True:
            await self.check()
            await asyncio.sleep(interval)  # the monitor's tick, a fraction of the threshold

    async def check(self) -> None:
        now = self._clock()
        for part in self.parts:
            stalled = self.is_stalled(part, now)
            last_error = self._alarmed.get(part.name)
            if stalled and last_error is None:
                self._alarmed[part.name] = now
                self._log_stall(part, now)
                await self._report(part.name, serving=False)
            elif stalled and last_error is not None and now - last_error >= ERROR_REPEAT_SECONDS:
                self._alarmed[part.name] = now
                self._log_stall(part, now)
            elif not stalled and last_error is not None:
                del self._alarmed[part.name]
                log.info("%s: %s is making progress again", self.service, part.name)
                await self._report(part.name, serving=True)

    def _log_stall(self, part: Part, now: float) -> None:
        log.error("%s: %s has made no progress for %.0fs (threshold %.0fs): %s", self.service,
                  part.name, part.stalled_for(now), self.stall_seconds, part.describe())

    async def _report(self, name: str, serving: bool) -> None:
        if self.sink is not None:
            await self.sink(name, serving)

    def statuses(self) -> list[PartStatus]:
        now = self._clock()
        return [
            PartStatus(part.name, part.name not in self._alarmed, stalled,
                       part.describe(now) if stalled or part.failure else "")
            for part in self.parts
            for stalled in [round(part.stalled_for(now), 3)]
        ]

    def status(self) -> dict[str, Any]:
        """The /status document: overall serving, and each part's state and reason."""
        parts = self.statuses()
        return {
            "service": self.service,
            "serving": all(p.serving for p in parts),
            "stall_seconds": self.stall_seconds,
            "parts": {p.name: {"serving": p.serving, "stalled_seconds": p.stalled_seconds,
                               "reason": p.reason} for p in parts},
        }

    def close(self) -> None:
        _MONITORS.discard(self)


_MONITORS: weakref.WeakSet[ProgressMonitor] = weakref.WeakSet()


def _observe_blocked(_options: CallbackOptions) -> Iterable[Observation]:
    for monitor in list(_MONITORS):
        for status in monitor.statuses():
            yield Observation(0 if status.serving else 1,
                              {"service": monitor.service, "part": status.name})


def _observe_stalled(_options: CallbackOptions) -> Iterable[Observation]:
    for monitor in list(_MONITORS):
        for status in monitor.statuses():
            yield Observation(status.stalled_seconds,
                              {"service": monitor.service, "part": status.name})


_meter = metrics.get_meter("oonledger")
_meter.create_observable_gauge(
    "oonledger.part.blocked", callbacks=[_observe_blocked],
    description="1 while a relay or consumer has made no progress for longer than the "
                "stall threshold (its health is NOT_SERVING), else 0")
_meter.create_observable_gauge(
    "oonledger.part.stalled", callbacks=[_observe_stalled], unit="s",
    description="Seconds a relay or consumer has had unfinished work without progress")
