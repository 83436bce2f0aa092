"""Python's cyclic garbage collector held off during bulk work that only allocates.

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
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

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
