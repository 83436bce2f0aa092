"""A blocked event loop says so: how long, and where it was.

A service's gRPC answers, heartbeats (an import job's progress), relays and consumers all wait
for one asyncio loop. Code that holds it (a large synchronous step, a long garbage collection)
delays every one of them at once, and nothing else tells: the service still answers SERVING,
just late. A daemon thread asks the loop to answer every `interval` seconds; when the answer
is later than `threshold`, the thread has already taken the loop thread's stack (and counts
any full garbage collection that ran meanwhile), and once the loop is back a WARNING names the
block's length and that stack. Lines are rate-limited (one per `log_every` seconds, with a
count of the others and the longest); every block goes to the histogram
`oonledger.event_loop.blocked` (seconds), so an operator can alert on it.

One watch per loop (several in-process runtimes share one loop in the tests).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import threading
import time
import traceback
import weakref
from dataclasses import dataclass

from opentelemetry import metrics

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 0.1
DEFAULT_THRESHOLD = 0.25
DEFAULT_LOG_EVERY = 10.0

_meter = metrics.get_meter("oonledger")
_blocked = _meter.create_histogram(
    "oonledger.event_loop.blocked", unit="s",
    description="How long the service's event loop answered late (blocks over the watch's "
                "threshold, OON_LOOP_BLOCKED_SECONDS)")


@dataclass
class Block:
    """One late answer of the loop."""

    seconds: float
    stack: str
    full_collections_s: float


class _FullCollections:
    """Time spent in generation-2 collections, process-wide (gc.callbacks)."""

    def __init__(self) -> None:
        self.total = 0.0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started:
            self.total += time.perf_counter() - self._started
            self._started = 0.0


_collections: _FullCollections | None = None
_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopWatch] = (
    weakref.WeakKeyDictionary())


class LoopWatch:
    def __init__(self, loop: asyncio.AbstractEventLoop, name: str, *,
                 interval: float = DEFAULT_INTERVAL, threshold: float = DEFAULT_THRESHOLD,
                 log_every: float = DEFAULT_LOG_EVERY) -> None:
        global _collections
        if _collections is None:
            _collections = _FullCollections()
        self.loop = loop
        self.name = name
        self.interval = interval
        self.threshold = threshold
        self.log_every = log_every
        self.longest = 0.0
        self.blocks = 0
        self._loop_thread = threading.get_ident()  # created on the loop's thread
        self._stop = threading.Event()
        self._answered = threading.Event()
        self._last_line = 0.0
        self._unlogged = 0
        self._unlogged_longest = 0.0
        self._thread = threading.Thread(target=self._run, name=f"loop-watch-{name}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._answered.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._answered.clear()
            asked = time.monotonic()
            collections_before = _collections.total if _collections else 0.0
            try:
                self.loop.call_soon_threadsafe(self._answered.set)
            except RuntimeError:  # the loop closed
                return
            if self._answered.wait(self.threshold):
                continue
            stack = self._loop_stack()
            while not self._answered.wait(1.0):
                if self.loop.is_closed():
                    return
            if self._stop.is_set():
                return
            seconds = time.monotonic() - asked
            collected = (_collections.total if _collections else 0.0) - collections_before
            self.record(Block(seconds, stack, collected))

    def _loop_stack(self) -> str:
        frame = sys._current_frames().get(self._loop_thread)
        if frame is None:
            return "(the loop's thread is gone)"
        return "".join(traceback.format_stack(frame, limit=12))

    def record(self, block: Block) -> None:
        self.blocks += 1
        self.longest = max(self.longest, block.seconds)
        _blocked.record(block.seconds, {"service": self.name})
        now = time.monotonic()
        if now - self._last_line < self.log_every:
            self._unlogged += 1
            self._unlogged_longest = max(self._unlogged_longest, block.seconds)
            return
        others = (f"; {self._unlogged} more block(s) since the last line, the longest "
                  f"{self._unlogged_longest:.2f} s" if self._unlogged else "")
        collected = (f"; full garbage collections took {block.full_collections_s:.2f} s of it"
                     if block.full_collections_s >= 0.01 else "")
        log.warning("%s: event loop blocked for %.2f s%s%s; the loop was in:\n%s", self.name,
                    block.seconds, collected, others, block.stack.rstrip())
        self._last_line = now
        self._unlogged = 0
        self._unlogged_longest = 0.0


def threshold_from_env() -> float:
    value = os.environ.get("OON_LOOP_BLOCKED_SECONDS", "").strip()
    if not value:
        return DEFAULT_THRESHOLD
    try:
        threshold = float(value)
    except ValueError:
        raise ValueError(f"OON_LOOP_BLOCKED_SECONDS must be a number of seconds, got {value!r}"
                         ) from None
    if threshold <= 0:
        raise ValueError(f"OON_LOOP_BLOCKED_SECONDS must be positive, got {value!r}")
    return threshold


def watch_running_loop(name: str) -> LoopWatch:
    """The watch of the running loop (started at the first call; later calls share it)."""
    loop = asyncio.get_running_loop()
    watch = _watches.get(loop)
    if watch is None:
        watch = LoopWatch(loop, name, threshold=threshold_from_env())
        _watches[loop] = watch
        watch.start()
    return watch
