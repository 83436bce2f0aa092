"""Garbage-collector settings: for a long-running service process, and for bulk work.

A service allocates many short-lived objects per request (protobuf messages, events, dicts)
and keeps a large, stable heap built at start-up (modules, the application, caches). With
CPython's default thresholds (700, 10, 10) the young generation is collected every 700 net
allocations and every collection of an older generation walks the whole start-up heap: the
claims profile showed the collector at 19 % of the service's CPU (issue #18).

After start-up `after_start` moves everything alive into the permanent generation
(`gc.freeze()`, never scanned again) and raises the thresholds. Reference counting still frees
almost everything at once; the collector only finds cycles, and now does so less often.
`OON_GC_THRESHOLDS` (three integers, e.g. `50000,20,100`) overrides the thresholds;
`OON_GC_THRESHOLDS=default` keeps CPython's.

Bulk work: python's cyclic garbage collector held off during bulk work that only allocates.

Reading and posting a 10,000-claim 835 builds a few million small objects that all stay alive
until the import ends (segments, claim payments, events, aggregates). Each time the survivors
grow by a quarter the collector walks the whole heap again: measured, half of the parse's time
and a sixth of the posting's (docs/performance.md). None of it is garbage, so the walks find
nothing. `paused_gc()` disables the collector for the block and restores it after; reference
counting still frees everything acyclic at once, and cyclic garbage made meanwhile (by any
thread) is collected by the first collection after the block.

Process-wide (the collector is): holders are counted, so concurrent imports in several threads
keep it off until the last one leaves, and a collector that was already disabled stays so.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

log = logging.getLogger(__name__)

THRESHOLDS = (50_000, 20, 100)


def thresholds(env_value: str | None) -> tuple[int, int, int] | None:
    """The thresholds to set (None: keep the interpreter's)."""
    if env_value is None or not env_value.strip():
        return THRESHOLDS
    if env_value.strip() == "default":
        return None
    parts = [p.strip() for p in env_value.split(",")]
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"OON_GC_THRESHOLDS must be three positive integers, got {env_value!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


def after_start() -> None:
    """Freeze the start-up heap and set the service thresholds (call once, when serving)."""
    chosen = thresholds(os.environ.get("OON_GC_THRESHOLDS"))
    gc.collect()
    gc.freeze()
    if chosen is not None:
        gc.set_threshold(*chosen)
    log.info("gc: %d start-up objects frozen; thresholds %s", gc.get_freeze_count(),
             gc.get_threshold())


_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()


F = TypeVar("F", bound=Callable[..., Any])


def gc_paused(function: F) -> F:
    """`function` runs inside `paused_gc()`."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with paused_gc():
            return function(*args, **kwargs)

    return cast(F, wrapper)
